import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { ChannelDoc } from '../../../shared/alerts/documents.ts';
import { deliver, messageText, webhookRequest, type AlertMessage } from './notify.ts';
import { diskRule } from './test-support.ts';

const rule = diskRule({ labels: { team: 'storage' }, channels: ['x'] });
const message: AlertMessage = { event: 'firing', rule, host: { id: 'h'.repeat(52), hostname: 'db-1' }, value: 93.456, since: 1000, at: 61_000 };
const fast = { attempts: 3, baseMs: 10, timeoutMs: 2000 };

let server: Server;
let url: string;
/** Status codes the receiver answers, in order (then 200). */
let answers: number[] = [];
const received: { url: string; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ url: req.url ?? '', body });
      res.writeHead(answers.shift() ?? 200, { 'content-type': 'application/json' });
      res.end(req.url?.startsWith('/ding-bad') ? '{"errcode":310000,"errmsg":"sign not match"}' : '{"errcode":0}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  url = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const hook = (path: string, format: 'generic' | 'slack' | 'dingtalk', secret?: string): ChannelDoc => ({
  type: 'channel',
  name: 'x',
  kind: 'webhook',
  webhook: { url: `${url}${path}`, format, ...(secret ? { secret } : {}) },
  deleted: false,
  at: 1,
});

describe('alert notifications', () => {
  it('says what fired, where, and the condition in one line', () => {
    expect(messageText(message)).toBe('[FIRING] disk-full on db-1: fs:/:used_pct = 93.46 (> 90 for 60s), critical');
    expect(messageText({ ...message, event: 'resolved', value: undefined })).toMatch(/^\[RESOLVED\] disk-full on db-1: fs:\/:used_pct = no value/);
  });

  it('signs generic and Slack bodies over "<timestamp>.<body>" and DingTalk in its own query-string form', () => {
    const generic = webhookRequest({ url: 'http://x/h', format: 'generic', secret: 'k' }, message, 1_700_000_000_123);
    expect(generic.headers['x-flotilla-timestamp']).toBe('1700000000');
    expect(generic.headers['x-flotilla-signature']).toBe(`sha256=${createHmac('sha256', 'k').update(`1700000000.${generic.body}`).digest('hex')}`);
    expect(JSON.parse(webhookRequest({ url: 'http://x/h', format: 'slack' }, message, 1).body)).toMatchObject({
      text: messageText(message),
      attachments: [{ color: 'danger' }],
    });
    const ding = webhookRequest({ url: 'http://x/robot/send?access_token=t', format: 'dingtalk', secret: 'SEC1' }, message, 1_700_000_000_123);
    const sign = createHmac('sha256', 'SEC1').update('1700000000123\nSEC1').digest('base64');
    expect(ding.url).toBe(`http://x/robot/send?access_token=t&timestamp=1700000000123&sign=${encodeURIComponent(sign)}`);
    expect(JSON.parse(ding.body)).toEqual({ msgtype: 'markdown', markdown: { title: 'disk-full firing', text: messageText(message) } });
  });

  it('retries a 503 and a 429 with backoff, and arrives on the third attempt', async () => {
    answers = [503, 429];
    const d = await deliver(hook('/retry', 'generic'), message, fast);
    expect(d).toEqual({ ok: true, attempts: 3 });
    expect(received.filter((r) => r.url === '/retry')).toHaveLength(3);
  });

  it('gives up at once on a 404, and after the last attempt on 500s, with the reason', async () => {
    answers = [404];
    expect(await deliver(hook('/gone', 'slack'), message, fast)).toEqual({ ok: false, attempts: 1, error: 'HTTP 404' });
    answers = [500, 500, 500];
    expect(await deliver(hook('/down', 'generic'), message, fast)).toEqual({ ok: false, attempts: 3, error: 'HTTP 500' });
  });

  it('counts a DingTalk 200 with an errcode as a failure, and an unreachable receiver as one after the retries', async () => {
    const d = await deliver(hook('/ding-bad', 'dingtalk', 's'), message, { ...fast, attempts: 1 });
    expect(d.ok).toBe(false);
    expect(d.error).toMatch(/DingTalk errcode 310000 sign not match/);
    const closed = { ...hook('/', 'generic'), webhook: { url: 'http://127.0.0.1:1/', format: 'generic' as const } };
    const gone = await deliver(closed, message, { ...fast, attempts: 2 });
    expect(gone).toMatchObject({ ok: false, attempts: 2, error: expect.stringMatching(/ECONNREFUSED/) });
  });
});
