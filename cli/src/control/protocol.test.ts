import { describe, it, expect } from 'vitest';
import { BYTES_PIECE, createFrameReader, encodeBytesFrame, encodeFrame, MAX_FRAME, parseClientMessage, parseServerMessage } from './protocol.ts';

describe('control frames', () => {
  it('reassembles frames split anywhere and several in one chunk', () => {
    const values: unknown[] = [];
    const reader = createFrameReader(
      (v) => values.push(v),
      (reason) => values.push(`error ${reason}`),
    );
    const bytes = new Uint8Array([...encodeFrame({ type: 'cancel' }), ...encodeFrame({ type: 'exit', code: 3 })]);
    for (const b of bytes) reader.push(new Uint8Array([b]));
    reader.push(new Uint8Array([...encodeFrame({ type: 'bye' }), ...encodeFrame({ type: 'bye' })]));
    expect(values).toEqual([{ type: 'cancel' }, { type: 'exit', code: 3 }, { type: 'bye' }, { type: 'bye' }]);
  });

  it('stops at an oversized length or a body that is not JSON', () => {
    const errors: string[] = [];
    const big = createFrameReader(
      () => errors.push('value'),
      (r) => errors.push(r),
    );
    const head = new Uint8Array(4);
    new DataView(head.buffer).setUint32(0, MAX_FRAME + 1);
    big.push(head);
    big.push(encodeFrame({ type: 'cancel' }));
    const bad = createFrameReader(
      () => errors.push('value'),
      (r) => errors.push(r),
    );
    bad.push(new Uint8Array([0, 0, 0, 2, 0xff, 0xfe]));
    expect(errors).toEqual([`frame of ${MAX_FRAME + 1} bytes exceeds ${MAX_FRAME}`, 'frame is not UTF-8 JSON']);
  });

  it('validates every field of client and server messages', () => {
    const invoke = { type: 'invoke', v: 1, argv: ['run', '*'], cwd: '/tmp', stdoutTty: false, stderrTty: true, color: false };
    expect(parseClientMessage(invoke)).toEqual(invoke);
    expect(parseClientMessage({ ...invoke, argv: ['run', 3] })).toBeNull();
    expect(parseClientMessage({ ...invoke, cwd: undefined })).toBeNull();
    expect(parseClientMessage({ type: 'status' })).toBeNull();
    expect(parseClientMessage({ type: 'exec' })).toBeNull();
    expect(parseClientMessage([])).toBeNull();
    expect(parseServerMessage({ type: 'write', stream: 'stdout', text: 'x' })).toEqual({ type: 'write', stream: 'stdout', text: 'x' });
    expect(parseServerMessage({ type: 'write', stream: 'tty', text: 'x' })).toBeNull();
    expect(parseServerMessage({ type: 'exit', code: 256 })).toBeNull();
    expect(parseServerMessage({ type: 'progress', label: 'p', done: 1, total: 2, end: false })).not.toBeNull();
    expect(parseServerMessage({ type: 'status', status: { pid: 1 } })).toBeNull();
  });

  it('checks the terminal messages: bounded base64, sizes, and the invoke fields a shell adds', () => {
    const invoke = { type: 'invoke', v: 2, argv: ['shell', 'web-1'], cwd: '/', stdoutTty: true, stderrTty: true, color: false };
    expect(parseClientMessage({ ...invoke, stdinTty: true, cols: 120, rows: 40 })).toEqual({ ...invoke, stdinTty: true, cols: 120, rows: 40 });
    expect(parseClientMessage({ ...invoke, stdinTty: 'yes' })).toBeNull();
    expect(parseClientMessage({ ...invoke, cols: 0 })).toBeNull();
    expect(parseClientMessage({ ...invoke, rows: 1001 })).toBeNull();
    const full = Buffer.alloc(BYTES_PIECE, 7).toString('base64');
    expect(parseClientMessage({ type: 'stdin', data: full })).toEqual({ type: 'stdin', data: full });
    expect(parseClientMessage({ type: 'stdin', data: Buffer.alloc(BYTES_PIECE + 3).toString('base64') })).toBeNull();
    expect(parseClientMessage({ type: 'stdin', data: 'abc' })).toBeNull(); // not a multiple of 4
    expect(parseClientMessage({ type: 'stdin', data: 'ab!=' })).toBeNull();
    expect(parseClientMessage({ type: 'stdin', data: 3 })).toBeNull();
    expect(parseClientMessage({ type: 'stdin' })).toBeNull();
    expect(parseClientMessage({ type: 'eof' })).toEqual({ type: 'eof' });
    expect(parseClientMessage({ type: 'resize', cols: 80, rows: 24 })).toEqual({ type: 'resize', cols: 80, rows: 24 });
    expect(parseClientMessage({ type: 'resize', cols: 80.5, rows: 24 })).toBeNull();
    expect(parseClientMessage({ type: 'resize', cols: 80 })).toBeNull();
    expect(parseClientMessage({ type: 'resize', cols: -1, rows: 24 })).toBeNull();
    expect(parseServerMessage({ type: 'output', data: 'aGk=' })).toEqual({ type: 'output', data: 'aGk=' });
    expect(parseServerMessage({ type: 'output', data: 'hi there' })).toBeNull();
    expect(parseServerMessage({ type: 'output', data: Buffer.alloc(BYTES_PIECE + 1).toString('base64') })).toBeNull();
    expect(parseServerMessage({ type: 'terminal', raw: true })).toEqual({ type: 'terminal', raw: true });
    expect(parseServerMessage({ type: 'terminal', raw: 1 })).toBeNull();
    expect(parseServerMessage({ type: 'session', host: 'web-1', session: 'abc' })).toEqual({ type: 'session', host: 'web-1', session: 'abc' });
    expect(parseServerMessage({ type: 'session', host: 'web-1', session: 'x'.repeat(65) })).toBeNull();
    const status = { pid: 1, home: '/h', startedAt: 1, lastUsedAt: 1, persistMs: 1, expiresAt: 1, requests: 0, active: 0, connections: [] };
    // A control process older than terminals sends none; a malformed list is refused.
    expect(parseServerMessage({ type: 'status', status })).toEqual({ type: 'status', status: { ...status, terminals: [] } });
    expect(parseServerMessage({ type: 'status', status: { ...status, terminals: [{ host: 'web-1' }] } })).toBeNull();
  });

  it('encodes a bytes frame exactly as encodeFrame would, and refuses a piece too large', () => {
    for (const bytes of [new Uint8Array(0), Uint8Array.from([0, 1, 2, 255]), new Uint8Array(BYTES_PIECE).fill(0x78)]) {
      const data = Buffer.from(bytes).toString('base64');
      expect(Buffer.from(encodeBytesFrame('output', bytes))).toEqual(Buffer.from(encodeFrame({ type: 'output', data })));
      expect(Buffer.from(encodeBytesFrame('stdin', bytes.subarray(1)))).toEqual(
        Buffer.from(encodeFrame({ type: 'stdin', data: Buffer.from(bytes.subarray(1)).toString('base64') })),
      );
    }
    expect(() => encodeBytesFrame('output', new Uint8Array(BYTES_PIECE + 1))).toThrow(RangeError);
  });
});
