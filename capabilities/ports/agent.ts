// ports: reads the kernel's socket tables and finds each listening socket's process through
// /proc/<pid>/fd. Cheap (a few ms on a host with a few hundred processes); no library needed.
// An agent that is not root sees only its own user's processes: other sockets come without a pid.

import { readdir, readFile, readlink } from 'node:fs/promises';
import type { Handler } from '../../agent/src/task-context.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { parseProcNet, PROTOCOLS, socketInode, type ListeningSocket } from './proc-net.ts';
import { MAX_SOCKETS, type PortEntry, type spec } from './spec.ts';

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    // A kernel without IPv6 has no tcp6/udp6.
    return undefined;
  }
}

/** Socket inode → the first process (lowest pid) holding it, among the inodes wanted. */
async function owners(wanted: ReadonlySet<number>, signal: AbortSignal): Promise<Map<number, { pid: number; program: string }>> {
  const found = new Map<number, { pid: number; program: string }>();
  const pids = (await readdir('/proc'))
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .sort((a, b) => a - b);
  for (const pid of pids) {
    if (signal.aborted || found.size === wanted.size) break;
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    let program: string | undefined;
    for (const fd of fds) {
      const inode = socketInode(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''));
      if (inode === undefined || !wanted.has(inode) || found.has(inode)) continue;
      program ??= ((await readOptional(`/proc/${pid}/comm`)) ?? '').trim();
      found.set(inode, { pid, program });
    }
  }
  return found;
}

export const handler: Handler<typeof spec> = async (_request, ctx) => {
  const tables = await Promise.all(PROTOCOLS.map(async (p) => ({ p, text: await readOptional(`/proc/net/${p}`) })));
  if (tables.every((t) => t.text === undefined)) throw new FlotillaError('unsupported', 'this host has no /proc/net socket tables (ports needs Linux)');
  const sockets: ListeningSocket[] = tables.flatMap(({ p, text }) => (text === undefined ? [] : parseProcNet(text, p)));
  const byOwner = await owners(new Set(sockets.map((s) => s.inode)), ctx.signal);
  const entries: PortEntry[] = sockets.map((s) => {
    const owner = byOwner.get(s.inode);
    return {
      protocol: s.protocol,
      address: s.address,
      port: s.port,
      pid: owner?.pid ?? null,
      program: owner?.program.slice(0, 64) ?? null,
      uid: s.uid,
      inode: s.inode,
    };
  });
  entries.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol) || a.address.localeCompare(b.address));
  return { status: 'ok', data: { sockets: entries.slice(0, MAX_SOCKETS), ...(entries.length > MAX_SOCKETS ? { truncated: true } : {}) } };
};
