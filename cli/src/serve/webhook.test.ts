import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { checkWebhookUrl, deliverWebhook, signWebhook } from './webhook.ts';

/** A receiver's check, as docs/api.md shows it. */
function verify(secret: string, header: string, body: string, now: number): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m || Math.abs(now / 1000 - Number(m[1])) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

const servers: Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

async function receiver(answer: (n: number) => number): Promise<{ url: string; got: { header: string; body: string }[] }> {
  const got: { header: string; body: string }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ header: String(req.headers['x-flotilla-signature']), body });
      res.writeHead(answer(got.length)).end();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return { url: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}/hook`, got };
}

describe('webhooks', () => {
  it('signs t.body with HMAC-SHA256 so that the receiver check passes, and fails for another secret or body', () => {
    const header = signWebhook('whsec_a', 1_800_000_000, '{"x":1}');
    expect(verify('whsec_a', header, '{"x":1}', 1_800_000_000_000)).toBe(true);
    expect(verify('whsec_b', header, '{"x":1}', 1_800_000_000_000)).toBe(false);
    expect(verify('whsec_a', header, '{"x":2}', 1_800_000_000_000)).toBe(false);
    expect(verify('whsec_a', header, '{"x":1}', 1_800_001_000_000)).toBe(false); // too old
  });

  it('retries with backoff until a 2xx, three tries at most', async () => {
    const r = await receiver((n) => (n < 3 ? 503 : 204));
    const sleeps: number[] = [];
    const d = await deliverWebhook(r.url, { invocation: 'inv-1' }, 'whsec_s', { backoffMs: 10, sleep: async (ms) => void sleeps.push(ms) });
    expect(d).toMatchObject({ delivered: true, tries: 3, last: 'HTTP 204' });
    expect(sleeps).toEqual([10, 40]);
    expect(r.got).toHaveLength(3);
    for (const g of r.got) expect(verify('whsec_s', g.header, g.body, Date.now())).toBe(true);
    expect(JSON.parse(r.got[0]!.body)).toEqual({ invocation: 'inv-1' });
  });

  it('gives up after three failed tries and says why', async () => {
    const r = await receiver(() => 500);
    const d = await deliverWebhook(r.url, {}, 's', { backoffMs: 1 });
    expect(d).toMatchObject({ delivered: false, tries: 3, last: 'HTTP 500' });
    const gone = createServer();
    await new Promise<void>((ok) => gone.listen(0, '127.0.0.1', ok));
    const port = (gone.address() as { port: number }).port;
    await new Promise((ok) => gone.close(ok));
    const closed = await deliverWebhook(`http://127.0.0.1:${port}/`, {}, 's', { backoffMs: 1 });
    expect(closed.delivered).toBe(false);
    expect(closed.last).toMatch(/ECONNREFUSED/);
  });

  it('takes http and https URLs only', () => {
    expect(checkWebhookUrl('https://example.test/x')).toBe('https://example.test/x');
    expect(() => checkWebhookUrl('file:///etc/passwd')).toThrow(/webhook: only http and https/);
    expect(() => checkWebhookUrl('nope')).toThrow(/webhook: not a URL/);
  });
});
