// Agent-local policy that narrows what any device may do: file roots (with paths resolved
// and symlinks followed before the check) and refused commands.

import { realpath } from 'node:fs/promises';
import { dirname, basename, isAbsolute, join, resolve, sep } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';

function within(path: string, root: string): boolean {
  return root === sep || path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** realpath of the deepest existing ancestor, with the missing tail appended. */
async function resolveExisting(path: string): Promise<string> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      const real = await realpath(current);
      return missing.length ? join(real, ...missing.reverse()) : real;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new FlotillaError('file-error', `${current}: ${code ?? String(error)}`);
      const parent = dirname(current);
      if (parent === current) return path;
      missing.push(basename(current));
      current = parent;
    }
  }
}

/**
 * Resolves `requested` and checks it lies inside one of `roots`, after following symlinks.
 * For a write, the containing directory is checked (the file itself is replaced by rename,
 * so a symlink at the target is replaced, not followed).
 */
export async function confinePath(requested: string, roots: readonly string[], mode: 'read' | 'write'): Promise<string> {
  if (!isAbsolute(requested)) throw new FlotillaError('path-refused', `"${requested}" is not an absolute path`);
  if (requested.includes('\0')) throw new FlotillaError('path-refused', 'path contains a NUL byte');
  const lexical = resolve(requested);
  const realRoots = await Promise.all(roots.map((root) => resolveExisting(resolve(root))));
  if (!realRoots.some((root) => within(lexical, root) || roots.some((r) => within(lexical, resolve(r))))) {
    throw new FlotillaError('path-refused', `${lexical} is outside ${roots.join(', ')}`);
  }
  const real = mode === 'read' ? await resolveExisting(lexical) : join(await resolveExisting(dirname(lexical)), basename(lexical));
  if (!realRoots.some((root) => within(real, root))) {
    throw new FlotillaError('path-refused', `${lexical} resolves to ${real}, outside ${roots.join(', ')}`);
  }
  return real;
}

/** Throws policy-refused if `command` matches a refused pattern. */
export function checkCommand(command: string, refused: readonly string[]): void {
  for (const pattern of refused) {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch {
      throw new FlotillaError('bad-config', `refuseCommands pattern ${JSON.stringify(pattern)} is not a regular expression`);
    }
    if (re.test(command)) throw new FlotillaError('policy-refused', `command matches refused pattern ${JSON.stringify(pattern)}`);
  }
}
