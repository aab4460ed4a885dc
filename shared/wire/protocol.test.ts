import { describe, it, expect } from 'vitest';
import { parseMessage, MAX_HEADER_BYTES } from './protocol.ts';
import { decodeFrame, encodeFrame } from '../session/session.ts';
import { parseHello } from '../session/handshake.ts';
import { parseJoinToken, encodeJoinToken, createJoinToken } from '../identity/tokens.ts';
import { parseDeviceCert, parseRevocationList } from '../identity/certs.ts';
import { FlotillaError } from './errors.ts';
import { utf8 } from './encoding.ts';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(FlotillaError);
    return (error as FlotillaError).code;
  }
}

describe('parseMessage', () => {
  it('accepts a valid exec request and drops nothing it knows', () => {
    const message = parseMessage({ type: 'exec', id: 'r1', task: 't1', cmd: 'uptime', timeoutMs: 1000, env: { A: 'b' } });
    expect(message).toEqual({ type: 'exec', id: 'r1', task: 't1', cmd: 'uptime', timeoutMs: 1000, env: { A: 'b' } });
  });

  it('rejects unknown types, missing and mistyped fields, with the field named', () => {
    expect(code(() => parseMessage({ type: 'format-disk', id: 'x' }))).toBe('bad-message');
    expect(code(() => parseMessage({ type: 'exec', id: 'r1', task: 't1' }))).toBe('bad-message');
    expect(() => parseMessage({ type: 'exec', id: 'r1', task: 't1', cmd: 7 })).toThrow(/cmd: expected a string/);
    expect(() => parseMessage({ type: 'result', id: 'r', status: 'maybe' })).toThrow(/status: expected one of/);
    expect(() => parseMessage({ type: 'result', id: 'r', status: 'failed', error: { code: 'nope' } })).toThrow(/unknown error code/);
    expect(code(() => parseMessage(null))).toBe('bad-message');
    expect(code(() => parseMessage([1, 2]))).toBe('bad-message');
    expect(code(() => parseMessage({ type: 'push.begin', id: 'p', task: 't', path: '/x', size: -1, sha256: 'a'.repeat(64), mode: 420 }))).toBe('bad-message');
  });

  it('reads an exec reattach (byte counts per stream) and refuses bad counts', () => {
    expect(parseMessage({ type: 'exec', id: 'r2', task: 't1', cmd: 'uptime', attach: { stdout: 12, stderr: 0 } })).toMatchObject({
      attach: { stdout: 12, stderr: 0 },
    });
    expect(() => parseMessage({ type: 'exec', id: 'r2', task: 't1', cmd: 'uptime', attach: { stdout: -1, stderr: 0 } })).toThrow(/stdout: out of range/);
    expect(() => parseMessage({ type: 'exec', id: 'r2', task: 't1', cmd: 'uptime', attach: { stdout: 1 } })).toThrow(/stderr: expected an integer/);
    expect(code(() => parseMessage({ type: 'exec', id: 'r2', task: 't1', cmd: 'uptime', attach: 'all' }))).toBe('bad-message');
  });

  it('rejects oversized fields and frames', () => {
    expect(() => parseMessage({ type: 'exec', id: 'r1', task: 't1', cmd: 'x'.repeat(200 * 1024) })).toThrow(/cmd: longer than/);
    expect(() => parseMessage({ type: 'ping', id: 'x'.repeat(65) })).toThrow(/id: longer than/);
    expect(code(() => encodeFrame({ type: 'exec', id: 'r', task: 't', cmd: 'x'.repeat(MAX_HEADER_BYTES) }))).toBe('too-large');
    const frame = new Uint8Array(8);
    new DataView(frame.buffer).setUint32(0, MAX_HEADER_BYTES + 1);
    expect(code(() => decodeFrame(frame))).toBe('bad-message');
  });

  it('round-trips frames with binary bodies', () => {
    const body = new Uint8Array([0, 1, 2, 255]);
    const decoded = decodeFrame(encodeFrame({ type: 'push.chunk', id: 'c', offset: 4 }, body));
    expect(decoded.message).toEqual({ type: 'push.chunk', id: 'c', offset: 4 });
    expect([...decoded.body]).toEqual([0, 1, 2, 255]);
  });
});

describe('decoders under fuzzing', () => {
  // A seeded generator makes any failure replayable.
  let seed = 0x2f6b1a;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const values = [null, true, 0, -1, 1.5, 2 ** 53, '', 'x', 'a'.repeat(5000), [], {}, { code: 'bad-message' }, ['x']];
  const keys = [
    'type',
    'id',
    'task',
    'cmd',
    'path',
    'size',
    'sha256',
    'mode',
    'status',
    'error',
    'data',
    'offset',
    'stream',
    'tags',
    'env',
    'cert',
    '__proto__',
    'constructor',
  ];
  const types = ['ping', 'exec', 'push.begin', 'push.chunk', 'fetch', 'result', 'output', 'journal', 'tags.set', 'host.cert', 'hello', 'x'];

  function randomObject(depth = 0): Record<string, unknown> {
    const o: Record<string, unknown> = { type: pick(types) };
    const n = Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) o[pick(keys)] = depth < 2 && rand() < 0.2 ? randomObject(depth + 1) : pick(values);
    return o;
  }

  function mutate(bytes: Uint8Array): Uint8Array {
    const out = new Uint8Array(bytes);
    const flips = 1 + Math.floor(rand() * 4);
    for (let i = 0; i < flips && out.length; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
    return rand() < 0.3 ? out.subarray(0, Math.floor(rand() * out.length)) : out;
  }

  it('never throws anything but FlotillaError, and never hangs', () => {
    const valid = encodeFrame({ type: 'exec', id: 'r1', task: 't1', cmd: 'echo hi', env: { A: 'b' } });
    const token = encodeJoinToken(createJoinToken('http://127.0.0.1:9000/', 'a'.repeat(52), 60_000));
    for (let i = 0; i < 3000; i++) {
      const raw = randomObject();
      const tries: (() => unknown)[] = [
        () => parseMessage(raw),
        () => decodeFrame(mutate(valid)),
        () => decodeFrame(utf8(JSON.stringify(raw))),
        () => parseHello({ ...raw, t: 'hello', app: 'flotilla', v: 1 }),
        () => parseDeviceCert({ body: raw, sig: pick(values) }),
        () => parseRevocationList({ body: { ...raw, v: 1, kind: 'revocation' }, sig: 'x' }),
        () => parseJoinToken(rand() < 0.5 ? token.slice(0, Math.floor(rand() * token.length)) : `flt1.${String(pick(values))}`),
      ];
      for (const attempt of tries) {
        try {
          attempt();
        } catch (error) {
          if (!(error instanceof FlotillaError)) throw new Error(`decoder threw ${String(error)} for ${JSON.stringify(raw).slice(0, 200)}`);
        }
      }
    }
  });
});
