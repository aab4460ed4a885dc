// What a hostile client costs the signaling server in memory: K registered devices send OFFERs
// (about 60 KiB of SDP each) to ids that are not connected, just under the per-socket rate
// limit, for S seconds. Prints the server's RSS before, at its peak and at the end. Issue 17:
// PeerServer queued such messages per absent id for seconds (300 MiB in the probe).
//   node --import tsx bench/signal-memory.mjs [--root DIR] [--sockets 5] [--seconds 15] [--rate 190]
// --root runs another tree's server (e.g. an export of main) against the same clients.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WebSocket } from 'ws';
import { createFleet } from '../shared/identity/fleet.ts';
import { createPeerCredential } from '../shared/identity/tokens.ts';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: resolve(import.meta.dirname, '..') },
    sockets: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '15' },
    rate: { type: 'string', default: '190' },
  },
});
const sockets = Number(values.sockets);
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const port = 20_000 + Math.floor(Math.random() * 20_000);

const server = spawn(
  process.execPath,
  [join(values.root, 'bin/flotilla-signal.js'), '--port', String(port), '--stun-port', '0', '--host', '127.0.0.1', '--log-level', 'error'],
  { stdio: ['ignore', 'ignore', 'inherit'] },
);
const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
  } catch {
    if (i > 200) throw new Error('the server did not start');
  }
  await sleep(100);
}

const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
const randomId = () => Array.from({ length: 52 }, () => alphabet[Math.floor(Math.random() * 32)]).join('');
const sdp = `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD\r\n${'a=x-pad:'.concat('y'.repeat(120), '\r\n').repeat(480)}`;
const devices = await Promise.all(Array.from({ length: sockets }, () => createFleet('flood', true)));
const clients = await Promise.all(
  devices.map(async (d) => {
    const token = await createPeerCredential(d.keys, { ...d.pub, purpose: 'register', kind: 'device', fleet: d.fleetId });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/peerjs?${new URLSearchParams({ key: 'peerjs', id: d.id, token, version: '1.5.5' })}`);
    let expired = 0;
    ws.on('message', (data) => void (String(data).includes('"EXPIRE"') && expired++));
    await new Promise((ok, fail) => (ws.once('open', ok), ws.once('error', fail)));
    return { ws, expired: () => expired };
  }),
);

const before = rssMiB();
let peak = before;
let sent = 0;
const end = Date.now() + seconds * 1000;
while (Date.now() < end) {
  const tick = Date.now();
  for (const { ws } of clients) {
    for (let i = 0; i < rate / 10; i++) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      ws.send(
        JSON.stringify({
          type: 'OFFER',
          dst: randomId(),
          payload: { sdp: { type: 'offer', sdp }, type: 'data', connectionId: `dc_${sent}`, label: 'x', reliable: true },
        }),
      );
      sent++;
    }
  }
  peak = Math.max(peak, rssMiB());
  await sleep(Math.max(0, 100 - (Date.now() - tick)));
}
await sleep(1000);
peak = Math.max(peak, rssMiB());
const open = clients.filter((c) => c.ws.readyState === WebSocket.OPEN).length;
console.log(
  JSON.stringify({
    root: values.root,
    sockets,
    seconds,
    offersSent: sent,
    sdpBytes: sdp.length,
    expireReplies: clients.reduce((n, c) => n + c.expired(), 0),
    socketsStillOpen: open,
    rssMiB: { before: Math.round(before), peak: Math.round(peak), after: Math.round(rssMiB()) },
  }),
);
for (const { ws } of clients) ws.terminate();
server.kill('SIGTERM');
