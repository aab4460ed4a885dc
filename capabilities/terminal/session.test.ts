// A terminal session over a real pty (node-pty): every byte reaches the client once and in
// order, the pty is paused while the client is a window behind (the program blocks, memory does
// not grow), a client that reattaches from an offset gets the rest, a detached session keeps
// only its ring, and a session whose program ended is kept until someone collects the exit.

import { afterEach, describe, expect, it } from 'vitest';
import { ownAccount, spawnPty } from './sessions.ts';
import { CHUNK_BYTES, TerminalSession, type ClientSink, type PtyProcess } from './session.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DetachReason, TerminalExit } from './spec.ts';

const open: TerminalSession[] = [];
afterEach(() => {
  // HUP, as a terminal closing: a login shell killed outright can leave its profile's work half done.
  for (const s of open.splice(0)) if (!s.exit) s.close('HUP');
});

/** This user, with /bin/sh as its shell: the tests do not depend on the machine's login profile. */
const account = { ...ownAccount(), shell: '/bin/sh' };

async function start(command: string, limits: Partial<{ ringBytes: number; detachMs: number }> = {}) {
  const pty = await spawnPty({ account, command, term: 'xterm', cols: 80, rows: 24 });
  const removed: string[] = [];
  const session = new TerminalSession(
    { id: 's1', device: 'd1', user: account.name, startedAt: Date.now() },
    pty,
    { cols: 80, rows: 24 },
    { ringBytes: limits.ringBytes ?? 256 * 1024, detachMs: limits.detachMs ?? 60_000, idleMs: 0, killGraceMs: 1000 },
    {},
    (s) => removed.push(s.info.id),
  );
  open.push(session);
  return { session, removed };
}

/** A client that records what it gets; acks only when told to. */
function client() {
  const chunks: { offset: number; bytes: Uint8Array }[] = [];
  let exit: TerminalExit | undefined;
  let detached: DetachReason | undefined;
  const sink: ClientSink = {
    output: (offset, bytes) => {
      chunks.push({ offset, bytes });
      return Promise.resolve();
    },
    exit: (e) => (exit = e),
    detached: (r) => (detached = r),
  };
  const received = () => chunks.reduce((n, c) => n + c.bytes.length, 0);
  const text = () => Buffer.concat(chunks.map((c) => c.bytes)).toString('latin1');
  return { sink, chunks, received, text, exit: () => exit, detached: () => detached };
}

