// The engine with the documents a mailbox would hand it and samples pushed by the test (the store
// path and the sampler run for real in e2e/integration/alerts.test.ts). A local HTTP receiver
// stands for the webhook; nothing is faked on the notification path.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AlertRuleDoc, ChannelDoc, SilenceDoc } from '../../../shared/alerts/documents.ts';
import type { RevocationList } from '../../../shared/identity/certs.ts';
import type { Sample } from '../../../capabilities/metrics/spec.ts';
import type { KeptDoc } from '../mailbox.ts';
import { startAlerts } from './engine.ts';

const HOST = 'h'.repeat(52);
const ADMIN = { id: 'a'.repeat(52), role: 'admin', name: 'laptop' };
let server: Server;
let url: string;
const posted: { event: string; rule: string }[] = [];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-alerts-engine-'));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posted.push(JSON.parse(body) as { event: string; rule: string });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

function rule(name: string, extra: Partial<AlertRuleDoc> = {}): AlertRuleDoc {
  return {
    type: 'alert',
    name,
    target: '*',
    metric: 'cpu',
    op: '>',
    threshold: 80,
    forSec: 0,
    severity: 'warning',
    labels: {},
    repeatSec: 0,
    channels: ['hook'],
    enabled: true,
    deleted: false,
    at: 1,
    ...extra,
  };
}

function kept<T extends AlertRuleDoc | ChannelDoc | SilenceDoc>(payload: T, signer = ADMIN): KeptDoc<T> {
  return { rid: `r.${'name' in payload ? payload.name : payload.id}`, version: 1, payload, signer };
}

/** An engine over a state directory with the given documents; `push` feeds it a sample. */
async function engine(stateDir: string, docs: KeptDoc[], revocation?: RevocationList) {
  let listener: ((s: Sample) => void) | undefined;
  let subscriptions = 0;
  const state = { dir: stateDir, revocation };
  const logs: string[] = [];
  const alerts = await startAlerts({
    mailbox: {
      documents: (type) => docs.filter((d) => d.payload.type === type) as never,
      self: async () => ({ host: { id: HOST, hostname: 'web-1', os: 'linux', tags: {}, online: true, ips: [] }, selectors: new Map() }),
      putForDevices: async () => {
        throw new Error('not accepted here: states stay on the host');
      },
    },
    metrics: {
      subscribe(l) {
        subscriptions++;
        listener = l;
        return () => (listener = undefined);
      },
    },
    state,
    log: (_level, event, fields) => logs.push(`${event} ${JSON.stringify(fields ?? {})}`),
    audit: { write: (r) => logs.push(`audit ${JSON.stringify(r)}`) },
    publishDelayMs: 10,
  });
  await alerts.reload();
  const push = async (t: number, cpu: number) => {
    listener?.({ t, values: { cpu }, totals: {} });
    await alerts.idle();
  };
  return { alerts, push, logs, listening: () => listener !== undefined, subscriptions: () => subscriptions, state };
}

const hook: ChannelDoc = { type: 'channel', name: 'hook', kind: 'webhook', webhook: { url: '', format: 'generic' }, deleted: false, at: 1 };

describe('alert engine', () => {
  it('does not listen to the sampler while no rule is for this host', async () => {
    const e = await engine(join(dir, 'none'), [
      kept(rule('off', { enabled: false })),
      kept(rule('gone', { deleted: true })),
      kept(rule('db', { target: 'db-*' })),
    ]);
    expect(e.alerts.active).toBe(0);
    expect(e.subscriptions()).toBe(0);
    await e.alerts.stop();
  });

  it('fires and resolves with a notification each, silences another rule, and keeps its state across a restart', async () => {
    const channel = kept({ ...hook, webhook: { url, format: 'generic' } });
    const silence = kept<SilenceDoc>({ type: 'silence', id: 's1', rule: 'quiet', until: Date.now() + 3_600_000, comment: '', by: 'laptop', at: 1 });
    const docs = [kept(rule('hot')), kept(rule('quiet')), channel, silence];
    const stateDir = join(dir, 'restart');
    const e = await engine(stateDir, docs);
    expect(e.alerts.active).toBe(2);
    await e.push(1000, 95);
    await e.push(2000, 96);
    await e.push(3000, 10);
    expect(posted.filter((p) => p.rule === 'hot').map((p) => p.event)).toEqual(['firing', 'resolved']);
    expect(posted.filter((p) => p.rule === 'quiet')).toEqual([]);
    expect(e.logs.filter((l) => l.startsWith('alert-silenced')).map((l) => JSON.parse(l.slice(15)).notification)).toEqual(['firing', 'resolved']);
    await e.push(4000, 99); // firing again, then the agent stops
    await e.alerts.stop();
    const journal = (await readFile(join(stateDir, 'alerts', 'journal.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { rule: string; kind: string; to?: string });
    expect(journal.filter((j) => j.rule === 'hot' && j.kind === 'state').map((j) => j.to)).toEqual(['firing', 'resolved', 'firing']);

    const before = posted.length;
    const again = await engine(stateDir, docs);
    await again.push(5000, 99); // still firing: not notified a second time because the agent restarted
    await again.push(6000, 5);
    expect(
      posted
        .slice(before)
        .filter((p) => p.rule === 'hot')
        .map((p) => p.event),
    ).toEqual(['resolved']);
    await again.alerts.stop();
  });

  it('drops the documents of a device revoked after they were read, and audits it', async () => {
    const leaver = { id: 'l'.repeat(52), role: 'operator', name: 'leaver' };
    const revocation = { body: { v: 1, kind: 'revocation', fleet: 'f'.repeat(52), version: 1, revoked: [leaver.id], iat: 1 }, sig: '' } as RevocationList;
    const e = await engine(
      join(dir, 'revoked'),
      [kept(rule('evil', { threshold: -1 }), leaver), kept({ ...hook, webhook: { url, format: 'generic' } })],
      revocation,
    );
    expect(e.alerts.active).toBe(0);
    expect(e.logs.some((l) => l.startsWith('audit') && l.includes(leaver.id) && l.includes('cert-revoked'))).toBe(true);
    await e.alerts.stop();
  });
});
