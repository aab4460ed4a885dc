// The CLI's fleet state: documents from another device folded into a real home (hosts.json,
// tokens.json, selectors), the --queue options, the queued report, queue and history views.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDevice, createFleet, createIdentity, type DeviceIdentity } from '../../shared/identity/fleet.ts';
import { issueHostCert } from '../../shared/identity/certs.ts';
import { createJoinToken, encodeJoinToken } from '../../shared/identity/tokens.ts';
import { FleetSync, type QueueEntry, type SyncSnapshot } from '../../shared/store/fleet-sync.ts';
import { createTestStore, type TestStore } from '../../shared/store/test-store.ts';
import type { HistoryDoc, TaskDoc } from '../../shared/store/documents.ts';
import { openHome, saveDevice } from './home.ts';
import { loadFleetState, publishTokenUses, stateFile, syncFleetState, tokenRecordOf } from './fleet-state.ts';
import { mergeSelectors } from './fleet-selectors.ts';
import { queueOptions, QUEUED, historyHosts } from './run-store.ts';
import { printReport } from './report.ts';
import { findTask, queueRows } from './commands/queue.ts';
import { filterHistory, historyFilter, mergeHistory, statusSummary } from './commands/history.ts';
import type { CommandContext } from './commands/context.ts';
import { historyStatus } from './main.ts';

const SIGNAL = 'http://store.test/';
let dir: string;
let laptop: DeviceIdentity;
let phone: DeviceIdentity;

function phoneSync(store: TestStore): FleetSync {
  let kept: SyncSnapshot | undefined;
  return new FleetSync({
    signal: SIGNAL,
    member: { ...phone, kind: 'device', name: 'phone', role: 'admin' },
    cache: { load: async () => kept && structuredClone(kept), save: async (s) => void (kept = structuredClone(s)) },
    revocation: () => undefined,
    http: store.http,
  });
}

function context(flags: CommandContext['flags'] = {}): CommandContext & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    args: [],
    rest: [],
    flags,
    cwd: '.',
    fleetOptions: {},
    out: (t) => stdout.push(t),
    err: (t) => stderr.push(t),
    write: (t) => stdout.push(t),
    stdout,
    stderr,
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-fleet-state-'));
  laptop = await createFleet('laptop', true);
  phone = await addDevice(laptop, 'phone', 'admin');
  await saveDevice(dir, laptop, SIGNAL);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the home and the fleet state', () => {
  it('folds a phone’s decisions, tokens and selectors into the laptop’s home, and forgets a removed host', async () => {
    const store = createTestStore();
    const home = await openHome(dir);
    const state = await loadFleetState(home, { http: store.http });
    expect(await syncFleetState(state, () => undefined)).toBe(true); // creates the keyrings
    const mode = (await stat(stateFile(dir))).mode & 0o777;
    expect(mode).toBe(0o600);

    const p = phoneSync(store);
    await p.load();
    await p.sync(); // announces the phone
    await syncFleetState(state, () => undefined); // the laptop adds it to the keyrings
    await p.sync();

    const [stray, web] = await Promise.all([createIdentity(true), createIdentity(true)]);
    const cert = await issueHostCert(laptop.fleetKeys!.privateKey, laptop.fleetId, web.pub, phone.id);
    const token = createJoinToken(SIGNAL, laptop.fleetId, 60_000);
    expect(await p.write({ type: 'host', host: stray.id, decision: 'rejected', at: 1000 }, stray.id)).toBe(true);
    expect(await p.write({ type: 'host', host: web.id, decision: 'accepted', cert, name: 'web-1', at: 1000 }, web.id)).toBe(true);
    expect(
      await p.write({ type: 'token', tid: token.tid, token: encodeJoinToken(token), uses: 2, used: [], revoked: false, exp: token.exp, at: 1000 }, token.tid),
    ).toBe(true);
    expect(await p.write({ type: 'selector', name: 'webs', expr: 'tag:role=web', deleted: false, at: 1000 }, 'webs')).toBe(true);

    await syncFleetState(state, () => undefined);
    const hosts = new Map((await home.hosts.all()).map((h) => [h.id, h]));
    expect(hosts.get(stray.id)?.status).toBe('rejected');
    expect(hosts.get(web.id)).toMatchObject({ status: 'accepted', encPub: web.pub.encPub, signPub: web.pub.signPub });
    expect(await home.tokens.get(token.tid)).toMatchObject({ secret: token.secret, maxUses: 2, revoked: false });
    expect(await home.selectors.lookup()).toEqual(new Map([['webs', 'tag:role=web']]));

    expect(await p.write({ type: 'host', host: web.id, decision: 'removed', at: 2000 }, web.id)).toBe(true);
    expect(
      await p.write(
        { type: 'token', tid: token.tid, token: encodeJoinToken(token), uses: 2, used: [web.id], revoked: true, exp: token.exp, at: 2000 },
        token.tid,
      ),
    ).toBe(true);
    await syncFleetState(state, () => undefined);
    expect((await home.hosts.all()).map((h) => h.id)).not.toContain(web.id);
    expect(await home.tokens.get(token.tid)).toMatchObject({ revoked: true, usedBy: [web.id] });

    // A host this laptop enrolled with the token: the phone learns the use.
    await home.tokens.put({ ...(await home.tokens.get(token.tid))!, usedBy: [web.id, stray.id] });
    await publishTokenUses(state, () => undefined);
    await p.sync();
    expect(p.tokens().find((t) => t.tid === token.tid)?.used).toEqual([web.id, stray.id]);
  });

  it('goes on from the cache with one line when the store cannot be reached', async () => {
    const home = await openHome(dir);
    const refused = async () => {
      throw new Error('connect ECONNREFUSED');
    };
    const state = await loadFleetState(home, { http: refused });
    const lines: string[] = [];
    expect(await syncFleetState(state, (l) => lines.push(l))).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fleet state: not synced with the store at http:\/\/store\.test\/ \(.*ECONNREFUSED\); going on from the cache in /);
    expect(state.sync.selectors().map((s) => s.name)).toEqual(['webs']); // the cache
  });
});

