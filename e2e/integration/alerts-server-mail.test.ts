// Mail sent by the signaling server end to end (issue 15, docs/alerts.md "Mail from the server"): a
// real signaling server given an SMTP relay through FLOTILLA_SMTP (a local smtp-server sink that
// demands the server's login), --mail-from and --mail-allow example.org; a real agent sampling
// every second. A rule on a small ext4 filesystem the test owns names two `via: server` email
// channels: filling it with nothing connected makes the server mail the allowed address, logged
// in as the server and from its --mail-from (the agent holds no SMTP settings at all), while the
// other channel's recipient, outside the allowlist, is refused and that failure is in the alert's
// events. Then an offline rule saved with --email mails on firing (agent stopped) and on resolve.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, fillLoopFs, freePort, killAll, mountLoopFs, type Proc, removeDir, restartAgent, startAgent, startProc, tempDir } from '../harness.ts';
import { startSmtpSink, type SmtpSink, type SunkMail } from '../smtp-sink.ts';

const FROM = 'alerts@signal.test';
const LOGIN = { user: 'signal-relay', pass: 'not on the command line' };
let base: string;
let admin: string;
let agent: Proc & { id: string };
let restarted: Proc | undefined;
let agentDir: string;
let signal: Proc & { url: string };
let sink: SmtpSink;
let mount: string;
let mounted = false;

const json = <T>(text: string): T => JSON.parse(text) as T;

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}\nagent log:\n${agent.output().slice(-3000)}\nsignal log:\n${signal.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Agent log events of one kind. */
function events(proc: Proc, event: string): Record<string, unknown>[] {
  return proc
    .output()
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => json<Record<string, unknown>>(l.slice(l.indexOf('{'))));
}

const subjectOf = (m: SunkMail) => /^Subject: (.*(?:\r?\n[ \t].*)*)/m.exec(m.raw)?.[1]?.replace(/\r?\n[ \t]+/g, ' ') ?? '';
const mailWith = (subject: RegExp) => sink.mails.find((m) => subject.test(subjectOf(m)));

beforeAll(async () => {
  base = await tempDir('alerts-server-mail');
  admin = join(base, 'admin');
  sink = await startSmtpSink(LOGIN);
  const port = await freePort();
  signal = Object.assign(
    startProc(
      'flotilla-signal',
      [
        ...['--host', '127.0.0.1', '--port', String(port), '--stun-port', String(port), '--data-dir', join(base, 'signal')],
        ...['--mail-from', FROM, '--mail-allow', 'example.org'],
        ...['--offline-check-every', '1s', '--offline-test-minute', '1s'],
      ],
      // The password stays off the command line.
      { FLOTILLA_SMTP: `smtp://${LOGIN.user}:${encodeURIComponent(LOGIN.pass)}@127.0.0.1:${sink.port}` },
    ),
    { url: `http://127.0.0.1:${port}/` },
  );
  // signal.listening, not the STUN responder's line before it: mail.on is logged between them.
  await signal.waitFor(/"event":"signal\.listening"/);
  expect(signal.output()).toMatch(/"event":"mail.on"/);
  expect(signal.output()).not.toContain('not on the command line');
  expect(json<{ enabled: boolean }>(await (await fetch(new URL('/api/mail', signal.url))).text())).toMatchObject({ enabled: true });

  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'ops-admin'])).code).toBe(0);
  const token = json<{ token: string }>((await cli(admin, ['token', 'create', '--json'])).stdout).token;
  // A filesystem the test owns, mounted before the agent starts (its sampler lists them at start).
  mount = await mountLoopFs(base);
  mounted = true;
  agentDir = join(base, 'agent');
  await mkdir(agentDir, { recursive: true });
  await writeFile(join(agentDir, 'config.json'), JSON.stringify({ metrics: { intervalSeconds: 1 } }));
  agent = await startAgent(agentDir, token, ['--tag', 'role=db']);
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0); // accepts the host

  const rules = join(base, 'rules.yaml');
  await writeFile(
    rules,
    [
      'kind: channel',
      'name: oncall',
      'email: { via: server, to: [oncall@example.org] }',
      '---',
      'kind: channel',
      'name: outsider',
      'email: { via: server, to: [someone@elsewhere.test] }',
      '---',
      'name: disk-full',
      `metric: 'fs:${mount}:used_pct'`,
      "when: '> 50'",
      'severity: critical',
      'channels: [oncall, outsider]',
      '',
    ].join('\n'),
  );
  const saved = await cli(admin, ['alerts', 'save', rules]);
  expect(saved.code, saved.stderr).toBe(0);
  await agent.waitFor(/"event":"alerts-loaded","rules":1,"channels":2/);
  expect((await cli(admin, ['alerts', 'rules'])).stdout).toMatch(/oncall +email \(server\) +oncall@example\.org/);
}, 120_000);

