import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHttp } from './http-client.ts';

describe('nodeHttp', () => {
  let server: Server;
  let base = '';
  const seen: { method?: string; auth?: string; body: string }[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ ...(req.method ? { method: req.method } : {}), ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), body });
        if (req.url === '/slow') return; // never answers
        if (req.url === '/big') {
          res.end('x'.repeat(2 * 1024 * 1024));
          return;
        }
        res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ path: req.url }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('sends method, headers and body and reads status and JSON', async () => {
    const r = await nodeHttp(`${base}/api/ice`, { method: 'POST', headers: { authorization: 'Flotilla x' }, body: '{"a":1}' });
    expect(r.status).toBe(200);
    expect(r.ok).toBe(true);
    expect(await r.json()).toEqual({ path: '/api/ice' });
    expect(seen.at(-1)).toEqual({ method: 'POST', auth: 'Flotilla x', body: '{"a":1}' });
    const missing = await nodeHttp(`${base}/missing`, {});
    expect([missing.status, missing.ok]).toEqual([404, false]);
  });

  it('gives up when the signal aborts, refuses huge answers and other schemes', async () => {
    await expect(nodeHttp(`${base}/slow`, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
    await expect(nodeHttp(`${base}/big`, {})).rejects.toThrow(/larger than/);
    await expect(nodeHttp('ftp://127.0.0.1/', {})).rejects.toThrow(/not an HTTP URL/);
  });
});
