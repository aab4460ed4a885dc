import { createServer, type Server } from 'node:http';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobFromFile, type JobDoc } from '../../../shared/jobs/job.ts';
import type { Invocation, InvokeOptions } from '../jobs/invoke.ts';
import { createApiHandler, type ApiBackend } from './server.ts';
import { createTokenStore } from './tokens.ts';
import { createAuditLog } from './audit.ts';
import { createRateLimiter } from './rate-limit.ts';

// The handler with real tokens, audit log, HTTP and webhook receiver; the fleet behind it is a
// recording stand-in (e2e/integration/jobs-api.test.ts runs the real one with agents).
let dir: string;
let base: string;
let server: Server;
let receiver: Server;
let hookUrl: string;
const hooks: { header: string; body: string }[] = [];
const tokens: Record<string, string> = {};
let secret = '';
const invoked: InvokeOptions[] = [];
const written: JobDoc[] = [];
const jobs = new Map<string, JobDoc & { by: string }>();

const backend: ApiBackend = {
  cli: async (argv) => ({ code: 0, stdout: JSON.stringify({ argv }) + '\n' }),
  jobs: async () => jobs,
  jobRuns: async () => [],
  writeJob: async (doc) => {
    written.push(doc);
    if (doc.deleted) jobs.delete(doc.name);
    else jobs.set(doc.name, { ...doc, by: 'test' });
  },
  invoke: async (job, options): Promise<Invocation> => {
    invoked.push(options);
    await new Promise((r) => setTimeout(r, 50));
    return {
      invocation: options.invocation ?? 'inv-sync',
      job: job.name,
      params: options.params as Record<string, string>,
      wait: true,
      startedAt: 1,
      endedAt: 2,
      done: true,
      ok: true,
      hosts: [{ host: 'h'.repeat(52), hostname: 'web-1', status: 'ok' }],
    };
  },
};

