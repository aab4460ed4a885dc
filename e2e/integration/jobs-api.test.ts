// The job API end to end (issue 14): a real `flotilla serve --api` child process with its own
// home (an operator device added by the admin), a real signaling server and three real agents
// tagged role=web, and a local HTTP receiver on 127.0.0.1 for webhooks. The job is saved through
// the API itself (POST /jobs, admin scope); the agents install it from the store.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { jobsRunCommand } from '../../cli/src/commands/jobs-run.ts';
import type { CommandContext } from '../../cli/src/commands/context.ts';
import { cli, freePort, killAll, removeDir, startAgent, startProc, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let apiHome: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
const agents: (Proc & { id: string })[] = [];
let api: Proc;
let url: string;
let receiver: Server;
let hookUrl: string;
const hooks: { header: string; body: string }[] = [];
const tokens: Record<string, { token: string; webhookSecret: string }> = {};
let marker: string;

const json = <T>(text: string): T => JSON.parse(text) as T;

type HostRun = {
  host: string;
  hostname: string;
  status: string;
  run?: { status: string; exit?: number; stdout: string; stderr: string; invocation?: string };
  error?: string;
};
type Invocation = { invocation: string; job: string; ok: boolean; done: boolean; params: Record<string, string>; hosts: HostRun[] };

async function call(method: string, path: string, token?: string, body?: unknown, raw?: string) {
  const r = await fetch(url + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${tokens[token]!.token}` } : {}), 'content-type': 'application/json' },
    ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** A receiver's check of the signature, as docs/api.md shows it. */
function signatureOk(secret: string, header: string, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m || Math.abs(Date.now() / 1000 - Number(m[1])) > 300) return false;
  return timingSafeEqual(createHmac('sha256', secret).update(`${m[1]}.${body}`).digest(), Buffer.from(m[2]!, 'hex'));
}

async function ranLines(): Promise<string[]> {
  return (await readFile(marker, 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

beforeAll(async () => {
  base = await tempDir('jobs-api');
  admin = join(base, 'admin');
  apiHome = join(base, 'api');
  marker = join(base, 'ran.txt');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'admin'])).code).toBe(0);
  expect((await cli(admin, ['device', 'add', 'api', '--home', apiHome, '--role', 'operator'])).code).toBe(0);
  const token = json<{ token: string }>((await cli(admin, ['token', 'create', '--uses', '3', '--json'])).stdout).token;
  for (const name of ['web-a', 'web-b', 'web-c']) agents.push(await startAgent(join(base, name), token, ['--tag', 'role=web']));
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0);
  // The API's device announces itself; the admin (who holds the keyrings) adds it to them.
  expect((await cli(apiHome, ['hosts', '--json'])).code).toBe(0);
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0);
  for (const scope of ['read', 'invoke', 'admin']) {
    const made = await cli(apiHome, ['api-token', 'create', '--scope', scope, '--name', scope, '--json']);
    expect(made.code, made.stderr).toBe(0);
    tokens[scope] = json<{ token: string; webhookSecret: string }>(made.stdout);
  }
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hooks.push({ header: String(req.headers['x-flotilla-signature'] ?? ''), body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  const port = await freePort();
  // Its own home by --home (the variable points elsewhere).
  api = startProc('flotilla', ['serve', '--api', `127.0.0.1:${port}`, '--home', apiHome], { FLOTILLA_HOME: join(base, 'elsewhere'), NO_COLOR: '1' });
  await api.waitFor(/Flotilla API on http:\/\/127\.0\.0\.1:\d+\//);
  url = `http://127.0.0.1:${port}`;
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await Promise.all(agents.map((a) => a.stop()));
  await signal?.stop();
  receiver?.close();
  await killAll();
  await removeDir(base);
});

describe('flotilla serve --api', () => {
  it('refuses a non-loopback address without --api-public, in one sentence', async () => {
    const r = await cli(apiHome, ['serve', '--api', '0.0.0.0:1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^usage error: refusing to listen on 0\.0\.0\.0, which is not a loopback address.*--api-public/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('serves an OpenAPI document that validates as OpenAPI 3', async () => {
    const doc = await call('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    const result = await new Validator().validate(doc.body as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('saves a job (admin) with a parameter pattern; a malformed body gets 400 naming the field', async () => {
    const bad = await call('POST', '/jobs', 'admin', {
      name: 'greet',
      command: 'true',
      target: 'tag:role=web',
      schedule: 'manual',
      policy: { overlap: 'sometimes' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: 400, cause: 'bad-request', message: expect.stringMatching(/overlap/) });
    const saved = await call('POST', '/jobs', 'admin', {
      name: 'greet',
      command: `echo hello {who} {note} && echo {who} >> ${marker}`,
      target: 'tag:role=web',
      schedule: 'manual',
      params: [
        { name: 'who', required: true, pattern: '[a-z]+' },
        { name: 'note', default: '' },
      ],
    });
    expect(saved.status, JSON.stringify(saved.body)).toBe(201);
    const listed = await call('GET', '/jobs', 'read');
    expect((listed.body['jobs'] as { name: string }[]).map((j) => j.name)).toEqual(['greet']);
  });

  it('a token without the scope gets 403 with a JSON reason, and nothing runs', async () => {
    const r = await call('POST', '/jobs/greet/invoke', 'read', { params: { who: 'eve' } });
    expect(r).toEqual({ status: 403, body: { status: 403, message: expect.stringMatching(/scope read.*needs scope invoke/), cause: 'missing-scope' } });
    const del = await call('DELETE', '/jobs/greet', 'invoke');
    expect(del.status).toBe(403);
    expect(del.body['message']).toMatch(/needs scope admin/);
    expect(await ranLines()).toEqual([]);
  });

  it('sync invoke on three hosts returns every result; hostile text in a parameter arrives as literal text', async () => {
    const note = `; rm -rf / $(id) \`id\` 'q' "dq"`;
    // The agents install the job from the store; an invoke makes one that has not yet read it look again.
    const r = await call('POST', '/jobs/greet/invoke', 'invoke', { params: { who: 'alice', note } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    const inv = r.body as unknown as Invocation;
    expect(inv.hosts.map((h) => h.host).sort()).toEqual(agents.map((a) => a.id).sort());
    for (const h of inv.hosts) {
      expect(h.status, JSON.stringify(h)).toBe('ok');
      expect(h.run?.exit).toBe(0);
      expect(h.run?.stdout).toBe(`hello alice ${note}\n`);
      expect(h.run?.invocation).toBe(inv.invocation);
    }
    expect(inv).toMatchObject({ job: 'greet', ok: true, done: true, params: { who: 'alice', note } });
    expect(await ranLines()).toEqual(['alice', 'alice', 'alice']);
  });

  it('a value failing its pattern, or a malformed body, is refused naming the parameter or field before anything runs', async () => {
    const before = await ranLines();
    const pattern = await call('POST', '/jobs/greet/invoke', 'invoke', { params: { who: 'bob; touch /tmp/pwned' } });
    expect(pattern.status).toBe(400);
    expect(pattern.body['message']).toMatch(/^parameter who: .*does not match the pattern \[a-z\]\+/);
    const unknown = await call('POST', '/jobs/greet/invoke', 'invoke', { params: { who: 'bob', extra: 'x' } });
    expect(unknown.body['message']).toMatch(/^parameter extra: the job declares no such parameter/);
    const field = await call('POST', '/jobs/greet/invoke', 'invoke', { params: { who: ['bob'] } });
    expect(field).toMatchObject({ status: 400, body: { message: 'params.who: expected a string, number or boolean' } });
    const notJson = await call('POST', '/jobs/greet/invoke', 'invoke', undefined, '{"params":');
    expect(notJson.status).toBe(400);
    expect(notJson.body['message']).toMatch(/^body: not JSON/);
    await new Promise((r) => setTimeout(r, 500));
    expect(await ranLines()).toEqual(before);
  });

  it('async invoke answers 202 at once, then calls the receiver, whose HMAC check passes; the invocation can be polled', async () => {
    const r = await call('POST', '/jobs/greet/invoke', 'invoke', { params: { who: 'carol' }, async: true, webhook: hookUrl });
    expect(r.status).toBe(202);
    const id = r.body['invocation'] as string;
    for (let i = 0; i < 300 && hooks.length === 0; i++) await new Promise((ok) => setTimeout(ok, 100));
    expect(hooks).toHaveLength(1);
    const { header, body } = hooks[0]!;
    expect(signatureOk(tokens['invoke']!.webhookSecret, header, body)).toBe(true);
    expect(signatureOk(tokens['admin']!.webhookSecret, header, body)).toBe(false);
    const delivered = json<Invocation>(body);
    expect(delivered).toMatchObject({ invocation: id, job: 'greet', done: true, ok: true });
    expect(delivered.hosts.map((h) => [h.status, h.run?.stdout])).toEqual([
      // note's default '' is substituted quoted: one empty word.
      ['ok', 'hello carol \n'],
      ['ok', 'hello carol \n'],
      ['ok', 'hello carol \n'],
    ]);
    const polled = await call('GET', `/invocations/${id}`, 'read');
    expect(polled.body).toMatchObject({ invocation: id, done: true, ok: true, webhook: { delivered: true, tries: 1 } });
  });

  it('hosts, an ad-hoc run and the job with its runs through the same paths as the CLI', async () => {
    const hosts = await call('GET', '/hosts', 'read');
    expect(hosts.status).toBe(200);
    expect((hosts.body as unknown as { id: string }[]).map((h) => h.id).sort()).toEqual(agents.map((a) => a.id).sort());
    const run = await call('POST', '/run', 'invoke', { selector: 'tag:role=web', command: 'echo adhoc' });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ selector: 'tag:role=web', ok: 3, total: 3 });
    expect((run.body['results'] as { status: string; exit: number }[]).map((x) => [x.status, x.exit])).toEqual([
      ['ok', 0],
      ['ok', 0],
      ['ok', 0],
    ]);
    const readOnly = await call('POST', '/run', 'read', { selector: '*', command: 'true' });
    expect(readOnly.status).toBe(403);
  });

  it('flotilla jobs run: every host with its output, --json, --async, and a bad --param refused naming it before connecting', async () => {
    // In this process (the lead wires the command under `flotilla jobs` at merge), with the API's home.
    const saved = process.env['FLOTILLA_HOME'];
    process.env['FLOTILLA_HOME'] = apiHome;
    const run = async (args: string[], flags: CommandContext['flags']) => {
      const out: string[] = [];
      const err: string[] = [];
      const ctx: CommandContext = {
        args,
        rest: [],
        flags,
        fleetOptions: {},
        cwd: base,
        out: (t) => out.push(t),
        err: (t) => err.push(t),
        write: (t) => out.push(t),
      };
      const code = await jobsRunCommand(ctx).catch((error: unknown) => error as Error);
      return { code, out: out.join('\n'), err: err.join('\n') };
    };
    try {
      const before = await ranLines();
      const bad = await run(['run', 'greet'], { param: ['who=Mallory'] });
      expect(bad.code).toBeInstanceOf(Error);
      expect((bad.code as Error).message).toMatch(/parameter who: "Mallory" does not match the pattern/);
      const table = await run(['run', 'greet'], { param: ['who=erin', 'note=a b'] });
      expect(table.code, table.err).toBe(0);
      // HOST STATUS EXIT TOOK: one row per host.
      expect(table.out.match(/^\S+\s+ok\s+0\s+\d/gm)).toHaveLength(3);
      expect(table.out).toMatch(/ran ok on 3 of 3 hosts/);
      expect(table.out.match(/ {4}hello erin a b$/gm)).toHaveLength(3);
      const asJson = await run(['greet'], { param: ['who=frank'], json: true });
      expect(asJson.code).toBe(0);
      const inv = json<Invocation>(asJson.out);
      expect(inv.hosts.map((h) => h.run?.stdout)).toEqual(['hello frank \n', 'hello frank \n', 'hello frank \n']);
      const started = await run(['greet'], { param: ['who=grace'], async: true, json: true });
      expect(started.code).toBe(0);
      expect(json<Invocation>(started.out).hosts.map((h) => h.status)).toEqual(['running', 'running', 'running']);
      for (let i = 0; i < 50 && (await ranLines()).length < before.length + 9; i++) await new Promise((ok) => setTimeout(ok, 100));
      expect((await ranLines()).slice(before.length).sort()).toEqual(['erin', 'erin', 'erin', 'frank', 'frank', 'frank', 'grace', 'grace', 'grace']);
    } finally {
      if (saved === undefined) delete process.env['FLOTILLA_HOME'];
      else process.env['FLOTILLA_HOME'] = saved;
    }
  });

  it('a host that does not answer within timeoutSec is reported no-answer: the call does not hang', async () => {
    const saved = await call('POST', '/jobs', 'admin', { name: 'slow', command: 'sleep 30', target: 'tag:role=web', schedule: 'manual' });
    expect(saved.status).toBe(201);
    const r = await call('POST', '/jobs/slow/invoke', 'invoke', { timeoutSec: 3 });
    expect(r.status).toBe(200);
    const inv = r.body as unknown as Invocation;
    expect(inv.hosts.map((h) => [h.status, h.error])).toEqual([
      ['no-answer', 'no answer within 3s'],
      ['no-answer', 'no answer within 3s'],
      ['no-answer', 'no answer within 3s'],
    ]);
    expect(inv.ok).toBe(false);
  });

  it('offline hosts are reported as offline, without waiting for them', async () => {
    await agents[2]!.stop();
    let inv: Invocation | undefined;
    for (let i = 0; i < 30; i++) {
      inv = (await call('POST', '/jobs/greet/invoke', 'invoke', { params: { who: 'dave' }, timeoutSec: 20 })).body as unknown as Invocation;
      if (inv.hosts.some((h) => h.status === 'offline')) break;
      await new Promise((ok) => setTimeout(ok, 500));
    }
    const byHost = new Map(inv!.hosts.map((h) => [h.host, h.status]));
    expect(byHost.get(agents[2]!.id)).toBe('offline');
    expect(byHost.get(agents[0]!.id)).toBe('ok');
    expect(inv!.ok).toBe(false);
  });

  it('writes an audit line per call with the token name', async () => {
    const lines = (await readFile(join(apiHome, 'api-audit.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { token?: string; method: string; path: string; status: number });
    expect(lines).toContainEqual(expect.objectContaining({ token: 'read', method: 'POST', path: '/jobs/greet/invoke', status: 403 }));
    expect(lines).toContainEqual(expect.objectContaining({ token: 'invoke', method: 'POST', path: '/jobs/greet/invoke', status: 202 }));
    const listed = await cli(apiHome, ['api-token', 'list', '--json']);
    const read = json<{ name: string; lastUsedAt?: number }[]>(listed.stdout).find((t) => t.name === 'read');
    expect(read?.lastUsedAt).toBeGreaterThan(0);
  });

  it('a revoked token is refused from the next request on', async () => {
    expect((await cli(apiHome, ['api-token', 'revoke', 'read'])).code).toBe(0);
    const r = await call('GET', '/jobs', 'read');
    expect(r).toMatchObject({ status: 401, body: { cause: 'unauthorized' } });
  });
});
