import { describe, it, expect } from 'vitest';
import { createLinkCore } from './link-core.ts';

function setup(early: (Uint8Array | string)[] = []) {
  const channel = { buffered: 0, low: 0 };
  const core = createLinkCore({
    remoteId: 'peer',
    bufferedAmount: () => channel.buffered,
    setLowThreshold: (bytes) => (channel.low = bytes),
    log: () => undefined,
    early,
  });
  return { core, channel };
}

describe('link core', () => {
  it('keeps early and later messages in order until a handler is set', () => {
    const { core } = setup(['first']);
    core.deliver('second');
    const got: unknown[] = [];
    core.onMessage((data) => got.push(data));
    core.deliver('third');
    expect(got).toEqual(['first', 'second', 'third']);
  });

  it('resolves drain waiters when the buffer falls to their threshold, or when the link goes down', async () => {
    const { core, channel } = setup();
    channel.buffered = 5000;
    let drained = false;
    const wait = core.waitForDrain(1000).then(() => (drained = true));
    expect(channel.low).toBe(1000);
    channel.buffered = 2000;
    core.checkDrains();
    await Promise.resolve();
    expect(drained).toBe(false);
    channel.buffered = 900;
    core.checkDrains();
    await wait;
    expect(drained).toBe(true);
    channel.buffered = 5000;
    const second = core.waitForDrain(10);
    core.markDown('gone');
    await second;
  });

  it('reports the close once, with the first reason, even to a handler set later', async () => {
    const { core } = setup();
    expect(core.markDown('the data channel closed')).toBe(true);
    expect(core.markDown('closed again')).toBe(false);
    const reasons: string[] = [];
    core.onClose((reason) => reasons.push(reason));
    await Promise.resolve();
    expect(reasons).toEqual(['the data channel closed']);
  });
});
