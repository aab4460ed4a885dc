// Environment text as the kernel and /etc/environment hold it, and which values to mask.
// Isomorphic and pure: the spec, the agent and the tests share it.

/** What a masked value shows instead (the same whatever its length, so the length does not leak). */
export const MASK = '••••••';

/** Longest value sent; longer ones are cut and marked. */
export const MAX_VALUE = 16 * 1024;

/** One variable; `value` is MASK when `secret` and not asked for. */
export interface Variable {
  name: string;
  value: string;
  secret: boolean;
  truncated?: boolean;
}

/**
 * Secrets by name: *TOKEN*, *SECRET*, *PASSWORD*, *KEY* (and PASSWD), in any case; and by value:
 * a URL with a password in it (DATABASE_URL=postgres://app:hunter2@db/app names nothing secret).
 */
export function looksSecret(name: string, value = ''): boolean {
  return /TOKEN|SECRET|PASSWORD|PASSWD|KEY/i.test(name) || /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i.test(value);
}

/** `name=value` pairs as variables, secrets masked unless `showSecrets`, values cut at MAX_VALUE. */
export function toVariables(pairs: readonly (readonly [string, string])[], showSecrets: boolean): Variable[] {
  return pairs.map(([name, raw]) => {
    const secret = looksSecret(name, raw);
    const value = secret && !showSecrets ? MASK : raw.slice(0, MAX_VALUE);
    return { name, value, secret, ...(value !== MASK && raw.length > MAX_VALUE ? { truncated: true } : {}) };
  });
}

/** /proc/<pid>/environ: NUL-separated NAME=value; an entry without `=` is kept with an empty value. */
export function parseEnviron(text: string): [string, string][] {
  return text
    .split('\0')
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const eq = entry.indexOf('=');
      return eq < 0 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
    });
}

/**
 * /etc/environment as pam_env reads it: NAME=value lines, an optional `export `, one level of
 * matching quotes stripped; comments and lines that are not assignments are skipped.
 */
export function parseEtcEnvironment(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/^export\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    out.push([m[1]!, value]);
  }
  return out;
}