async function call(method: string, path: string, token?: string, body?: unknown, raw?: string) {
  const r = await fetch(base + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    ...(raw !== undefined ? { body: raw } : body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, headers: r.headers, body: (await r.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-api-'));
  const store = createTokenStore(dir);
  for (const scope of ['read', 'invoke', 'admin'] as const) {
    const made = await store.create(scope, scope);
    tokens[scope] = made.token;
    if (scope === 'invoke') secret = made.record.webhookSecret;
  }
  tokens['burst'] = (await store.create('read', 'burst')).token;
  const limiter = createRateLimiter({ perMinute: 60, burst: 1000 });
  const tight = createRateLimiter({ perMinute: 1, burst: 2 });
  const handler = createApiHandler({
    tokens: store,
    audit: createAuditLog(dir),
    backend,
    rateLimit: (key) => (key === 'burst' ? tight.take(key) : limiter.take(key)),
    webhook: { backoffMs: 5 },
  });
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hooks.push({ header: String(req.headers['x-flotilla-signature']), body });
      res.writeHead(hooks.length === 1 ? 500 : 200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  const job = jobFromFile(
    {
      name: 'deploy',
      command: 'deploy --version {version}',
      target: 'tag:role=web',
      schedule: 'manual',
      params: [{ name: 'version', required: true, pattern: '[0-9.]+' }],
    },
    1000,
  );
  jobs.set('deploy', { ...job, by: 'test' });
});

afterAll(async () => {
  server?.close();
  receiver?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the job API handler', () => {
  it('401 without a token and with a bad one, as JSON {status, message, cause}', async () => {
    const none = await call('GET', '/jobs');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ status: 401, message: expect.stringMatching(/no token/), cause: 'unauthorized' });
    expect(none.headers.get('www-authenticate')).toMatch(/Bearer/);
    const bad = await call('GET', '/jobs', 'flt_not-a-real-token');
    expect(bad.status).toBe(401);
    expect(bad.body['message']).toMatch(/not valid/);
  });

  it('403 naming the missing scope', async () => {
    const r = await call('POST', '/jobs/deploy/invoke', tokens['read'], { params: { version: '1.2' } });
    expect(r.status).toBe(403);
    expect(r.body).toEqual({ status: 403, message: expect.stringMatching(/scope read.*needs scope invoke/), cause: 'missing-scope' });
    const admin = await call('DELETE', '/jobs/deploy', tokens['invoke']);
    expect(admin.status).toBe(403);
    expect(admin.body['message']).toMatch(/needs scope admin/);
    expect(invoked).toHaveLength(0);
  });

  it('400 naming the field of a malformed body, and the parameter that fails its pattern, before invoking', async () => {
    const notJson = await call('POST', '/jobs/deploy/invoke', tokens['invoke'], undefined, '{"params": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body['message']).toMatch(/^body: not JSON/);
    const field = await call('POST', '/jobs/deploy/invoke', tokens['invoke'], { params: { version: '1' }, async: 'yes' });
    expect(field).toMatchObject({ status: 400, body: { message: 'async: expected true or false', cause: 'bad-request' } });
    const param = await call('POST', '/jobs/deploy/invoke', tokens['invoke'], { params: { version: '1; rm -rf /' } });
    expect(param.status).toBe(400);
    expect(param.body['message']).toMatch(/^parameter version: .* does not match the pattern/);
    const missing = await call('POST', '/jobs/deploy/invoke', tokens['invoke'], {});
    expect(missing.body['message']).toMatch(/parameter version: required/);
    const run = await call('POST', '/run', tokens['invoke'], { selector: 'web-*' });
    expect(run).toMatchObject({ status: 400, body: { message: 'command: expected a string' } });
    const option = await call('POST', '/run', tokens['invoke'], { selector: '--user=root', command: 'id' });
    expect(option).toMatchObject({ status: 400, body: { message: 'selector: must not start with "-"' } });
    expect(invoked).toHaveLength(0);
  });

  it('404, 405 and 413', async () => {
    expect((await call('GET', '/nope', tokens['read'])).status).toBe(404);
    const job = await call('GET', '/jobs/nope', tokens['read']);
    expect(job).toMatchObject({ status: 404, body: { cause: 'not-found', message: expect.stringMatching(/no job named "nope".*deploy/) } });
    const method = await call('PUT', '/jobs', tokens['admin'], {});
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toBe('GET, POST');
    const big = await call('POST', '/jobs', tokens['admin'], undefined, JSON.stringify({ name: 'x', command: 'x'.repeat(1024 * 1024) }));
    expect(big).toMatchObject({ status: 413, body: { cause: 'too-large' } });
  });

  it('429 past the rate, with Retry-After', async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await call('GET', '/jobs', tokens['burst']));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
    expect(Number(answers[2]!.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('sync invoke answers every host; async answers 202 and the signed webhook reaches the receiver (after one retry)', async () => {
    const sync = await call('POST', '/jobs/deploy/invoke', tokens['invoke'], { params: { version: '1.2' } });
    expect(sync).toMatchObject({ status: 200, body: { job: 'deploy', ok: true, params: { version: '1.2' }, hosts: [{ hostname: 'web-1', status: 'ok' }] } });
    const started = await call('POST', '/jobs/deploy/invoke', tokens['invoke'], { params: { version: '2.0' }, async: true, webhook: hookUrl });
    expect(started.status).toBe(202);
    const id = started.body['invocation'] as string;
    expect(id).toMatch(/^inv-/);
    for (let i = 0; i < 100 && hooks.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(hooks).toHaveLength(2);
    const { header, body } = hooks[1]!;
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header)!;
    expect(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')).toBe(v1);
    expect(JSON.parse(body)).toMatchObject({ invocation: id, job: 'deploy', done: true, ok: true });
    const polled = await call('GET', `/invocations/${id}`, tokens['read']);
    expect(polled.body).toMatchObject({ invocation: id, done: true, webhook: { delivered: true, tries: 2 } });
    expect(polled.body['token']).toBeUndefined();
  });

  it('admin saves, disables and deletes a job; field errors name the field', async () => {
    const bad = await call('POST', '/jobs', tokens['admin'], { name: 'x', command: 'true', target: '*', schedule: 'every day' });
    expect(bad.status).toBe(400);
    expect(bad.body['message']).toMatch(/^schedule "every day"/);
    const saved = await call('POST', '/jobs', tokens['admin'], { name: 'nightly', command: 'true', target: '*', schedule: '0 3 * * *' });
    expect(saved).toMatchObject({ status: 201, body: { name: 'nightly', enabled: true, policy: { overlap: 'skip' } } });
    const off = await call('POST', '/jobs/nightly/disable', tokens['admin']);
    expect(off).toMatchObject({ status: 200, body: { enabled: false } });
    const gone = await call('DELETE', '/jobs/nightly', tokens['admin']);
    expect(gone).toMatchObject({ status: 200, body: { deleted: true } });
    expect(written.map((d) => [d.name, d.enabled, d.deleted])).toEqual([
      ['nightly', true, false],
      ['nightly', false, false],
      ['nightly', false, true],
    ]);
    expect((await call('GET', '/jobs/nightly', tokens['read'])).status).toBe(404);
  });

  it('GET /openapi.json needs no token; GET /history passes its filters to the CLI', async () => {
    expect((await call('GET', '/openapi.json')).body['openapi']).toBe('3.1.0');
    const h = await call('GET', '/history?limit=5&status=failed', tokens['read']);
    expect(h.body).toEqual({ argv: ['history', '--json', '--status', 'failed', '--limit', '5'] });
    expect((await call('GET', '/history?host=--evil', tokens['read'])).status).toBe(400);
  });

  it('admin lists tokens without their secrets and revokes one; invoke may not', async () => {
    expect((await call('GET', '/tokens', tokens['invoke'])).status).toBe(403);
    const listed = await call('GET', '/tokens', tokens['admin']);
    expect((listed.body['tokens'] as { name: string }[]).map((t) => t.name)).toEqual(['read', 'invoke', 'admin', 'burst']);
    expect(JSON.stringify(listed.body)).not.toMatch(/flt_|whsec_|hash/);
    expect(await call('DELETE', '/tokens/burst', tokens['admin'])).toMatchObject({ status: 200, body: { revoked: 'burst' } });
    expect((await call('GET', '/jobs', tokens['burst'])).status).toBe(401);
    expect((await call('DELETE', '/tokens/burst', tokens['admin'])).status).toBe(404);
  });

  it('writes one audit line per call, with the token name, and keeps tokens hashed in a 0600 file', async () => {
    await new Promise((r) => setTimeout(r, 50));
    const lines = (await readFile(join(dir, 'api-audit.log'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l['status'] === 403)).toMatchObject({ token: 'read', method: 'POST', path: '/jobs/deploy/invoke' });
    expect(lines.find((l) => l['status'] === 401)).not.toHaveProperty('token');
    expect(lines.every((l) => typeof l['durationMs'] === 'number' && typeof l['time'] === 'string')).toBe(true);
    const file = await readFile(join(dir, 'api-tokens.json'), 'utf8');
    expect(file).not.toContain(tokens['admin']);
    expect((await stat(join(dir, 'api-tokens.json'))).mode & 0o777).toBe(0o600);
  });
});