afterAll(async () => {
  await Promise.all([agent?.stop(), restarted?.stop()]);
  await signal?.stop();
  await killAll();
  await sink?.close();
  if (mounted) spawnSync('umount', [mount], { stdio: 'ignore' });
  if (base) await removeDir(base);
});

/** Fills the watched filesystem past half (5 MiB of an 8 MiB ext4). */
const fill = (): Promise<void> => fillLoopFs(mount, 5);

describe('mail from the signaling server', () => {
  it('mails the allowed recipient from the server, with nothing connected, and refuses the other', async () => {
    await fill();
    const firing = await until('the firing mail', () => mailWith(/^\[FIRING\] disk-full/));
    // Sent by the server: logged in with the server's SMTP user, from its --mail-from, to the channel's address only.
    expect(firing).toMatchObject({ user: LOGIN.user, from: FROM, rcpt: ['oncall@example.org'] });
    expect(firing.raw).toMatch(new RegExp(`^From: ${FROM}\\r?$`, 'm'));
    expect(firing.raw.replace(/\r?\n[ \t]+/g, ' ')).toMatch(new RegExp(`^X-Flotilla-Sender: agent ${agent.id}\\r?$`, 'm'));
    // Logged once the SMTP server has answered, which may be just after the sink has the mail.
    await until('the server logging the mail', () =>
      /"event":"mail.sent".*"kind":"agent".*"to":\["oncall@example.org"\]/.test(signal.output()) ? true : undefined,
    );
    expect(signal.output()).not.toMatch(/used_pct/); // the server logs neither subject nor text

    const refused = await until('the refused delivery', () => events(agent, 'alert-notify-failed').find((e) => e['channel'] === 'outsider'));
    expect(refused).toMatchObject({ rule: 'disk-full', notification: 'firing', attempts: 1 });
    expect(String(refused['error'])).toMatch(/does not mail someone@elsewhere\.test \(not among its --mail-allow recipients\)/);
    expect(sink.mails.some((m) => m.rcpt.includes('someone@elsewhere.test'))).toBe(false);

    // The failure is in the alert's events, as every device reads them.
    const row = await until('the failure in the history', async () => {
      const history = await cli(admin, ['alerts', 'history', '--since', '1h', '--json']);
      const rows = json<{ rule: string; kind: string; channel?: string; ok?: boolean; error?: string }[]>(history.stdout);
      return rows.find((r) => r.rule === 'disk-full' && r.kind === 'notify' && r.channel === 'outsider');
    });
    expect(row).toMatchObject({ ok: false, error: expect.stringMatching(/someone@elsewhere\.test/) as unknown });

    await rm(join(mount, 'blob'));
    const resolved = await until('the resolved mail', () => mailWith(/^\[RESOLVED\] disk-full/));
    expect(resolved).toMatchObject({ user: LOGIN.user, from: FROM, rcpt: ['oncall@example.org'] });
  }, 120_000);

  it('mails the recipients of an offline rule saved with --email on firing and on resolve', async () => {
    const outside = await cli(admin, ['alerts', 'offline', 'save', 'db-down', 'tag:role=db', '--for', '2m', '--email', 'x@elsewhere.test']);
    expect(outside.code).not.toBe(0);
    expect(outside.stderr.trim().split('\n')).toHaveLength(1);
    expect(outside.stderr).toMatch(/does not mail x@elsewhere\.test/);

    const saved = await cli(admin, [
      ...['alerts', 'offline', 'save', 'db-down', 'tag:role=db', '--for', '2m'],
      ...['--email', 'oncall@example.org', '--email', 'dba@example.org', '--json'],
    ]);
    expect(saved.code, saved.stderr).toBe(0);
    expect(json<{ saved: { hosts: string[]; email: { to: string[] } } }>(saved.stdout).saved).toMatchObject({
      hosts: [agent.id],
      email: { to: ['oncall@example.org', 'dba@example.org'] },
    });
    expect((await cli(admin, ['alerts', 'offline', 'list'])).stdout).toMatch(/db-down .* mail oncall@example\.org, dba@example\.org/);

    const before = sink.mails.length;
    await agent.stop();
    const firing = await until('the offline firing mail', () => mailWith(/^\[FIRING\] db-down: host /));
    expect(firing).toMatchObject({ user: LOGIN.user, from: FROM, rcpt: ['oncall@example.org', 'dba@example.org'] });
    expect(firing.raw).toContain(`"id": "${agent.id}"`);

    restarted = restartAgent(agentDir);
    const resolved = await until('the offline resolved mail', () => mailWith(/^\[RESOLVED\] db-down: host /));
    expect(resolved).toMatchObject({ from: FROM, rcpt: ['oncall@example.org', 'dba@example.org'] });
    expect(sink.mails.slice(before).filter((m) => /db-down/.test(subjectOf(m)))).toHaveLength(2);
    await until('the server logging the offline mail', () => (/"event":"offline.notified".*"channel":"email"/.test(signal.output()) ? true : undefined));
  }, 120_000);
});
