// The store's decoders under fuzzing: stored records, envelopes and payloads from a hostile
// server or a hostile member only ever give a FlotillaError, never another exception or a hang.

import { beforeAll, describe, expect, it } from 'vitest';
import { createFleet, type DeviceIdentity } from '../identity/fleet.ts';
import { fromBase64, fromUtf8, toBase64, utf8 } from '../wire/encoding.ts';
import { FlotillaError } from '../wire/errors.ts';
import { decodeBody, openPayload, sealRecord, verifyRecord, type StoredRecord } from './envelope.ts';
import { parsePayload } from './documents.ts';
import { parseStoredRecord } from './client.ts';

let seed = 0x5eed13;
const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
const values = [null, true, 0, -1, 1.5, 2 ** 53, '', 'x', 'a'.repeat(52), 'a'.repeat(70_000), [], {}, ['*'], ['a'.repeat(52)], { body: {}, sig: 'x' }];
const keys = [
  'type',
  'host',
  'decision',
  'cert',
  'tid',
  'token',
  'uses',
  'used',
  'task',
  'request',
  'deadline',
  'results',
  'output',
  'rid',
  'kind',
  'version',
  'to',
  'body',
  'seq',
  'at',
  '__proto__',
  'command',
  'target',
  'schedule',
  'params',
  'policy',
  'runs',
  'job',
  'installed',
];
const types = ['host', 'token', 'selector', 'device', 'task', 'result', 'history', 'job', 'jobruns', 'keyring', 'x'];

function randomObject(depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = { type: pick(types) };
  const n = Math.floor(rand() * 10);
  for (let i = 0; i < n; i++) o[pick(keys)] = depth < 2 && rand() < 0.2 ? randomObject(depth + 1) : pick(values);
  return o;
}

function onlyFlotillaErrors(attempt: () => unknown, what: string): void {
  try {
    attempt();
  } catch (error) {
    if (!(error instanceof FlotillaError)) throw new Error(`${what} threw ${String(error)}`);
  }
}

let admin: DeviceIdentity;
let record: StoredRecord;

beforeAll(async () => {
  admin = await createFleet('laptop', true);
  record = (
    await sealRecord(
      { keys: admin.keys, cert: admin.cert },
      {
        fleet: admin.fleetId,
        rid: 'dh.fuzz',
        kind: 'doc',
        version: 3,
        to: ['*'],
        payload: { type: 'selector', name: 'web', expr: 'web-*', deleted: false, at: 1 },
        recipients: { direct: [{ id: admin.id, encPub: admin.pub.encPub }] },
      },
    )
  ).record;
});

describe('store decoders under fuzzing', () => {
  it('parsePayload, parseStoredRecord and decodeBody give only FlotillaError on random input', () => {
    for (let i = 0; i < 1000; i++) {
      const raw = randomObject();
      onlyFlotillaErrors(() => parsePayload(raw), `parsePayload(${JSON.stringify(raw).slice(0, 120)})`);
      onlyFlotillaErrors(() => parseStoredRecord({ ...raw, rid: pick(['x', 'dh.a', '', '../x']), body: pick(values) }), 'parseStoredRecord');
      onlyFlotillaErrors(() => decodeBody(toBase64(utf8(JSON.stringify({ ...raw, v: 1 })))), 'decodeBody');
    }
  });

  it('a valid job or jobruns payload with one field replaced gives a payload or a FlotillaError, never another throw', () => {
    const job = {
      type: 'job',
      name: 'backup',
      command: 'tar czf /tmp/b.tgz {dir}',
      target: 'tag:role=db',
      schedule: '0 */5 * * * *',
      params: [{ name: 'dir', type: 'string', required: true, pattern: '/[a-z/]+' }],
      policy: { timeoutSec: 60, overlap: 'skip', splaySec: 0, catchUpSec: 0, retries: 0, retryBackoffSec: 10, keepRuns: 100, keepDays: 30 },
      enabled: true,
      deleted: false,
      at: 1,
    };
    const run = { id: 'backup.1.0', job: 'backup', planned: 1, status: 'ok', stdout: '', stderr: '', attempt: 0, trigger: 'schedule' };
    const runs = {
      type: 'jobruns',
      job: 'backup',
      host: 'a'.repeat(52),
      hostname: 'db-1',
      jobAt: 1,
      installed: true,
      total: 1,
      failures: 0,
      runs: [run],
      at: 2,
    };
    expect(parsePayload(job)).toMatchObject({ type: 'job', name: 'backup' });
    expect(parsePayload(runs)).toMatchObject({ type: 'jobruns', runs: [{ status: 'ok' }] });
    for (let i = 0; i < 600; i++) {
      const base: Record<string, unknown> = rand() < 0.5 ? { ...job } : { ...runs };
      const key = pick([...Object.keys(base), ...keys]);
      const deep = rand() < 0.3 && (key === 'policy' || key === 'runs' || key === 'params');
      base[key] = deep
        ? key === 'runs'
          ? [{ ...run, [pick(Object.keys(run))]: pick(values) }]
          : key === 'params'
            ? [{ ...job.params[0], [pick(['name', 'type', 'pattern', 'default', 'values'])]: pick(values) }]
            : { ...job.policy, [pick(Object.keys(job.policy))]: pick(values) }
        : pick(values);
      onlyFlotillaErrors(() => parsePayload(base), `parsePayload(${JSON.stringify(base).slice(0, 160)})`);
    }
  });

  it('a mutated envelope is refused as bad-record, whichever byte or field changed', async () => {
    const envelope = JSON.parse(fromUtf8(fromBase64(record.body)!)) as Record<string, unknown>;
    const fields = Object.keys(envelope);
    let refused = 0;
    for (let i = 0; i < 150; i++) {
      let body: string;
      if (rand() < 0.5) {
        const changed = { ...envelope, [pick(fields)]: pick(values) };
        body = toBase64(utf8(JSON.stringify(changed)));
      } else {
        const bytes = fromBase64(record.body)!;
        const flips = 1 + Math.floor(rand() * 3);
        for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
        body = toBase64(bytes);
      }
      try {
        const { envelope: opened } = await verifyRecord({ ...record, body }, { fleetId: admin.fleetId, fleetPub: admin.fleetPub });
        // A flip inside a field the JSON parser normalises away (whitespace) may leave it intact: then it must still open.
        await openPayload(opened, { id: admin.id, encPriv: admin.keys.enc.privateKey });
      } catch (error) {
        expect(error).toBeInstanceOf(FlotillaError);
        expect((error as FlotillaError).code).toBe('bad-record');
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(140);
  });
});
