// Alert rules end to end (issue 15): a real signaling server with its store, a real agent sampling
// every second, the real CLI saving rules and their channels, then nothing connected. A CPU burner
// the test starts makes `cpu > 80 for 3s` go pending then firing, and the agent posts to a local
// HTTP receiver (its first answer a 503, so the retry is exercised) and mails a local SMTP sink
// (smtp-server); with the burners stopped it resolves (checked when the machine's CPU, measured
// by the test, falls under 70 % without them: other work on a shared box can keep it over 80).
// The full cycle is also shown with a filesystem the test owns: a small ext4 image, loop-mounted before the agent starts, filled past 50 % fires
// `fs:<mount>:used_pct > 50 for 3s` (webhook and mail) and emptied resolves it (both notified);
// a silence keeps the next cycle quiet; a device then reads the history through FleetSync and
// `flotilla alerts history`; a rule signed by a device revoked before the agent read it is
// refused and audited.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { cli, fillLoopFs, killAll, mountLoopFs, type Proc, removeDir, restartAgent, startAgent, startSignal, tempDir } from '../harness.ts';
import { openHome } from '../../cli/src/home.ts';
import { openFleetState } from '../../cli/src/fleet-state.ts';
import { alertStates } from '../../cli/src/commands/alerts.ts';

const SECRET = 'hook-secret-1';
let base: string;
let admin: string;
let agentDir: string;
let agent: Proc & { id: string };
let restarted: Proc | undefined;
let signal: Awaited<ReturnType<typeof startSignal>>;
let receiver: Server;
let hookUrl: string;
let smtp: SMTPServer;
let smtpPort: number;
const hooks: { headers: Record<string, string | string[] | undefined>; body: string; answered: number }[] = [];
const mails: string[] = [];
let burners: ChildProcess[] = [];
/** The loop-mounted filesystem the disk rule watches. */
let mount: string;
let mounted = false;

const json = <T>(text: string): T => JSON.parse(text) as T;

