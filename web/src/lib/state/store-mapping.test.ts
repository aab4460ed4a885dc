// The rules between the PWA's records and the fleet store's documents.

import { describe, expect, it } from 'vitest';
import type { HostRecord, TokenRecord } from '../../../../shared/controller/hosts.ts';
import type { HostCert } from '../../../../shared/identity/certs.ts';
import type { QueueEntry } from '../../../../shared/store/fleet-sync.ts';
import { parsePayload } from '../../../../shared/store/documents.ts';
import type { TaskRecord } from '../db/schema.ts';
import { buildRows, countRows } from './host-rows.ts';
import { historyFromTask, hostFromDoc, mergeHistory, tokenDiffers, tokenFromDoc, tokenToDoc } from './store-mapping.ts';

const A = 'a'.repeat(52);
const B = 'b'.repeat(52);
const ME = 'm'.repeat(52);
const OTHER = 'o'.repeat(52);

const host = (id: string, status: HostRecord['status']): HostRecord => ({
  id,
  status,
  signPub: 'sp',
  encPub: 'ep',
  facts: undefined,
  firstSeen: 1,
  lastSeen: 1,
});

const task = (id: string, hosts: Partial<TaskRecord['hosts'][number]>[], extra: Partial<TaskRecord> = {}): TaskRecord => ({
  id,
  selector: '*',
  kind: 'exec',
  command: 'uname -a',
  device: 'laptop',
  startedAt: 1000,
  endedAt: 2000,
  hosts: hosts.map((h) => ({
    hostId: A,
    label: 'web-1',
    status: 'ok',
    exitCode: 0,
    stdout: 'Linux\n',
    stderr: '',
    truncated: false,
    error: undefined,
    startedAt: 1000,
    durationMs: 5,
    ...h,
  })),
  ...extra,
});

describe('host decisions from the store', () => {
  it('makes a host rejected on another device rejected here, not pending, and not counted as pending', () => {
    const pending = host(A, 'pending');
    const next = hostFromDoc({ type: 'host', host: A, decision: 'rejected', at: 5 }, pending);
    expect(next?.status).toBe('rejected');
    const counts = countRows(buildRows([next!], new Map([[A, { id: A, online: true, lastSeen: 9 }]])));
    expect(counts.pending).toBe(0);
  });

  it('drops a removed host, from the records and from presence-only rows', () => {
    expect(hostFromDoc({ type: 'host', host: A, decision: 'removed', at: 5 }, host(A, 'accepted'))).toBeUndefined();
    const rows = buildRows(
      [host(B, 'accepted')],
      new Map([
        [A, { id: A, online: true, lastSeen: 9 }],
        [B, { id: B, online: true, lastSeen: 9 }],
      ]),
      new Set([A]),
    );
    expect(rows.map((r) => r.id)).toEqual([B]);
  });

  it('makes a record from the certificate for a host accepted on another device', () => {
    const cert = { body: { signPub: 'S', encPub: 'E' } } as unknown as HostCert;
    expect(hostFromDoc({ type: 'host', host: A, decision: 'accepted', cert, at: 5 }, undefined)).toMatchObject({
      id: A,
      status: 'accepted',
      signPub: 'S',
      encPub: 'E',
    });
    const same = host(A, 'accepted');
    expect(hostFromDoc({ type: 'host', host: A, decision: 'accepted', cert, at: 5 }, same)).toBe(same);
  });
});

describe('tokens', () => {
  it('round-trips a token through its document, and notices a use or a revocation', () => {
    const record: TokenRecord = { tid: 't1', secret: 's'.repeat(32), exp: Date.now() + 60_000, createdAt: 7, revoked: false, usedBy: [], maxUses: 2 };
    const doc = tokenToDoc(record, 'http://signal.test/', A, 9);
    expect(parsePayload(doc)).toEqual(doc);
    expect(tokenFromDoc(doc, undefined)).toMatchObject({ tid: 't1', secret: record.secret, maxUses: 2, usedBy: [], revoked: false });
    expect(tokenDiffers(doc, record)).toBe(false);
    expect(tokenDiffers(doc, { ...record, usedBy: [B] })).toBe(true);
    expect(tokenDiffers(doc, { ...record, revoked: true })).toBe(true);
    expect(tokenFromDoc({ ...doc, token: 'flt1.garbage' }, undefined)).toBeUndefined();
  });
});

describe('history from every device', () => {
  it('writes a history document the store accepts, and shows another device its task marked with the device', () => {
    const mine = task('t-1', [{}]);
    const doc = historyFromTask(mine, 3000);
    expect(parsePayload(doc)).toEqual(doc);
    const merged = mergeHistory([], [{ ...doc, deviceId: OTHER }], [], ME, new Map());
    expect(merged).toHaveLength(1);
    expect(merged[0]).toMatchObject({ id: 't-1', from: 'laptop', command: 'uname -a', kind: 'exec' });
    expect(merged[0]!.hosts[0]).toMatchObject({ hostId: A, status: 'ok', exitCode: 0 });
    // This device's own documents are not shown twice.
    expect(mergeHistory([mine], [{ ...doc, deviceId: ME }], [], ME, new Map())).toEqual([mine]);
  });

  it('fills a queued host with the result the host left, and lists a task queued elsewhere', () => {
    const queuedHere = task('t-2', [{}, { hostId: B, label: 'db-1', status: 'queued', exitCode: undefined, stdout: '', durationMs: undefined }], {
      deadline: 99_000,
    });
    const entry: QueueEntry = {
      task: 't-2',
      summary: 'uname -a',
      selector: '*',
      deadline: 99_000,
      window: false,
      by: 'laptop',
      at: 1000,
      hosts: [
        {
          host: B,
          state: 'ok',
          result: {
            type: 'result',
            task: 't-2',
            host: B,
            hostname: 'db-1',
            status: 'ok',
            exit: 0,
            output: 'Linux db-1\n',
            startedAt: 5000,
            endedAt: 5100,
            at: 5100,
          },
        },
      ],
    };
    const [merged] = mergeHistory([queuedHere], [], [entry], ME, new Map());
    expect(merged!.hosts.map((h) => [h.hostId, h.status, h.stdout])).toEqual([
      [A, 'ok', 'Linux\n'],
      [B, 'ok', 'Linux db-1\n'],
    ]);
    expect(merged!.endedAt).toBe(5100);
    // Still waiting: shown queued with its deadline.
    const waiting = { ...entry, task: 't-3', by: 'cli-laptop', hosts: [{ host: B, state: 'queued' }] };
    const [fromCli] = mergeHistory([], [], [waiting], ME, new Map([[B, 'db-1']]));
    expect(fromCli).toMatchObject({ id: 't-3', from: 'cli-laptop', deadline: 99_000, endedAt: undefined });
    expect(fromCli!.hosts).toMatchObject([{ hostId: B, label: 'db-1', status: 'queued' }]);
  });
});
