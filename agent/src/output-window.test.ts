import { describe, it, expect } from 'vitest';
import { createOutputWindows } from './output-window.ts';

describe('createOutputWindows', () => {
  it('sends in order up to the window, then waits for acknowledgements', async () => {
    const windows = createOutputWindows();
    const sent: string[] = [];
    const send = windows.sender('r1', 10, async (_s, bytes, window) => void sent.push(`${bytes.length}/${window}`));
    const done = [4, 4, 4, 4].map((n) => send('stdout', new Uint8Array(n)));
    await Promise.resolve();
    expect(sent).toEqual(['4/10', '4/10', '4/10']); // 12 in flight: the window was not full before the third
    windows.ack('r1', 2);
    await Promise.resolve();
    expect(sent.length).toBe(3); // 10 unacknowledged: still full
    windows.ack('r1', 4);
    await Promise.all(done);
    expect(sent.length).toBe(4);
  });

  it('lets everything go when the session closes, and sends at once without a window', async () => {
    const windows = createOutputWindows();
    const sent: number[] = [];
    const gated = windows.sender('r1', 1, async (_s, b) => void sent.push(b.length));
    const free = windows.sender('r2', undefined, async (_s, b, w) => void sent.push(w ?? -b.length));
    const waits = [gated('stdout', new Uint8Array(2)), gated('stderr', new Uint8Array(3)), free('stdout', new Uint8Array(7))];
    windows.closeAll();
    await Promise.all(waits);
    expect(sent.sort()).toEqual([-7, 2, 3].sort());
  });
});