describe('selectors from two places', () => {
  it('takes the newer of the local entry and the document, a newer deletion removes it', () => {
    const local = [
      { name: 'a', selector: 'web-*', savedAt: 10 },
      { name: 'b', selector: 'db-*', savedAt: 10 },
      { name: 'c', selector: 'x', savedAt: 50 },
    ];
    const docs = [
      { type: 'selector' as const, name: 'a', expr: 'web-[1:3]', deleted: false, at: 20 },
      { type: 'selector' as const, name: 'b', expr: '', deleted: true, at: 20 },
      { type: 'selector' as const, name: 'c', expr: '', deleted: true, at: 20 },
      { type: 'selector' as const, name: 'd', expr: 'os:linux', deleted: false, at: 5 },
    ];
    expect(mergeSelectors(local, docs).map((s) => [s.name, s.selector])).toEqual([
      ['a', 'web-[1:3]'],
      ['c', 'x'],
      ['d', 'os:linux'],
    ]);
  });

  it('decodes a token document for tokens.json, and skips one that does not decode', () => {
    const token = createJoinToken(SIGNAL, 'f'.repeat(52), 1000, 0);
    expect(tokenRecordOf({ type: 'token', tid: token.tid, token: encodeJoinToken(token), uses: 1, used: [], revoked: false, exp: 1000, at: 5 })).toEqual({
      tid: token.tid,
      secret: token.secret,
      exp: 1000,
      createdAt: 5,
      revoked: false,
      usedBy: [],
      maxUses: 1,
    });
    expect(tokenRecordOf({ type: 'token', tid: 'x', token: 'flt1.garbage', uses: 1, used: [], revoked: false, exp: 1, at: 1 })).toBeUndefined();
  });
});

describe('--queue, --deadline, --window', () => {
  it('parses them, with one sentence for each mistake', () => {
    expect(queueOptions({ flags: {} })).toBeUndefined();
    expect(queueOptions({ flags: { queue: true } })).toEqual({ forMs: 86_400_000, window: false });
    expect(queueOptions({ flags: { queue: true, deadline: '2h' } })).toEqual({ forMs: 7_200_000, window: false });
    expect(queueOptions({ flags: { window: '7d' } })).toEqual({ forMs: 7 * 86_400_000, window: true });
    expect(() => queueOptions({ flags: { deadline: '2h' } })).toThrow(/--deadline goes with --queue/);
    expect(() => queueOptions({ flags: { queue: true, deadline: '2h', window: '7d' } })).toThrow(/give one/);
    expect(() => queueOptions({ flags: { queue: true, deadline: '0s' } })).toThrow(/more than 0 and at most 400d/);
    expect(() => queueOptions({ flags: { window: '401d' } })).toThrow(/at most 400d/);
    expect(() => queueOptions({ flags: { queue: true, deadline: 'soon' } })).toThrow(/is not a duration/);
  });

  it('reports queued hosts with their deadline and exits 0 when every host is ok or queued', () => {
    const names = new Map([
      ['a'.repeat(52), 'web-1'],
      ['b'.repeat(52), 'db-1'],
    ]);
    const results = [
      { hostId: 'a'.repeat(52), status: 'ok' as const, exitCode: 0, durationMs: 12 },
      { hostId: 'b'.repeat(52), status: QUEUED, durationMs: 0 },
    ];
    const queued = new Map([['b'.repeat(52), 1_800_000_000_000]]);
    const json = context({ json: true });
    expect(printReport(json, { task: 't1', selector: '*', command: 'uname', results, names, queued })).toBe(0);
    const out = JSON.parse(json.stdout[0]!) as { ok: number; queued: number; results: { status: string; deadline?: number }[] };
    expect(out).toMatchObject({ ok: 1, queued: 1 });
    expect(out.results[1]).toMatchObject({ status: 'queued', deadline: 1_800_000_000_000 });
    const text = context();
    expect(printReport(text, { task: 't1', selector: '*', results, names, queued })).toBe(0);
    expect(text.stdout[0]).toContain('until 2027-01-15T08:00:00.000Z');
    expect(text.stderr[0]).toBe('1/2 ok · 1 queued · task t1');
    // A host that is merely unreachable (not queued) still fails the run.
    const failed = [results[0]!, { hostId: 'b'.repeat(52), status: 'unreachable' as const, durationMs: 0 }];
    expect(printReport(context(), { task: 't1', selector: '*', results: failed, names })).toBe(1);
  });
});

