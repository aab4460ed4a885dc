import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { classes, Message, methods, parseMessage } from 'werift';
import { buildBindingSuccess, parseStunMessage, startStunServer, type StunServer } from './stun.ts';

// Requests are built and responses decoded with werift, an independent STUN implementation,
// so an encoding mistake in stun.ts cannot be mirrored by the same mistake in the test.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function server(options: Partial<Parameters<typeof startStunServer>[0]> = {}): Promise<StunServer> {
  const stun = await startStunServer({ port: 0, host: '127.0.0.1', ...options });
  cleanups.push(() => stun.close());
  return stun;
}

async function client(type: 'udp4' | 'udp6' = 'udp4', host = '127.0.0.1'): Promise<Socket> {
  const socket = createSocket(type);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => resolve());
  });
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket;
}

function bindingRequest(fingerprint = false): Message {
  const request = new Message(methods.BINDING, classes.REQUEST);
  return fingerprint ? request.addFingerprint() : request;
}

/** Sends `bytes` and resolves with the answer carrying the same transaction id, or null after `ms`. */
function exchange(socket: Socket, port: number, host: string, bytes: Uint8Array, ms = 1_000): Promise<Buffer | null> {
  const tid = Buffer.from(bytes.subarray(8, 20));
  return new Promise((resolve) => {
    const onMessage = (msg: Buffer): void => {
      if (msg.length >= 20 && msg.subarray(8, 20).equals(tid)) finish(msg);
    };
    const finish = (msg: Buffer | null): void => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(msg);
    };
    const timer = setTimeout(() => finish(null), ms);
    socket.on('message', onMessage);
    socket.send(bytes, port, host);
  });
}

/** Resolves once the server's counters stop moving, so assertions see every datagram that arrived. */
async function settled(stun: StunServer): Promise<ReturnType<StunServer['stats']>> {
  let previous = JSON.stringify(stun.stats());
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = JSON.stringify(stun.stats());
    if (now === previous) return stun.stats();
    previous = now;
  }
}

