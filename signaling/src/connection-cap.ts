// A cap on open TCP connections per remote address (IPv6: per /64), HTTP and WebSocket alike.
// Without it one client holding idle connections exhausts the process's file descriptors and
// nobody else can connect. A connection over the cap gets a plain HTTP 429 saying why, then
// the socket is closed (this listener runs before the HTTP parser is attached to it).

import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { addressKey } from './limits.ts';
import type { Logger } from './log.ts';

/** Counts connections per address on `server` and turns away those over `max`. */
export function limitConnectionsPerAddress(server: Server, max: number, log: Logger): void {
  const open = new Map<string, number>();
  // The first connection refused from an address is logged; the count is logged when it drops back.
  const refusing = new Map<string, number>();
  server.prependListener('connection', (socket: Socket) => {
    const key = addressKey(socket.remoteAddress ?? 'unknown');
    const count = open.get(key) ?? 0;
    if (count >= max) {
      const refused = (refusing.get(key) ?? 0) + 1;
      refusing.set(key, refused);
      if (refused === 1) log.warn('connection.refused', { remote: key, open: count, max, reason: 'too many open connections from this address' });
      const text = `Flotilla refused the connection: your address already has ${max} open connections to this server, as many as it allows (flotilla-signal --max-connections-per-ip).\n`;
      socket.on('error', () => undefined);
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
      // A client that never reads must not keep the socket (and its descriptor) either.
      setTimeout(() => socket.destroy(), 2_000).unref();
      return;
    }
    open.set(key, count + 1);
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1;
      if (left > 0) open.set(key, left);
      else open.delete(key);
      const refused = refusing.get(key);
      if (refused !== undefined && left < max) {
        refusing.delete(key);
        log.info('connection.refusals-ended', { remote: key, refused });
      }
    });
  });
}
