// The client-message parser and the token buckets, without a server.

import { describe, expect, it } from 'vitest';
import { parseClientMessage } from './client-messages.ts';
import { createKeyedLimiter, createTokenBucket, resolveLimits } from './limits.ts';

const DST = 'a'.repeat(52);
const text = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

describe('parseClientMessage', () => {
  it('rebuilds a PeerJS OFFER from its known fields only', () => {
    const payload = {
      sdp: { type: 'offer', sdp: 'v=0\r\n', extra: 1 },
      type: 'data',
      connectionId: 'dc_1',
      label: 'dc_1',
      reliable: true,
      serialization: 'binary',
      metadata: { a: [1, 2] },
      browser: 'chrome',
      injected: 'dropped',
    };
    expect(parseClientMessage(text({ type: 'OFFER', dst: DST, src: 'spoofed', payload }))).toEqual({
      ok: true,
      message: {
        type: 'OFFER',
        dst: DST,
        payload: {
          sdp: { type: 'offer', sdp: 'v=0\r\n' },
          type: 'data',
          connectionId: 'dc_1',
          label: 'dc_1',
          reliable: true,
          serialization: 'binary',
          metadata: { a: [1, 2] },
          browser: 'chrome',
        },
      },
    });
  });

  it('accepts ANSWER, CANDIDATE (with nulls), LEAVE and HEARTBEAT', () => {
    const candidate = {
      candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: null },
      type: 'data',
      connectionId: 'dc_1',
    };
    expect(parseClientMessage(text({ type: 'CANDIDATE', dst: DST, payload: candidate }))).toEqual({
      ok: true,
      message: { type: 'CANDIDATE', dst: DST, payload: candidate },
    });
    expect(parseClientMessage(text({ type: 'ANSWER', dst: DST, payload: { sdp: { type: 'answer', sdp: 'v=0' }, type: 'data', connectionId: 'c' } })).ok).toBe(
      true,
    );
    expect(parseClientMessage(text({ type: 'LEAVE', dst: DST, payload: { x: 1 } }))).toEqual({ ok: true, message: { type: 'LEAVE', dst: DST } });
    expect(parseClientMessage('{"type":"HEARTBEAT"}')).toEqual({ ok: true, message: { type: 'HEARTBEAT' } });
  });

  it.each([
    ['binary frame', text({ type: 'HEARTBEAT' }), true, /binary/],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), false, /UTF-8/],
    ['JSON that is not an object', text([1]), false, /expected an object/],
    ['server-only type', text({ type: 'EXPIRE', dst: DST }), false, /unknown type/],
    ['LEAVE without dst', text({ type: 'LEAVE' }), false, /dst/],
    ['dst with odd characters', text({ type: 'LEAVE', dst: 'a\nb' }), false, /not a peer id/],
    ['OFFER without payload', text({ type: 'OFFER', dst: DST }), false, /payload/],
    [
      'answer sdp in an OFFER',
      text({ type: 'OFFER', dst: DST, payload: { sdp: { type: 'answer', sdp: 'x' }, type: 'data', connectionId: 'c' } }),
      false,
      /sdp.type/,
    ],
    [
      'bad sdpMLineIndex',
      text({ type: 'CANDIDATE', dst: DST, payload: { candidate: { candidate: '', sdpMLineIndex: -1 }, type: 'data', connectionId: 'c' } }),
      false,
      /sdpMLineIndex/,
    ],
    [
      'deep metadata',
      text({
        type: 'OFFER',
        dst: DST,
        payload: { sdp: { type: 'offer', sdp: 'x' }, type: 'data', connectionId: 'c', metadata: JSON.parse('['.repeat(40) + ']'.repeat(40)) as unknown },
      }),
      false,
      /nested/,
    ],
  ])('refuses %s', (_name, data, isBinary, reason) => {
    const result = parseClientMessage(data, isBinary);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('never throws on random bytes', () => {
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(Array.from({ length: (i % 64) + 1 }, (_, j) => (i * 31 + j * 17) % 256));
      expect(() => parseClientMessage(bytes)).not.toThrow();
    }
  });
});

describe('limits', () => {
  it('spends a burst, then refills at the sustained rate', () => {
    let now = 0;
    const bucket = createTokenBucket(2, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    now = 500; // half a second at 2/s is one token
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
  });

  it('keeps one bucket per key and a bounded table', () => {
    const limiter = createKeyedLimiter(1, 1, 2, () => 0);
    expect([limiter.allow('a'), limiter.allow('a'), limiter.allow('b'), limiter.allow('c')]).toEqual([true, false, true, true]);
    expect(limiter.size).toBe(2);
  });

  it('refuses a limit that would switch enforcement off', () => {
    expect(() => resolveLimits({ maxPayload: 0 })).toThrow(/maxPayload/);
    expect(resolveLimits({ maxPeers: 5 }).maxPeers).toBe(5);
  });
});