/** The whole machine's busy CPU % over `ms`, from /proc/stat (as the agent's sampler computes `cpu`). */
async function machineCpu(ms: number): Promise<number> {
  const read = async () => {
    const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = await read();
  await new Promise((r) => setTimeout(r, ms));
  const b = await read();
  return 100 * (1 - (b.idle - a.idle) / Math.max(1, b.total - a.total));
}

/** Busy loops on every core (2 here), so the host's CPU is near 100 % whatever else runs. */
function startBurners(): void {
  burners.push(...[0, 1].map(() => spawn('sh', ['-c', 'while :; do :; done'], { detached: true, stdio: 'ignore' })));
}

function stopBurners(): void {
  for (const b of burners) if (b.pid && b.exitCode === null && b.signalCode === null) process.kill(-b.pid, 'SIGKILL');
  burners = [];
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > end)
      throw new Error(`timed out waiting for ${what}\nagent log:\n${(restarted ?? agent).output().slice(-3000)}\nsignal log:\n${signal.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Agent log events of one kind after `from` characters of its output. */
function events(proc: Proc, event: string, from = 0): Record<string, unknown>[] {
  return proc
    .output()
    .slice(from)
    .split('\n')
    .filter((l) => l.includes(`"event":"${event}"`))
    .map((l) => json<Record<string, unknown>>(l.slice(l.indexOf('{'))));
}

beforeAll(async () => {
  base = await tempDir('alerts');
  admin = join(base, 'admin');
  agentDir = join(base, 'agent');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'ops-admin'])).code).toBe(0);
  const token = json<{ token: string }>((await cli(admin, ['token', 'create', '--json'])).stdout).token;
  await mkdir(agentDir, { recursive: true });
  // Mounted before the agent starts: its sampler lists filesystems at start (then once a minute).
  mount = await mountLoopFs(base);
  mounted = true;
  await writeFile(join(agentDir, 'config.json'), JSON.stringify({ metrics: { intervalSeconds: 1 } }));
  agent = await startAgent(agentDir, token, ['--tag', 'role=web']);
  // Accepts the host (its certificate) and makes the keyrings the rules and states are sealed with.
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0);

  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const answered = hooks.length === 0 ? 503 : 200; // the first delivery fails once
      hooks.push({ headers: req.headers, body, answered });
      res.writeHead(answered, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const address = receiver.address();
  hookUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;

  smtp = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      let text = '';
      stream.on('data', (c: Buffer) => (text += c.toString()));
      stream.on('end', () => {
        mails.push(text);
        callback();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  smtpPort = (smtp.server.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  stopBurners();
  await Promise.all([agent?.stop(), restarted?.stop()]);
  await signal?.stop();
  await killAll();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  await new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r()));
  if (mounted) spawnSync('umount', [mount], { stdio: 'ignore' });
  if (base) await removeDir(base);
});

const posted = (rule: string, event: string) =>
  hooks.filter((h) => h.answered === 200 && json<{ rule: string; event: string }>(h.body).rule === rule && json<{ event: string }>(h.body).event === event);

/** Fills the watched filesystem past half (5 MiB of an 8 MiB ext4). */
const fill = (): Promise<void> => fillLoopFs(mount, 5);

async function empty(): Promise<void> {
  await rm(join(mount, 'blob'), { force: true });
}

describe('alert rules and notifications', () => {
  it('goes pending then firing on a CPU burner with nothing connected, and posts the webhook (after a retry) and the mail', async () => {
    const file = join(base, 'cpu.yaml');
    await writeFile(
      file,
      [
        'kind: channel',
        'name: hook',
        `webhook: { url: '${hookUrl}', format: generic, secret: ${SECRET} }`,
        '---',
        'kind: channel',
        'name: mail',
        `email: { host: 127.0.0.1, port: ${smtpPort}, from: flotilla@test.invalid, to: [oncall@test.invalid] }`,
        '---',
        'name: cpu-hot',
        'target: tag:role=web',
        'metric: cpu',
        "when: '> 80'",
        'for: 3s',
        'severity: critical',
        'labels: { team: ops }',
        'channels: [hook, mail]',
        '',
      ].join('\n'),
    );
    const saved = await cli(admin, ['alerts', 'save', file]);
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout).toMatch(/Saved alert rule cpu-hot: cpu > 80 for 3s on tag:role=web/);
    await agent.waitFor(/"event":"alerts-loaded","rules":1,"channels":2/);
    const mark = agent.output().length;
    try {
      startBurners();
      await until('pending', () => events(agent, 'alert-state', mark).find((e) => e['rule'] === 'cpu-hot' && e['to'] === 'pending'));
      await until('firing', () => events(agent, 'alert-state', mark).find((e) => e['rule'] === 'cpu-hot' && e['to'] === 'firing'));
      const firing = await until('the firing webhook', () => posted('cpu-hot', 'firing')[0]);
      const body = json<Record<string, unknown>>(firing.body);
      expect(body).toMatchObject({
        event: 'firing',
        status: 'firing',
        rule: 'cpu-hot',
        severity: 'critical',
        labels: { team: 'ops' },
        metric: 'cpu',
        op: '>',
        threshold: 80,
      });
      expect(body['value']).toBeGreaterThan(80);
      // The receiver can check who sent it: HMAC-SHA256 over "<timestamp>.<body>".
      const t = String(firing.headers['x-flotilla-timestamp']);
      expect(firing.headers['x-flotilla-signature']).toBe(`sha256=${createHmac('sha256', SECRET).update(`${t}.${firing.body}`).digest('hex')}`);
      expect(hooks[0]!.answered).toBe(503);
      const notified = await until('the webhook delivery logged', () => events(agent, 'alert-notified', mark).find((e) => e['channel'] === 'hook'));
      expect(notified['attempts']).toBe(2);
      const mail = await until('the firing mail', () => mails.find((m) => /Subject: \[FIRING\] cpu-hot/.test(m)));
      expect(mail).toMatch(/To: oncall@test\.invalid/);
    } finally {
      stopBurners();
    }
    // With the burners gone the alert resolves, unless other work on this shared machine keeps
    // the CPU over 80 by itself: then the resolve cannot be told from the load, and the test says
    // so (the filesystem test below covers the resolve either way). The CI runs this file alone.
    const after = await machineCpu(4000);
    if (after < 70) {
      await until('resolved', () => events(agent, 'alert-state', mark).find((e) => e['rule'] === 'cpu-hot' && e['to'] === 'resolved'));
      const resolved = await until('the resolved webhook', () => posted('cpu-hot', 'resolved')[0]);
      expect(json<{ status: string; value: number }>(resolved.body)).toMatchObject({ status: 'resolved' });
      expect(json<{ value: number }>(resolved.body).value).toBeLessThanOrEqual(80);
      await until('the resolved mail', () => mails.find((m) => /Subject: \[RESOLVED\] cpu-hot/.test(m)));
    } else console.warn(`cpu-hot resolve not checked: the machine's CPU stayed at ${after.toFixed(0)} % with the burners stopped`);
    // Removed: its alert ends without a notification, whatever the box's load does next.
    expect((await cli(admin, ['alerts', 'rm', 'cpu-hot'])).code).toBe(0);
    await agent.waitFor(/"event":"alerts-loaded","rules":0,"channels":2/);
  }, 150_000);

  it('fires when a filesystem fills past the threshold and resolves when it empties, both notified by webhook and mail', async () => {
    const file = join(base, 'disk.yaml');
    await writeFile(file, `name: disk-full\nmetric: 'fs:${mount}:used_pct'\nwhen: '> 50'\nfor: 3s\nseverity: warning\nchannels: [hook, mail]\n`);
    expect((await cli(admin, ['alerts', 'save', file])).code).toBe(0);
    await agent.waitFor(/"event":"alerts-loaded","rules":1,"channels":2/);
    const mark = agent.output().length;
    await fill();
    await until('firing', () => events(agent, 'alert-state', mark).find((e) => e['rule'] === 'disk-full' && e['to'] === 'firing'));
    expect(
      events(agent, 'alert-state', mark)
        .filter((e) => e['rule'] === 'disk-full')
        .map((e) => e['to']),
    ).toEqual(['pending', 'firing']);
    const firing = json<{ value: number; metric: string }>((await until('the firing webhook', () => posted('disk-full', 'firing')[0])).body);
    expect(firing.metric).toBe(`fs:${mount}:used_pct`);
    expect(firing.value).toBeGreaterThan(50);
    await until('the firing mail', () => mails.find((m) => /Subject: \[FIRING\] disk-full/.test(m)));
    await empty();
    await until('resolved', () => events(agent, 'alert-state', mark).find((e) => e['rule'] === 'disk-full' && e['to'] === 'resolved'));
    expect(json<{ status: string }>((await until('the resolved webhook', () => posted('disk-full', 'resolved')[0])).body).status).toBe('resolved');
    await until('the resolved mail', () => mails.find((m) => /Subject: \[RESOLVED\] disk-full/.test(m)));
  }, 120_000);

  it('changes state but sends nothing while a silence covers the rule', async () => {
    const silenced = await cli(admin, ['alerts', 'silence', 'disk-full', '--for', '1h', '--comment', 'resizing']);
    expect(silenced.code, silenced.stderr).toBe(0);
    await agent.waitFor(/"event":"alerts-loaded","rules":1,"channels":2,"silences":1/);
    const sent = hooks.length;
    const mailed = mails.length;
    const mark = agent.output().length;
    await fill();
    await until('the firing silenced', () => events(agent, 'alert-silenced', mark).find((e) => e['notification'] === 'firing'));
    await empty();
    await until('the resolve silenced', () => events(agent, 'alert-silenced', mark).find((e) => e['notification'] === 'resolved'));
    expect(events(agent, 'alert-state', mark).map((e) => e['to'])).toEqual(['pending', 'firing', 'resolved']);
    await new Promise((r) => setTimeout(r, 1000));
    expect(hooks.length).toBe(sent);
    expect(mails.length).toBe(mailed);
  }, 120_000);

  it('lets a device read the history through FleetSync and flotilla alerts history', async () => {
    const want = ['pending', 'firing', 'resolved'];
    const doc = await until('the alert state document with the silenced resolve', async () => {
      const state = await openFleetState(await openHome(admin), () => undefined, { quiet: true });
      const found = alertStates(state).find((s) => s.rule === 'disk-full' && s.host === agent.id);
      return found?.events.some((e) => e.kind === 'notify' && e.event === 'resolved' && e.silenced) ? found : undefined;
    });
    expect(doc).toMatchObject({ state: 'resolved', severity: 'warning', metric: `fs:${mount}:used_pct`, installed: true });
    expect(doc.events.filter((e) => e.kind === 'state').map((e) => e.to)).toEqual([...want, ...want]);
    expect(
      doc.events
        .filter((e) => e.kind === 'notify' && e.ok)
        .map((e) => `${e.event}:${e.channel}`)
        .sort(),
    ).toEqual(['firing:hook', 'firing:mail', 'resolved:hook', 'resolved:mail']);
    expect(doc.events.filter((e) => e.silenced).map((e) => e.event)).toEqual(['firing', 'resolved']);

    const history = await cli(admin, ['alerts', 'history', '--since', '1h', '--json']);
    expect(history.code, history.stderr).toBe(0);
    const rows = json<{ rule: string; kind: string; to?: string; event?: string; silenced?: boolean }[]>(history.stdout);
    expect(rows.filter((r) => r.rule === 'disk-full' && r.kind === 'state').map((r) => r.to)).toEqual([...want, ...want].reverse());
    // The CPU rule's document too, with the retried delivery, though the rule is deleted now.
    expect(rows.some((r) => r.rule === 'cpu-hot' && r.kind === 'notify' && r.event === 'firing')).toBe(true);
    const text = await cli(admin, ['alerts', 'history']);
    expect(text.stdout).toMatch(/cpu-hot .* firing to hook: sent after 2 attempts/);
    expect(text.stdout).toMatch(/disk-full .* firing not sent \(silenced\)/);
    const list = await cli(admin, ['alerts', 'list', '--json']);
    expect(json<unknown[]>(list.stdout)).toEqual([]);
  }, 120_000);

  it('answers mistakes in one sentence (exit 2) and refuses a viewer device', async () => {
    const bad = join(base, 'bad.yaml');
    await writeFile(bad, "name: typo\nmetric: cpu\nwhen: 'over 80'\n");
    const cases: [string[], RegExp][] = [
      [['alerts', 'save', join(base, 'missing.yaml')], /cannot read .*missing\.yaml: ENOENT/],
      [['alerts', 'save', bad], /bad\.yaml: document 1 \(typo\): when: "over 80" is not a condition/],
      [['alerts', 'silence', 'disk-full'], /say for how long, as in: flotilla alerts silence disk-full --for 1h/],
      [['alerts', 'frobnicate'], /"frobnicate" is not an alerts command/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(admin, args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    const noChannel = join(base, 'nochannel.yaml');
    await writeFile(noChannel, "name: orphan\nmetric: cpu\nwhen: '> 1'\nchannels: [pager]\n");
    expect((await cli(admin, ['alerts', 'save', noChannel])).stderr).toMatch(/names channel pager, which does not exist/);
    const viewer = join(base, 'viewer');
    expect((await cli(admin, ['device', 'add', 'wallboard', '--home', viewer, '--role', 'viewer'])).code).toBe(0);
    const refused = await cli(viewer, ['alerts', 'silence', 'disk-full', '--for', '1h']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/this device is a viewer: alert rules, channels and silences need an operator or admin device/);
    // A viewer still reads them, once an admin device has added it to the fleet keyring.
    expect((await cli(viewer, ['alerts', 'rules'])).code).toBe(0); // announces itself
    expect((await cli(admin, ['alerts', 'rules'])).code).toBe(0);
    const rules = await cli(viewer, ['alerts', 'rules', '--json']);
    expect(rules.code, rules.stderr).toBe(0);
    const listed = json<{ rules: { name: string }[]; channels: { name: string; webhook?: { secret?: string } }[] }>(rules.stdout);
    expect(listed.rules.map((r) => r.name)).toEqual(['disk-full']);
    expect(listed.channels.find((c) => c.name === 'hook')?.webhook?.secret).toBe('***');
  }, 120_000);

  it('refuses and audits a rule signed by a device revoked before the agent read it', async () => {
    const leaver = join(base, 'leaver');
    expect((await cli(admin, ['device', 'add', 'leaver', '--home', leaver, '--role', 'operator'])).code).toBe(0);
    // The leaver announces itself; the admin's next sync adds it to the fleet keyring.
    expect((await cli(leaver, ['alerts', 'rules'])).code).toBe(0);
    expect((await cli(admin, ['alerts', 'rules'])).code).toBe(0);
    await agent.stop();
    const evil = join(base, 'evil.yaml');
    await writeFile(evil, `name: evil\nmetric: cpu\nwhen: '>= 0'\nchannels: [hook]\n`);
    const saved = await cli(leaver, ['alerts', 'save', evil]);
    expect(saved.code, saved.stderr).toBe(0);
    const leaverId = json<{ id: string }>((await cli(leaver, ['device', 'show', '--json'])).stdout).id;
    expect((await cli(admin, ['device', 'revoke', leaverId])).code).toBe(0);
    const sent = hooks.length;
    restarted = restartAgent(agentDir, ['--tag', 'role=web']);
    await restarted.waitFor(/"event":"store-refused".*cert-revoked/).catch((error: Error) => {
      throw new Error(`${error.message}\nsignal log:\n${signal.output().slice(-3000)}`);
    });
    // The log line comes first; the audit record is appended a moment later.
    await until('the refusal in the audit log', async () =>
      (await readFile(join(agentDir, 'audit.log'), 'utf8'))
        .split('\n')
        .find((l) => l.includes('store-refused') && l.includes(leaverId) && l.includes('cert-revoked')),
    );
    // Seconds of sampling later the only rule is still the admin's, and nothing was posted.
    await restarted.waitFor(/"event":"alerts-loaded","rules":1/);
    await new Promise((r) => setTimeout(r, 3000));
    expect(restarted.output()).not.toMatch(/"rule":"evil"/);
    expect(hooks.length).toBe(sent);
  }, 120_000);
});