describe('STUN server', () => {
  it("answers a Binding request with the client's own address and port (IPv4)", async () => {
    const stun = await server();
    expect(stun.port).toBeGreaterThan(0);
    expect(stun.address).toBe('127.0.0.1');
    const socket = await client();
    const request = bindingRequest();
    const raw = await exchange(socket, stun.port, '127.0.0.1', request.bytes);
    expect(raw).not.toBeNull();
    const response = parseMessage(raw ?? Buffer.alloc(0));
    expect(response?.messageMethod).toBe(methods.BINDING);
    expect(response?.messageClass).toBe(classes.RESPONSE);
    expect(response?.transactionIdHex).toBe(request.transactionIdHex);
    expect(response?.getAttributeValue('XOR-MAPPED-ADDRESS')).toEqual(['127.0.0.1', socket.address().port]);
    expect(response?.getAttributeValue('SOFTWARE')).toBe('flotilla-signal');
    expect(response?.getAttributeValue('FINGERPRINT')).toBeUndefined();
    expect(await settled(stun)).toEqual({ requests: 1, responses: 1, dropped: 0 });
  });

  it('answers over IPv6 on ::1', async (ctx) => {
    const stun = await startStunServer({ port: 0, host: '::1' }).catch((error: unknown) =>
      ctx.skip(`::1 cannot be bound here (${String(error)}); IPv6 path not exercised`),
    );
    cleanups.push(() => stun.close());
    const socket = await client('udp6', '::1');
    const raw = await exchange(socket, stun.port, '::1', bindingRequest().bytes);
    const response = parseMessage(raw ?? Buffer.alloc(0));
    expect(response?.getAttributeValue('XOR-MAPPED-ADDRESS')).toEqual(['::1', socket.address().port]);
  });

  it('reports IPv4 clients of a dual-stack socket as IPv4, not ::ffff:a.b.c.d', async () => {
    // A udp6 socket bound to the IPv4-mapped loopback address behaves like '::' but stays on 127.0.0.1.
    const stun = await server({ host: '::ffff:127.0.0.1' });
    const socket = await client();
    const raw = await exchange(socket, stun.port, '127.0.0.1', bindingRequest().bytes);
    const response = parseMessage(raw ?? Buffer.alloc(0));
    expect(response?.getAttributeValue('XOR-MAPPED-ADDRESS')).toEqual(['127.0.0.1', socket.address().port]);
  });

  it('answers a request carrying FINGERPRINT with a valid FINGERPRINT, and drops a wrong one', async () => {
    const stun = await server();
    const socket = await client();
    const raw = await exchange(socket, stun.port, '127.0.0.1', bindingRequest(true).bytes);
    expect(raw).not.toBeNull();
    // werift's parser rejects a message whose FINGERPRINT does not match its own CRC-32.
    const response = parseMessage(raw ?? Buffer.alloc(0));
    expect(response?.getAttributeValue('FINGERPRINT')).toEqual(expect.any(Number));
    expect(parseStunMessage(raw ?? new Uint8Array())?.attributes.at(-1)?.type).toBe(0x8028);

    const corrupted = Buffer.from(bindingRequest(true).bytes);
    corrupted[corrupted.length - 1] = (corrupted[corrupted.length - 1] ?? 0) ^ 0xff;
    expect(await exchange(socket, stun.port, '127.0.0.1', corrupted, 300)).toBeNull();
    expect((await settled(stun)).dropped).toBe(1);
  });

  it('drops and counts malformed datagrams, then still answers a good request', async () => {
    const stun = await server();
    const socket = await client();
    const good = Buffer.from(bindingRequest().bytes);
    const withLength = (length: number): Buffer => Buffer.concat([good.subarray(0, 2), u16(length), good.subarray(4)]);
    const malformed: Record<string, Uint8Array> = {
      short: good.subarray(0, 12),
      'wrong cookie': Buffer.concat([good.subarray(0, 4), Buffer.from([1, 2, 3, 4]), good.subarray(8)]),
      'length beyond the datagram': withLength(8),
      'length not a multiple of 4': Buffer.concat([withLength(2), Buffer.alloc(2)]),
      'truncated attribute': Buffer.concat([withLength(8), u16(0x8022), u16(12), Buffer.from('abcd')]),
      'random bytes': randomBytes(64),
      'top bits set': Buffer.concat([Buffer.from([0xc0, 0x01]), good.subarray(2)]),
      'FINGERPRINT not last': (() => {
        const signed = Buffer.from(bindingRequest(true).bytes);
        return Buffer.concat([signed.subarray(0, 2), u16(16), signed.subarray(4), u16(0x8022), u16(4), Buffer.from('abcd')]);
      })(),
      'a response, not a request': Buffer.concat([u16(0x0101), good.subarray(2)]),
      'a Binding indication': Buffer.concat([u16(0x0011), good.subarray(2)]),
      'another method': Buffer.concat([u16(0x0003), good.subarray(2)]),
    };
    for (const [name, bytes] of Object.entries(malformed)) {
      expect(await exchange(socket, stun.port, '127.0.0.1', bytes, 100), name).toBeNull();
    }
    expect(await exchange(socket, stun.port, '127.0.0.1', good)).not.toBeNull();
    expect(await settled(stun)).toEqual({
      requests: Object.keys(malformed).length + 1,
      responses: 1,
      dropped: Object.keys(malformed).length,
    });
  });

  it('keeps serving after 500 fuzzed datagrams', async () => {
    const stun = await server({ maxPerSecondPerSource: 10_000 });
    const socket = await client();
    const random = prng(0x5eed);
    for (let i = 0; i < 500; i++) socket.send(fuzzPacket(random), stun.port, '127.0.0.1');
    await settled(stun);
    expect(await exchange(socket, stun.port, '127.0.0.1', bindingRequest().bytes)).not.toBeNull();
  });

  it('rate-limits a flood per source and answers again after a pause', async () => {
    const events: string[] = [];
    const stun = await server({ maxPerSecondPerSource: 20, log: (event) => events.push(event) });
    const socket = await client();
    // Send in small batches, so the flood reaches the server instead of overflowing the
    // socket buffer on a loaded machine; bounded to 5,000 datagrams.
    for (let sent = 0; sent < 5_000 && stun.stats().requests < 200; sent += 25) {
      for (let i = 0; i < 25; i++) socket.send(bindingRequest().bytes, stun.port, '127.0.0.1');
      await new Promise((resolve) => setImmediate(resolve));
    }
    const afterFlood = await settled(stun);
    expect(afterFlood.dropped).toBeGreaterThan(0);
    expect(afterFlood.responses).toBeLessThan(afterFlood.requests);
    // The log must not amplify the flood: one line per burst, not one per dropped datagram.
    expect(events.filter((e) => e === 'stun.rate-limited').length).toBeLessThan(afterFlood.dropped);

    await new Promise((resolve) => setTimeout(resolve, 500));
    let answer: Buffer | null = null;
    for (let attempt = 0; attempt < 5 && !answer; attempt++) {
      answer = await exchange(socket, stun.port, '127.0.0.1', bindingRequest().bytes, 500);
    }
    expect(answer).not.toBeNull();
  });

  it('close() resolves once, however often it is called', async () => {
    const stun = await startStunServer({ port: 0, host: '127.0.0.1' });
    await Promise.all([stun.close(), stun.close()]);
    await expect(stun.close()).resolves.toBeUndefined();
  });

  it('rejects when the port is taken', async () => {
    const stun = await server();
    await expect(startStunServer({ port: stun.port, host: '127.0.0.1' })).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('parseStunMessage', () => {
  it('returns attributes without their padding', () => {
    const request = new Message(methods.BINDING, classes.REQUEST);
    request.setAttribute('SOFTWARE', 'abcde');
    request.addFingerprint();
    const parsed = parseStunMessage(request.bytes);
    expect(parsed?.type).toBe(0x0001);
    expect(Buffer.from(parsed?.transactionId ?? []).toString('hex')).toBe(request.transactionIdHex);
    expect(parsed?.attributes.map((a) => a.type)).toEqual([0x8022, 0x8028]);
    expect(new TextDecoder().decode(parsed?.attributes[0]?.value)).toBe('abcde');
  });

  it('reads a message that sits at an offset inside a larger buffer', () => {
    const bytes = bindingRequest(true).bytes;
    const backing = new Uint8Array(bytes.length + 7);
    backing.set(bytes, 7);
    expect(parseStunMessage(backing.subarray(7))?.attributes).toHaveLength(1);
  });

  it('never throws on 2,000 random and mutated packets', () => {
    const random = prng(0xf1075);
    for (let i = 0; i < 2_000; i++) {
      const packet = fuzzPacket(random);
      const parsed = parseStunMessage(packet);
      if (parsed) {
        expect(parsed.transactionId).toHaveLength(12);
        const framed = parsed.attributes.reduce((n, a) => n + 4 + Math.ceil(a.value.length / 4) * 4, 20);
        expect(framed, `packet ${Buffer.from(packet).toString('hex')}`).toBe(packet.length);
      }
    }
  });
});

describe('buildBindingSuccess', () => {
  const tid = Uint8Array.from({ length: 12 }, (_, i) => i * 17);

  it.each([
    ['IPv4', '203.0.113.7', 3478],
    ['IPv6', '2001:db8::1', 65535],
    ['IPv6', '::', 1],
    ['IPv6', '2001:db8:0:1:2:3:4:5', 4242],
    ['IPv6', '::ffff:198.51.100.9', 4242],
  ] as const)('encodes %s %s port %d so werift decodes it back', (family, address, port) => {
    const decoded = parseMessage(Buffer.from(buildBindingSuccess(tid, address, port, family)));
    const [host, decodedPort] = decoded?.getAttributeValue('XOR-MAPPED-ADDRESS') as [string, number];
    // werift prints IPv6 in full; compare through one canonical form.
    expect(canonical(host)).toBe(canonical(address));
    expect(decodedPort).toBe(port);
  });

  it('drops the zone id of a link-local source', () => {
    const decoded = parseMessage(Buffer.from(buildBindingSuccess(tid, 'fe80::1%eth0', 5000, 'IPv6')));
    expect(canonical((decoded?.getAttributeValue('XOR-MAPPED-ADDRESS') as [string])[0])).toBe(canonical('fe80::1'));
  });

  it('refuses an address that does not match its family', () => {
    expect(() => buildBindingSuccess(tid, '::1', 1, 'IPv4')).toThrow(RangeError);
    expect(() => buildBindingSuccess(tid, '1.2.3.4', 1, 'IPv6')).toThrow(RangeError);
  });
});

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

function canonical(address: string): string {
  if (!address.includes(':')) return address;
  return new URL(`http://[${address}]/`).hostname;
}

/** Small seeded PRNG (mulberry32) so a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Random bytes half the time; otherwise a valid request with bit flips, cuts or a rewritten length. */
function fuzzPacket(random: () => number): Uint8Array {
  const int = (n: number): number => Math.floor(random() * n);
  if (random() < 0.3) return Uint8Array.from({ length: int(120) }, () => int(256));
  const request = new Message(methods.BINDING, classes.REQUEST);
  if (random() < 0.5) request.setAttribute('SOFTWARE', 'x'.repeat(int(20)));
  if (random() < 0.5) request.addFingerprint();
  const bytes = Uint8Array.from(request.bytes);
  const mutation = int(4);
  if (mutation === 0) {
    for (let flips = 1 + int(4); flips > 0; flips--) {
      const at = int(bytes.length);
      bytes[at] = (bytes[at] ?? 0) ^ (1 << int(8));
    }
  }
  if (mutation === 1) return bytes.subarray(0, int(bytes.length + 1));
  // Rewrite the header length, or the first attribute's length when there is one.
  if (mutation === 2) new DataView(bytes.buffer).setUint16(bytes.length > 24 && random() < 0.5 ? 22 : 2, int(0x10000));
  // mutation 3: leave it valid, so the parser's success path is fuzzed too.
  return bytes;
}
