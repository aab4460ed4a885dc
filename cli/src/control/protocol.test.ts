import { describe, it, expect } from 'vitest';
import { createFrameReader, encodeFrame, MAX_FRAME, parseClientMessage, parseServerMessage } from './protocol.ts';

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
});
