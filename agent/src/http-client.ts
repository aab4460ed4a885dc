// The agent's client for the signaling server's HTTP API (ICE servers, revocation lists).
// Node's fetch loads undici, which keeps about 12 MiB of an idle agent's memory resident;
// node:http and node:https are loaded anyway (the ws signaling socket needs them).

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HttpFetch } from '../../shared/controller/signal-api.ts';

/** The API's answers are a few KiB; a larger one is refused rather than held in memory. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/** An HttpFetch on node:http(s): the method, headers, body and abort signal of fetch, the whole answer read before it resolves. */
export const nodeHttp: HttpFetch = (url, init) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : target.protocol === 'http:' ? httpRequest : undefined;
    if (!send) {
      reject(new Error(`${target.protocol} is not an HTTP URL`));
      return;
    }
    const options = { method: init.method ?? 'GET', headers: init.headers ?? {}, ...(init.signal ? { signal: init.signal } : {}) };
    const req = send(target, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) res.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error('connection closed before the answer ended'));
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status, ok: status >= 200 && status < 300, json: async () => JSON.parse(text) as unknown });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