describe('queue and history views', () => {
  const host = 'h'.repeat(52);
  const other = 'o'.repeat(52);
  const entry: QueueEntry = {
    task: 'tq-1',
    summary: 'uname -a',
    selector: 'tag:role=db',
    deadline: 2000,
    window: false,
    by: 'laptop',
    at: 100,
    hosts: [
      {
        host,
        state: 'ok',
        result: { type: 'result', task: 'tq-1', host, hostname: 'db-1', status: 'ok', exit: 0, output: 'Linux\n', startedAt: 500, endedAt: 700, at: 700 },
      },
      { host: other, state: 'queued' },
    ],
  };

  it('lists each host of a queued task, and a window nobody answered as one row', () => {
    const rows = queueRows([entry, { ...entry, task: 'tq-2', window: true, hosts: [] }], new Map([[other, 'db-2']]), 1000).map((r) =>
      r.map((c) => c.replace(/\x1b\[[0-9;]*m/g, '')),
    );
    expect(rows).toEqual([
      ['tq-1', 'db-1', 'ok', '0', '1970-01-01T00:00:02.000Z', 'uname -a', 'laptop'],
      ['tq-1', 'db-2', 'queued', '-', '1970-01-01T00:00:02.000Z', 'uname -a', 'laptop'],
      ['tq-2', 'window tag:role=db', 'queued', '-', '1970-01-01T00:00:02.000Z', 'uname -a', 'laptop'],
    ]);
    expect(findTask([entry], 'tq-1')).toBe('tq-1');
    expect(() => findTask([entry, { task: 'tq-2' }], 'tq')).toThrow(/several tasks/);
    expect(() => findTask([entry], 'nope')).toThrow(/no queued task "nope"/);
  });

  it('merges history documents with queued results, filters and limits them, newest first', () => {
    const live: HistoryDoc & { deviceId: string } = {
      type: 'history',
      task: 'tl-1',
      command: 'run',
      summary: 'echo hi',
      selector: '*',
      deviceName: 'phone',
      deviceId: 'p'.repeat(52),
      startedAt: 300,
      endedAt: 310,
      results: historyHosts([{ hostId: host, status: 'failed', exitCode: 2, durationMs: 10 }], new Map([[host, 'db-1']])),
      at: 310,
    };
    const queuedDoc: HistoryDoc & { deviceId: string } = {
      ...live,
      task: 'tq-1',
      deviceName: 'laptop',
      startedAt: 100,
      results: [
        { host, hostname: 'db-1', status: 'queued' },
        { host: other, hostname: 'db-2', status: 'queued' },
      ],
    };
    const task: TaskDoc & { deviceId: string } = {
      type: 'task',
      task: 'tq-1',
      request: { type: 'exec' },
      summary: 'uname -a',
      selector: 'tag:role=db',
      host,
      deadline: 2000,
      window: false,
      cancelled: false,
      deviceName: 'laptop',
      at: 100,
      deviceId: 'l'.repeat(52),
    };
    const merged = mergeHistory([queuedDoc, live], [entry], [task]);
    expect(merged.map((e) => [e.task, e.device, statusSummary(e.results)])).toEqual([
      ['tl-1', 'phone', '1 failed'],
      ['tq-1', 'laptop', '1 ok, 1 queued'],
    ]);
    expect(merged[1]!.results[0]).toMatchObject({ host, status: 'ok', exit: 0, durationMs: 200 });
    // A queued task without a history document still shows.
    expect(mergeHistory([], [entry], [task]).map((e) => [e.task, e.command, e.device])).toEqual([['tq-1', 'run', 'laptop']]);

    expect(filterHistory(merged, { status: 'ok', limit: 10 }).map((e) => e.task)).toEqual(['tq-1']);
    expect(filterHistory(merged, { host: 'db-2', limit: 10 }).map((e) => e.task)).toEqual(['tq-1']);
    expect(filterHistory(merged, { since: 200, limit: 10 }).map((e) => e.task)).toEqual(['tl-1']);
    expect(filterHistory(merged, { limit: 1 }).map((e) => e.task)).toEqual(['tl-1']);
    expect(historyFilter({ since: '7d', limit: '5', 'history-status': 'failed', host: 'web-1' }, 7 * 86_400_000 + 1)).toEqual({
      since: 1,
      limit: 5,
      status: 'failed',
      host: 'web-1',
    });
    expect(() => historyFilter({ limit: '0' })).toThrow(/--limit 0 must be a positive whole number/);
    // `--status S` belongs to history only (`connect --status` is a switch).
    expect(historyStatus(['history', '--status', 'ok', '--status=failed'])).toEqual(['history', '--history-status', 'ok', '--history-status=failed']);
    expect(historyStatus(['connect', '--status'])).toEqual(['connect', '--status']);
    expect(() => historyStatus(['history', '--status'])).toThrow(/--status needs a status/);
  });
});
