// "Host offline for N minutes" end to end (issue 15): a real signaling server checking presence
// every second with a test-only minute of one second, a real agent, the real CLI saving the rule
// from a selector, and a local HTTP receiver. Stopping the agent fires one signed webhook; the
// server restarted meanwhile keeps the alert without notifying again; the agent's return resolves
// it. An operator or viewer device is refused (403) by the server itself, and another fleet's
// admin does not see the rule.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { cli, freePort, killAll, removeDir, restartAgent, startAgent, startProc, tempDir, type Proc } from '../harness.ts';
import { openHome } from '../../cli/src/home.ts';
import { createPeerCredential } from '../../shared/identity/tokens.ts';

const SECRET = 'offline-hook-secret';
let base: string;
let admin: string;
let agentDir: string;
let agent: Proc & { id: string };
let restarted: Proc | undefined;
let signal: Proc;
let signalUrl: string;
let signalPort: number;
let receiver: Server;
let hookUrl: string;
const hooks: { headers: IncomingHttpHeaders; body: string }[] = [];

const json = <T>(text: string): T => JSON.parse(text) as T;

/** The signaling server with a one-second check and a one-second "minute", loopback webhooks allowed. */
async function startTestSignal(): Promise<Proc> {
  const proc = startProc('flotilla-signal', [
    ...['--host', '127.0.0.1', '--port', String(signalPort), '--stun-port', String(signalPort), '--data-dir', join(base, 'signal')],
    ...['--offline-check-every', '1s', '--offline-test-minute', '1s', '--offline-allow-loopback'],
  ]);
  await proc.waitFor(/listening/i);
  return proc;
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\nsignal log:\n${signal.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const events = (kind: string) => hooks.filter((h) => json<{ event: string }>(h.body).event === kind);

function signed(h: { headers: IncomingHttpHeaders; body: string }): boolean {
  const t = String(h.headers['x-flotilla-timestamp']);
  return h.headers['x-flotilla-signature'] === `sha256=${createHmac('sha256', SECRET).update(`${t}.${h.body}`).digest('hex')}`;
}

/** A device's credential for the server's routes, made from its CLI home (what the CLI sends). */
async function credentialOf(home: string): Promise<string> {
  const { device } = await openHome(home);
  return createPeerCredential(device.keys, {
    purpose: 'presence',
    kind: 'device',
    fleet: device.fleetId,
    ...device.pub,
    cert: JSON.stringify(device.cert),
    fleetPub: device.fleetPub,
  });
}

beforeAll(async () => {
  base = await tempDir('alerts-offline');
  admin = join(base, 'admin');
  agentDir = join(base, 'agent');
  signalPort = await freePort();
  signalUrl = `http://127.0.0.1:${signalPort}/`;
  signal = await startTestSignal();
  expect((await cli(admin, ['init', '--signal', signalUrl, '--name', 'ops-admin'])).code).toBe(0);
  const token = json<{ token: string }>((await cli(admin, ['token', 'create', '--json'])).stdout).token;
  await mkdir(agentDir, { recursive: true });
  agent = await startAgent(agentDir, token, ['--tag', 'role=web']);
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0);

  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hooks.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
}, 120_000);

afterAll(async () => {
  await Promise.all([agent?.stop(), restarted?.stop()]);
  await signal?.stop();
  await killAll();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  if (base) await removeDir(base);
});

describe('offline rules', () => {
  it('saves a rule from a selector, fires when the agent stops, keeps it across a server restart, resolves on return', async () => {
    const saved = await cli(admin, [
      'alerts',
      'offline',
      'save',
      'web-down',
      'tag:role=web',
      '--for',
      '3m',
      '--webhook',
      hookUrl,
      '--secret',
      SECRET,
      '--json',
    ]);
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    expect(json<{ saved: { hosts: string[]; minutes: number } }>(saved.stdout).saved).toMatchObject({ hosts: [agent.id], minutes: 3 });
    const listed = json<{ name: string; hosts: string[]; webhook: { secret: string }; firing: unknown[] }[]>(
      (await cli(admin, ['alerts', 'offline', 'list', '--json'])).stdout,
    );
    expect(listed).toMatchObject([{ name: 'web-down', hosts: [agent.id], webhook: { secret: '***' }, firing: [] }]);

    // Online: a few checks go by and nothing is posted.
    await signal.waitFor(/"event":"offline.saved"/);
    await new Promise((r) => setTimeout(r, 4000));
    expect(hooks).toHaveLength(0);

    await agent.stop();
    const firing = await until('the firing webhook', () => events('firing')[0]);
    expect(signed(firing)).toBe(true);
    expect(firing.headers['x-flotilla-event']).toBe('firing');
    const body = json<{ rule: string; host: { id: string }; status: string; since: number; at: number }>(firing.body);
    expect(body).toMatchObject({ rule: 'web-down', status: 'firing', host: { id: agent.id } });
    expect(body.at - body.since).toBeGreaterThanOrEqual(3000);
    const table = await cli(admin, ['alerts', 'offline', 'list']);
    expect(table.stdout).toMatch(/web-down.*offline since/);

    // The server restarts while the host is still away: the alert is kept, not posted again.
    await signal.stop();
    signal = await startTestSignal();
    await new Promise((r) => setTimeout(r, 5000));
    expect(events('firing')).toHaveLength(1);

    restarted = restartAgent(agentDir);
    const resolved = await until('the resolved webhook', () => events('resolved')[0]);
    expect(signed(resolved)).toBe(true);
    expect(json<{ host: { id: string } }>(resolved.body).host.id).toBe(agent.id);
    expect(events('firing')).toHaveLength(1);
  }, 120_000);

  it('refuses operator and viewer devices (403 from the server) and hides a rule from another fleet', async () => {
    for (const role of ['operator', 'viewer']) {
      const home = join(base, role);
      expect((await cli(admin, ['device', 'add', `a-${role}`, '--home', home, '--role', role])).code).toBe(0);
      const local = await cli(home, ['alerts', 'offline', 'list']);
      expect(local.code).not.toBe(0);
      expect(local.stderr).toMatch(/offline rules need an admin device/);
      const put = await fetch(new URL('/api/offline-rules/mine', signalUrl), {
        method: 'PUT',
        headers: { authorization: `Flotilla ${await credentialOf(home)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ hosts: [agent.id], minutes: 1, webhook: { url: hookUrl } }),
      });
      expect(put.status).toBe(403);
      expect(json<{ error: { code: string; message: string } }>(await put.text()).error.code).toBe('forbidden');
    }
    const other = join(base, 'other-fleet');
    expect((await cli(other, ['init', '--signal', signalUrl, '--name', 'other-admin'])).code).toBe(0);
    const theirs = await cli(other, ['alerts', 'offline', 'list', '--json']);
    expect(theirs.code).toBe(0);
    expect(json<unknown[]>(theirs.stdout)).toEqual([]);
    expect((await cli(other, ['alerts', 'offline', 'rm', 'web-down'])).stderr).toMatch(/no offline rule is named web-down/);
    expect(json<unknown[]>((await cli(admin, ['alerts', 'offline', 'list', '--json'])).stdout)).toHaveLength(1);
  }, 120_000);

  it('answers mistakes in one sentence and removes a rule', async () => {
    const noFor = await cli(admin, ['alerts', 'offline', 'save', 'x', '*', '--webhook', hookUrl]);
    expect(noFor.code).toBe(2);
    expect(noFor.stderr).toMatch(/--for 10m/);
    const seconds = await cli(admin, ['alerts', 'offline', 'save', 'x', '*', '--for', '90s', '--webhook', hookUrl]);
    expect(seconds.stderr).toMatch(/whole minutes/);
    const ftp = await cli(admin, ['alerts', 'offline', 'save', 'x', '*', '--for', '5m', '--webhook', 'ftp://example.com/x']);
    expect(ftp.code).not.toBe(0);
    expect(ftp.stderr).toMatch(/not http: or https:/);
    expect(ftp.stderr).not.toMatch(/\n\s+at /);
    const none = await cli(admin, ['alerts', 'offline', 'save', 'x', 'tag:role=db', '--for', '5m', '--webhook', hookUrl]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/tag:role=db/);
    expect((await cli(admin, ['alerts', 'offline', 'rm', 'web-down'])).stdout).toMatch(/Removed offline rule web-down/);
    expect(json<unknown[]>((await cli(admin, ['alerts', 'offline', 'list', '--json'])).stdout)).toEqual([]);
  }, 120_000);
});
