// Test helpers for the fleet store: a pass-through proxy in front of the signaling server that can
// play a hostile store (rewriting the records of list answers), and a FleetSync for a device held
// in the test process with its snapshot in memory.

import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import type { DeviceIdentity } from '../shared/identity/fleet.ts';
import type { StoredRecord } from '../shared/store/envelope.ts';
import { FleetSync, deviceMember, type SyncSnapshot } from '../shared/store/fleet-sync.ts';

/** A pass-through proxy whose `tamper`, while set, rewrites the records of store list answers. */
export interface StoreProxy {
  url: string;
  tamper?: ((record: StoredRecord) => StoredRecord) | undefined;
  close(): Promise<void>;
}

/** Starts a proxy on loopback in front of the signaling server at `target` (HTTP and the PeerJS WebSocket). */
export async function startStoreProxy(target: number): Promise<StoreProxy> {
  const proxy: StoreProxy = { url: '', close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const up = httpRequest({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (answer: IncomingMessage) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        let body = Buffer.concat(chunks);
        const headers = { ...answer.headers };
        if (proxy.tamper && req.method === 'GET' && /^\/api\/store\/[a-z2-7]{52}\?/.test(req.url ?? '') && answer.statusCode === 200) {
          const page = JSON.parse(body.toString()) as { records: StoredRecord[] };
          page.records = page.records.map(proxy.tamper);
          body = Buffer.from(JSON.stringify(page));
          headers['content-length'] = String(body.length);
        }
        res.writeHead(answer.statusCode ?? 502, headers);
        res.end(body);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  // The PeerJS WebSocket: bytes both ways, untouched.
  server.on('upgrade', (req: IncomingMessage, socket, head: Buffer) => {
    const up = connect(target, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      up.write(head);
      socket.pipe(up).pipe(socket);
    });
    // A peer that goes away closes both sides at once, as a direct connection would.
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
    up.on('close', () => socket.destroy());
    socket.on('close', () => up.destroy());
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const address = server.address();
  proxy.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
  proxy.close = () =>
    new Promise<void>((res) => {
      server.closeAllConnections();
      server.close(() => res());
    });
  return proxy;
}

/**
 * A device in the test process reading and writing the store at `signal`, its snapshot kept in
 * memory. `localHosts` are the hosts the CLI accepted (hosts.json): an admin adds them to the
 * fleet keyring.
 */
export function memoryFleetSync(signal: string, device: DeviceIdentity, localHosts: () => { id: string; encPub: string }[]): FleetSync {
  let kept: SyncSnapshot | undefined;
  return new FleetSync({
    signal,
    member: deviceMember(device),
    cache: { load: async () => (kept ? structuredClone(kept) : undefined), save: async (s) => void (kept = structuredClone(s)) },
    revocation: () => undefined,
    localHosts,
  });
}
