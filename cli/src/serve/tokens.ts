// API tokens of `flotilla serve --api`: made by `flotilla api-token create`, shown once, kept only
// as a SHA-256 hash in the home's api-tokens.json (0600, written atomically) with their name,
// scope, dates and the webhook secret async invocations sign with. The server re-reads the file
// when it changes, so `api-token revoke` takes effect on the next request.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { isObj } from '../../../shared/wire/validate.ts';
import { readJson, writeJsonAtomic } from '../../../node/files.ts';

/** read: GET; invoke: also run and invoke; admin: also change jobs and tokens. Each includes the ones before it. */
export const SCOPES = ['read', 'invoke', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** What a token's text starts with. */
export const TOKEN_PREFIX = 'flt_';
/** A token's name. */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A token as the home keeps it (never the token itself). */
export interface TokenRecord {
  name: string;
  scope: Scope;
  /** Hex SHA-256 of the token's text. */
  hash: string;
  /** Key of the HMAC on webhook calls (`whsec_…`): receivers hold it too. */
  webhookSecret: string;
  createdAt: number;
  lastUsedAt?: number;
}

/** True when a token of scope `held` may do what `needed` allows. */
export function scopeAllows(held: Scope, needed: Scope): boolean {
  return SCOPES.indexOf(held) >= SCOPES.indexOf(needed);
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The file of a home's tokens. */
export function tokensFile(homeDir: string): string {
  return join(homeDir, 'api-tokens.json');
}

function parseRecord(raw: unknown): TokenRecord | undefined {
  if (!isObj(raw)) return undefined;
  const { name, scope, hash, webhookSecret, createdAt, lastUsedAt } = raw;
  if (typeof name !== 'string' || !SCOPES.includes(scope as Scope) || typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) return undefined;
  if (typeof webhookSecret !== 'string' || typeof createdAt !== 'number') return undefined;
  return { name, scope: scope as Scope, hash, webhookSecret, createdAt, ...(typeof lastUsedAt === 'number' ? { lastUsedAt } : {}) };
}

/** The home's token list: create, list, revoke, and check a presented token. */
export function createTokenStore(homeDir: string) {
  const path = tokensFile(homeDir);
  const usedPath = join(homeDir, 'api-token-uses.json');
  const lastUse = new Map<string, number>();
  let touching: Promise<void> = Promise.resolve();
  // Keyed on the inode too: every save is an atomic rename, so a new file is a new inode even within one mtime tick.
  let cache: { version: string; records: TokenRecord[] } | undefined;

  async function load(): Promise<TokenRecord[]> {
    const version = await stat(path).then(
      (s) => `${s.ino}:${s.mtimeMs}`,
      () => 'none',
    );
    if (cache && cache.version === version) return cache.records;
    const raw = await readJson(path, 'the API tokens');
    if (raw !== undefined && (!isObj(raw) || !Array.isArray(raw['tokens'])))
      throw new FlotillaError('bad-config', `${path} is not a token list: move it away and create the tokens again`);
    const records = raw === undefined ? [] : (raw['tokens'] as unknown[]).map(parseRecord).filter((r): r is TokenRecord => r !== undefined);
    cache = { version, records };
    return records;
  }

  async function save(records: TokenRecord[]): Promise<void> {
    await writeJsonAtomic(path, { tokens: records }, 0o600);
    cache = undefined;
  }

  return {
    path,
    /** The tokens, each with when it was last used (from the uses file). */
    async list(): Promise<TokenRecord[]> {
      const records = await load();
      const used = await readJson(usedPath, 'the API token uses').catch(() => undefined);
      const at = (name: string) => (isObj(used) && typeof used[name] === 'number' ? (used[name] as number) : undefined);
      return records.map((r) => {
        const lastUsedAt = at(r.name) ?? r.lastUsedAt;
        return lastUsedAt === undefined ? r : { ...r, lastUsedAt };
      });
    },
    /** Makes a token; the only time its text exists outside the caller's hands. */
    async create(scope: Scope, name?: string, now = Date.now()): Promise<{ token: string; record: TokenRecord }> {
      const records = await load();
      const chosen = name ?? `token-${records.length + 1}`;
      if (!TOKEN_NAME.test(chosen)) throw new FlotillaError('usage', `--name ${JSON.stringify(chosen)}: letters, digits, '.', '_' and '-', at most 64`);
      if (records.some((r) => r.name === chosen)) throw new FlotillaError('usage', `a token named ${chosen} exists; revoke it first or pick another --name`);
      const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
      const record: TokenRecord = {
        name: chosen,
        scope,
        hash: hashToken(token),
        webhookSecret: 'whsec_' + randomBytes(32).toString('base64url'),
        createdAt: now,
      };
      await save([...records, record]);
      return { token, record };
    },
    /** Removes a token by name; false when there is none. */
    async revoke(name: string): Promise<boolean> {
      const records = await load();
      const kept = records.filter((r) => r.name !== name);
      if (kept.length === records.length) return false;
      await save(kept);
      return true;
    },
    /** The record of a presented token, or undefined (compared hash to hash in constant time). */
    async check(token: string): Promise<TokenRecord | undefined> {
      if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
      const presented = Buffer.from(hashToken(token), 'hex');
      let found: TokenRecord | undefined;
      for (const r of await load()) if (timingSafeEqual(presented, Buffer.from(r.hash, 'hex'))) found = r;
      return found;
    },
    /**
     * Records a use, at most once a minute per token, in a file of its own (api-token-uses.json):
     * the token file is written only by create and revoke, so a use can never write back a token
     * revoked a moment before.
     */
    async touch(name: string, now = Date.now()): Promise<void> {
      const last = lastUse.get(name);
      if (last !== undefined && now - last < 60_000) return;
      lastUse.set(name, now);
      // One read-modify-write at a time in this process.
      const write = touching.then(async () => {
        const used = await readJson(usedPath, 'the API token uses').catch(() => undefined);
        const names = new Set((await load()).map((r) => r.name));
        const kept = Object.fromEntries(Object.entries(isObj(used) ? used : {}).filter(([k, v]) => names.has(k) && typeof v === 'number'));
        await writeJsonAtomic(usedPath, { ...kept, [name]: now }, 0o600);
      });
      touching = write.catch(() => undefined);
      return write;
    },
  };
}

export type TokenStore = ReturnType<typeof createTokenStore>;