const until = async (what: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!what()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Offsets are contiguous from `from`. */
function contiguous(chunks: { offset: number; bytes: Uint8Array }[], from: number): void {
  let at = from;
  for (const c of chunks) {
    expect(c.offset).toBe(at);
    at += c.bytes.length;
  }
}

describe('TerminalSession', () => {
  it('runs a command and delivers its output and exit status', async () => {
    const { session, removed } = await start('echo $((6*7)); exit 3');
    const c = client();
    const a = session.attach(c.sink, 0, 64 * 1024);
    a.start();
    await until(() => c.exit() !== undefined);
    expect(c.text()).toContain('42');
    expect(c.exit()).toMatchObject({ exitCode: 3, offset: c.received() });
    contiguous(c.chunks, 0);
    expect(removed).toEqual(['s1']);
  });

  it('stops at the window until acked: the program blocks, then every byte arrives once', async () => {
    const window = 32 * 1024;
    // ~590 KB of numbered lines: far more than the window and the ring.
    const { session } = await start('seq 1 100000; exit 0', { ringBytes: 128 * 1024 });
    const c = client();
    const a = session.attach(c.sink, 0, window);
    expect(a.window).toBe(window);
    a.start();
    await until(() => c.received() >= window);
    await sleep(300);
    // Nothing beyond the window without acks, and the ring holds what is not sent yet.
    expect(c.received()).toBe(window);
    expect(session.exit).toBeUndefined();
    expect(session.ring.end - window).toBeLessThanOrEqual(128 * 1024);
    // Acks let it run to the end.
    for (let i = 0; !c.exit() && i < 2000; i++) {
      a.ack(c.received());
      await sleep(2);
    }
    await until(() => c.exit() !== undefined);
    contiguous(c.chunks, 0);
    const lines = c.text().split('\r\n').filter(Boolean);
    expect(lines.length).toBe(100000);
    expect(lines[0]).toBe('1');
    expect(lines[99999]).toBe('100000');
  });

  it('sends the output of a fast writer in chunks larger than the 4 KiB the pty gives per read', async () => {
    // 4 MB of numbered lines from a file: cat writes as fast as the pty takes it.
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-term-'));
    try {
      const file = join(dir, 'big.txt');
      writeFileSync(file, Array.from({ length: 400_000 }, (_, i) => `${i}`.padStart(9, '.')).join('\n') + '\n');
      const { session } = await start(`cat ${file}; exit 0`);
      const c = client();
      const a = session.attach(c.sink, 0, 256 * 1024);
      const sink = c.sink.output;
      c.sink.output = (offset, bytes) => sink(offset, bytes).then(() => a.ack(offset + bytes.length));
      a.start();
      await until(() => c.exit() !== undefined, 60_000);
      contiguous(c.chunks, 0);
      const lines = c.text().split('\r\n');
      expect(lines.length).toBe(400_001);
      expect(lines[399_999]).toBe('...399999');
      // On main every read was its own event (4,095 bytes at most): one seal, frame and write
      // per 4 KiB on both sides. Coalesced, the events average well above two reads each.
      const mean = c.received() / c.chunks.length;
      expect(Math.max(...c.chunks.map((x) => x.bytes.length))).toBeLessThanOrEqual(CHUNK_BYTES);
      expect(mean).toBeGreaterThan(8 * 1024);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hands an echo after a quiet time to the client at once, within the pty data event', async () => {
    // Coalescing must not delay keystroke echo: output that follows no recent send goes out
    // synchronously, not on the coalescing timer.
    const pty = await spawnPty({ account, command: 'exec cat', term: 'xterm', cols: 80, rows: 24 });
    let calls = 0;
    const sentInEvent: boolean[] = [];
    const watched: PtyProcess = {
      ...pty,
      onData: (listener) =>
        pty.onData((bytes) => {
          const before = calls;
          listener(bytes);
          sentInEvent.push(calls > before);
        }),
    };
    const session = new TerminalSession(
      { id: 's2', device: 'd1', user: account.name, startedAt: Date.now() },
      watched,
      { cols: 80, rows: 24 },
      { ringBytes: 256 * 1024, detachMs: 60_000, idleMs: 0, killGraceMs: 1000 },
      {},
      () => undefined,
    );
    open.push(session);
    const c = client();
    const sink = c.sink.output;
    c.sink.output = (offset, bytes) => {
      calls++;
      return sink(offset, bytes);
    };
    const a = session.attach(c.sink, 0, 64 * 1024);
    a.start();
    await sleep(200);
    for (const key of 'flotilla') {
      const had = c.text().length;
      session.input(Buffer.from(key));
      await until(() => c.text().length > had);
      a.ack(c.received());
      await sleep(30);
    }
    expect(c.text()).toBe('flotilla');
    expect(sentInEvent.length).toBeGreaterThanOrEqual(1);
    expect(sentInEvent.every(Boolean)).toBe(true);
  });

  it('reattaches from an offset: the rest once, nothing twice', async () => {
    const { session } = await start('for i in $(seq 1 30); do echo n$i; sleep 0.05; done');
    const first = client();
    const a = session.attach(first.sink, 0, 64 * 1024);
    a.start();
    await until(() => first.text().includes('n10\r\n'));
    a.ack(first.received());
    a.detach();
    const seen = first.received();
    await sleep(400); // output meanwhile goes to the ring
    expect(session.attached).toBe(false);
    const second = client();
    const b = session.attach(second.sink, seen, 64 * 1024);
    expect(b).toMatchObject({ offset: seen, lost: 0 });
    b.start();
    await until(() => second.exit() !== undefined);
    contiguous(second.chunks, seen);
    const all = (first.text() + second.text()).split('\r\n').filter(Boolean);
    expect(all).toEqual(Array.from({ length: 30 }, (_, i) => `n${i + 1}`));
  });

  it('a second client takes the session over', async () => {
    const { session } = await start('sleep 5');
    const first = client();
    session.attach(first.sink, 0, 64 * 1024).start();
    const second = client();
    session.attach(second.sink, 0, 64 * 1024).start();
    expect(first.detached()).toBe('taken-over');
    session.close('HUP');
    await until(() => second.exit() !== undefined);
    expect(second.exit()!.signal).toBe('HUP');
    expect(second.exit()!.exitCode).toBe(129);
  });

  it('keeps an ended session for a reattach, with its tail and exit', async () => {
    const { session, removed } = await start('echo tail-end; exit 5');
    await until(() => session.exit !== undefined);
    expect(removed).toEqual([]);
    const c = client();
    const a = session.attach(c.sink, 0, 64 * 1024);
    a.start();
    await until(() => c.exit() !== undefined);
    expect(c.text()).toContain('tail-end');
    expect(c.exit()!.exitCode).toBe(5);
    expect(removed).toEqual(['s1']);
  });

  it('reports what a detached session lost beyond its ring', async () => {
    const { session } = await start('seq 1 60000; sleep 5', { ringBytes: 128 * 1024 });
    await until(() => session.ring.end > 300_000);
    const c = client();
    const a = session.attach(c.sink, 0, 64 * 1024);
    expect(a.lost).toBe(a.offset);
    expect(a.offset).toBe(session.ring.start);
    expect(a.offset).toBeGreaterThan(0);
  });

  it('hangs up a session when its detach time runs out', async () => {
    const { session, removed } = await start('sleep 30', { detachMs: 300 });
    const c = client();
    session.attach(c.sink, 0, 64 * 1024).detach();
    await until(() => removed.length === 1);
    expect(session.exit?.signal).toBe('HUP');
  });
});
