// flotilla push and flotilla fetch: files to and from many hosts, checksummed, with progress.

import { chmod, open, rename, rm, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { FlotillaError } from '../../../shared/errors.ts';
import { fetchFromHost, hashSource, newTaskId, pushToHost, type HostResult, type PushSource } from '../../../shared/operations.ts';
import { uniqueLabels } from '../../../shared/hosts.ts';
import { openHome } from '../home.ts';
import { openFleet, type Fleet } from '../fleet.ts';
import { createProgress, duration, statusColor, table } from '../output.ts';
import type { CommandContext } from './context.ts';
import { fetchFolders } from '../fetch-dirs.ts';
import '../../../agent/src/node-sha256.ts'; // native SHA-256 for file checksums

async function fileSource(path: string, modeText: string | undefined): Promise<PushSource & { close(): Promise<void> }> {
  const info = await stat(path).catch(() => {
    throw new FlotillaError('file-error', `cannot read ${path}`);
  });
  if (!info.isFile()) throw new FlotillaError('file-error', `${path} is not a regular file`);
  const handle = await open(path, 'r');
  const read = async (offset: number, length: number) => {
    const buffer = new Uint8Array(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  };
  const mode = modeText === undefined ? info.mode & 0o777 : parseInt(modeText, 8);
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new FlotillaError('usage', `--mode ${modeText} is not an octal mode: write it like --mode 0644`);
  return { size: info.size, mode, sha256: await hashSource(info.size, read), read, close: () => handle.close() };
}

function report(ctx: CommandContext, names: Map<string, string>, results: HostResult[], extra: (r: HostResult) => string): number {
  if (ctx.flags.json) {
    ctx.out(JSON.stringify(results.map((r) => ({ host: names.get(r.hostId), id: r.hostId, status: r.status, durationMs: r.durationMs, data: r.data ?? null, error: r.error ?? null }))));
  } else {
    ctx.out(table(['HOST', 'STATUS', 'TIME', 'DETAIL'], results.map((r) => [names.get(r.hostId) ?? r.hostId.slice(0, 8), statusColor(r.status), duration(r.durationMs), r.error ? `${r.error.code}${r.error.detail ? `: ${r.error.detail}` : ''}` : extra(r)])));
  }
  return results.every((r) => r.status === 'ok') ? 0 : 1;
}

async function targetsOf(fleet: Fleet, selector: string) {
  const targets = await fleet.resolve(selector);
  const names = uniqueLabels(targets.map((t) => t.record));
  const offline: HostResult[] = targets.filter((t) => !t.online).map((t) => ({ hostId: t.record.id, status: 'unreachable', durationMs: 0, error: { code: 'unreachable', detail: 'offline' } }));
  return { names, offline, online: targets.filter((t) => t.online).map((t) => t.record.id) };
}

function settledToResults(settled: { hostId: string; ok: boolean; value?: HostResult; error?: FlotillaError }[]): HostResult[] {
  return settled.map((s) => s.value ?? { hostId: s.hostId, status: 'failed', durationMs: 0, error: { code: s.error?.code ?? 'internal', detail: s.error?.message ?? '' } });
}

export async function pushCommand(ctx: CommandContext): Promise<number> {
  const [selector, local, remote] = ctx.args;
  if (!selector || !local || !remote) throw new FlotillaError('usage', 'flotilla push needs a selector, a local file and a remote path, as in: flotilla push \'web-*\' ./app.conf /etc/app/ [--mode 0644]');
  const source = await fileSource(resolve(ctx.cwd, local), ctx.flags.mode);
  const target = remote.endsWith('/') ? remote + basename(local) : remote;
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const { names, offline, online } = await targetsOf(fleet, selector);
    const task = ctx.flags.task ?? newTaskId();
    const sent = new Map<string, number>();
    const progress = createProgress(source.size * online.length, `push ${basename(local)} → ${online.length} host(s)`);
    const settled = await fleet.controller.fanOut(online, (id) =>
      pushToHost(fleet.controller, id, task, target, source, (bytes) => {
        sent.set(id, bytes);
        progress.update([...sent.values()].reduce((a, b) => a + b, 0));
      }, ctx.signal),
    );
    progress.done();
    const code = report(ctx, names, [...settledToResults(settled), ...offline], (r) => `${String(r.data?.['path'] ?? target)} ${String(r.data?.['sha256'] ?? '').slice(0, 12)}`);
    return ctx.signal?.aborted ? 130 : code;
  } finally {
    await source.close();
    await fleet.close();
  }
}

export async function fetchCommand(ctx: CommandContext): Promise<number> {
  const [selector, remote, localDir] = ctx.args;
  if (!selector || !remote || !localDir) throw new FlotillaError('usage', 'flotilla fetch needs a selector, a remote path and a local folder, as in: flotilla fetch \'web-*\' /etc/hostname ./fetched');
  const home = await openHome();
  const fleet = await openFleet(home, ctx.fleetOptions);
  try {
    const { names, offline, online } = await targetsOf(fleet, selector);
    const task = ctx.flags.task ?? newTaskId();
    const folders = fetchFolders(resolve(ctx.cwd, localDir));
    const settled = await fleet.controller.fanOut(online, async (id) => {
      const folder = await folders.hostFolder((names.get(id) ?? id).replace(/[^A-Za-z0-9._-]/g, '_'));
      const path = join(folder.dir, basename(remote));
      const handle = await open(path + '.part', 'w').catch(async (error: unknown) => {
        await folder.release(false);
        throw error;
      });
      let ok = false;
      try {
        const result = await fetchFromHost(fleet.controller, id, task, remote, async (offset, bytes) => {
          await handle.write(bytes, 0, bytes.length, offset);
        }, undefined, ctx.signal);
        await handle.close();
        if (result.status === 'ok') {
          await chmod(path + '.part', Number(result.data?.['mode'] ?? 0o644) & 0o777);
          await rename(path + '.part', path);
          ok = true;
          return { ...result, data: { ...result.data, local: path } };
        }
        return result;
      } finally {
        await handle.close().catch(() => undefined);
        await rm(path + '.part', { force: true });
        await folder.release(ok); // a failed fetch leaves no empty folder behind
      }
    });
    await folders.finish();
    const code = report(ctx, names, [...settledToResults(settled), ...offline], (r) => `${String(r.data?.['local'] ?? '')} (${String(r.data?.['size'] ?? '?')} bytes)`);
    return ctx.signal?.aborted ? 130 : code;
  } finally {
    await fleet.close();
  }
}
