import { describe, it, expect, afterEach } from 'vitest';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFrameReader, parseServerMessage, type ServerMessage } from './protocol.ts';
import { createTerminalRelay, relayedSessions } from './terminal-relay.ts';

let dir: string | undefined;
let server: Server | undefined;
const sockets: Socket[] = [];

/** A real unix socket pair: the control process's end and the client's. */
async function socketPair(): Promise<{ process: Socket; client: Socket }> {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-relay-'));
  const path = join(dir, 's.sock');
  const accepted = new Promise<Socket>((resolve) => (server = createServer(resolve)));
  await new Promise<void>((resolve) => server!.listen(path, resolve));
  const client = connect(path);
  const processEnd = await accepted;
  sockets.push(client, processEnd);
  return { process: processEnd, client };
}

const invoke = { type: 'invoke' as const, v: 2, argv: ['shell', 'web-1'], cwd: '/', stdoutTty: true, stderrTty: true, color: false };

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the control process end of a warm shell', () => {
  it('counts output as taken only once the socket has handed it on, so a client that does not read holds it back', async () => {
    const { process: processEnd, client } = await socketPair();
    client.pause(); // a client whose stdout is behind stops reading
    const relay = createTerminalRelay(invoke, processEnd, () => undefined, new AbortController().signal);
    let taken = 0;
    const piece = new Uint8Array(64 * 1024).fill(0x78);
    for (let i = 0; i < 256; i++) relay.terminal.write(piece, () => taken++); // 16 MiB offered
    await new Promise((r) => setTimeout(r, 300));
    // Kernel buffers take some; far from all of it is counted taken, so the agent's window stops.
    expect(taken).toBeLessThan(128);
    const got: ServerMessage[] = [];
    let bytes = 0;
    const reader = createFrameReader(
      (v) => {
        const m = parseServerMessage(v);
        if (m?.type === 'output') bytes += Buffer.from(m.data, 'base64').length;
        else if (m) got.push(m);
      },
      (reason) => got.push({ type: 'refused', reason }),
    );
    client.on('data', (c: Buffer) => reader.push(c));
    client.resume();
    for (let i = 0; i < 200 && taken < 256; i++) await new Promise((r) => setTimeout(r, 20));
    expect(taken).toBe(256);
    for (let i = 0; i < 100 && bytes < 256 * piece.length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(bytes).toBe(256 * piece.length);
    expect(got).toEqual([]);
  });

  it('never leaves a write waiting on a client that is gone', async () => {
    const { process: processEnd, client } = await socketPair();
    client.pause();
    const relay = createTerminalRelay(invoke, processEnd, () => undefined, new AbortController().signal);
    let taken = 0;
    for (let i = 0; i < 64; i++) relay.terminal.write(new Uint8Array(64 * 1024), () => taken++);
    processEnd.destroy();
    relay.terminal.write(Uint8Array.from([1]), () => taken++);
    for (let i = 0; i < 50 && taken < 65; i++) await new Promise((r) => setTimeout(r, 10));
    expect(taken).toBe(65);
  });

  it('hands the client input, end and size to the session, asks for raw mode only for a terminal, and lists the session while it runs', async () => {
    const { process: processEnd } = await socketPair();
    const sent: ServerMessage[] = [];
    const relay = createTerminalRelay({ ...invoke, stdinTty: true, cols: 120, rows: 40 }, processEnd, (m) => sent.push(m), new AbortController().signal);
    const seen: string[] = [];
    relay.terminal.start({ input: (b) => seen.push(Buffer.from(b).toString()), end: () => seen.push('EOF'), resize: () => seen.push('resize') });
    expect(relay.terminal.size()).toEqual({ cols: 120, rows: 40 });
    relay.terminal.raw(true);
    relay.deliver({ type: 'stdin', data: Buffer.from('ls\r').toString('base64') });
    relay.deliver({ type: 'resize', cols: 90, rows: 20 });
    relay.deliver({ type: 'eof' });
    expect(seen).toEqual(['ls\r', 'resize', 'EOF']);
    expect(relay.terminal.size()).toEqual({ cols: 90, rows: 20 });
    relay.terminal.opened?.('web-1', 'abc');
    expect([...relayedSessions]).toEqual([{ host: 'web-1', session: 'abc' }]);
    relay.terminal.stop();
    expect([...relayedSessions]).toEqual([]);
    expect(sent).toEqual([
      { type: 'terminal', raw: true },
      { type: 'session', host: 'web-1', session: 'abc' },
      { type: 'terminal', raw: false },
    ]);
    // A piped client is never put in raw mode; after stop nothing reaches the session.
    const piped = createTerminalRelay(invoke, processEnd, (m) => sent.push(m), new AbortController().signal);
    piped.terminal.raw(true);
    expect(sent.at(-1)).toEqual({ type: 'terminal', raw: false });
    relay.deliver({ type: 'eof' });
    expect(seen).toHaveLength(3);
  });
});
