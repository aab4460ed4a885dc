// Reaching an agent behind NAT, across real Linux NAT in network namespaces (topology.ts):
// the signaling server and coturn in a "public" namespace, the agent behind router 1, the
// CLI behind router 2. Each describe block builds its own topology and tears it down, with
// every process it started, in afterAll, also when a test fails. Root only: elsewhere the
// tests report themselves skipped with the reason.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { turnPassword } from '../../signaling/src/turn.ts';
import { natUnavailableReason } from './topology.ts';
import type { PacketSizeChoice } from '../../node/rtc/packet-size.ts';
import { ping, probe, runAndPush, startStack, turnLog, TURN_PORT, waitOnline, type Stack, type StackOptions } from './stack.ts';

const unavailable = natUnavailableReason();
if (unavailable) console.warn(`NAT tests skipped: ${unavailable}`);

/** A stack with its agent online, built before the block's tests and torn down after them. */
function stackFor(options: StackOptions): () => Stack {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack(options);
    await waitOnline(stack);
  }, 180_000);
  afterAll(async () => {
    await stack?.destroy();
  }, 60_000);
  return () => {
    if (!stack) throw new Error('the stack did not start');
    return stack;
  };
}

/** What a side logs as `rtc-packet-size`: the choice and the address its packets leave from. */
type SizeLog = PacketSizeChoice & { localAddress?: string };

/**
 * The SCTP packet size each side chose for a connection that lasts a few seconds (the CLI's
 * `[rtc-packet-size]` line under -v, the agent's latest log event): a failed probe waits 1 s.
 * Then a 6 MB push, byte-exact, on a connection that changes size while it sends.
 */
async function sizesAndPush(s: Stack): Promise<{ cli: SizeLog; agent: SizeLog }> {
  const before = s.agent.output().length;
  const run = await s.cli(['run', '-v', 'tag:site=one', '--', 'sleep 3']);
  expect(run.code, run.output).toBe(0);
  const parse = (line: string | undefined) => JSON.parse(line?.slice(line.indexOf('{')) ?? 'null') as SizeLog;
  const cli = parse(run.output.split('\n').find((l) => l.startsWith('[rtc-packet-size]')));
  const agent = parse(
    s.agent
      .output()
      .slice(before)
      .split('\n')
      .filter((l) => l.includes('"event":"rtc-packet-size"'))
      .at(-1),
  );
  const payload = randomBytes(6_000_000);
  const local = join(s.base, 'sized.bin');
  const remote = join(s.base, 'pushed', `sized-${randomBytes(3).toString('hex')}.bin`);
  await writeFile(local, payload);
  const push = await s.cli(['push', 'tag:site=one', local, remote]);
  expect(push.code, push.output).toBe(0);
  expect((await readFile(remote)).equals(payload)).toBe(true);
  return { cli, agent };
}

describe.skipIf(unavailable !== undefined)(`NAT${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  describe('endpoint-independent NAT (MASQUERADE) on both sides', () => {
    const stack = stackFor({ nat1: 'masquerade', nat2: 'masquerade' });

    it('connects directly (not relayed), then runs a command and pushes a file', async () => {
      const s = stack();
      const { path } = await ping(s);
      expect(path).toMatchObject({ relayed: false, protocol: 'udp' });
      expect(['srflx', 'prflx']).toContain(path?.remote); // the agent's NAT mapping, never its private address
      // `hosts --probe` says the same, with the round trip.
      const probed = await probe(s);
      expect(probed.connection?.path).toMatchObject({ relayed: false, protocol: 'udp' });
      expect(probed.connection?.rttMs).toBeGreaterThan(0);
      expect(probed.line).toMatch(/direct \w+->(srflx|prflx)\/udp\s+\d/);
      await runAndPush(s);
    });

    it('probes the 1500-byte path and sends 1,380-byte packets both ways, a 6 MB push intact', async () => {
      const s = stack();
      const sizes = await sizesAndPush(s);
      for (const side of [sizes.cli, sizes.agent]) expect(side).toMatchObject({ payload: 1380, mtu: 1500, probes: [{ payload: 1380, ok: true }] });
      // Each side sized for the interface its packets leave from, whichever candidate won.
      expect([sizes.cli.localAddress, sizes.agent.localAddress]).toEqual([s.topo.addr.s2, s.topo.addr.s1]);
    });

    it('hands TURN only with valid credentials: forged or expired ones are refused by coturn', async () => {
      const s = stack();
      const probe = async (username: string, password: string) => {
        const result = await s.topo.run(
          s.topo.ns.s1,
          process.execPath,
          [join(import.meta.dirname, 'turn-probe.mjs'), s.topo.addr.pub, String(TURN_PORT), username, password],
          { timeoutMs: 30_000 },
        );
        return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as { outcome: string; code?: number; relayed?: string };
      };
      const future = Math.floor(Date.now() / 1000) + 600;
      const valid = `${future}:${s.agentId}`;
      // Control: the scheme the signaling server uses is what coturn accepts.
      expect(await probe(valid, await turnPassword(s.secret, valid))).toMatchObject({
        outcome: 'allocated',
        relayed: expect.stringMatching(/^203\.0\.113\.1:\d+$/),
      });
      // Forged: the right shape, an HMAC under another secret.
      expect(await probe(valid, await turnPassword(randomBytes(24).toString('hex'), valid))).toMatchObject({ outcome: 'error', code: 401 });
      // Expired: a correct HMAC for an expiry in the past.
      const expired = `${Math.floor(Date.now() / 1000) - 60}:${s.agentId}`;
      expect(await probe(expired, await turnPassword(s.secret, expired))).toMatchObject({ outcome: 'error', code: 401 });
      // Tampered: someone else's valid password with a later expiry.
      const later = `${future + 86_400}:${s.agentId}`;
      expect(await probe(later, await turnPassword(s.secret, valid))).toMatchObject({ outcome: 'error', code: 401 });
    });

    // Last in this block: they change the topology. Router 1 gets a new public address while a
    // command runs (a DHCP renewal, a phone switching networks): the agent's NAT mapping and
    // signaling connection are gone, and the CLI's link goes silent.
    let r1Wan = '203.0.113.11';
    async function renumberRouter1(to: string): Promise<void> {
      const s = stack();
      await s.topo.run(s.topo.ns.r1, 'ip', ['addr', 'del', `${r1Wan}/24`, 'dev', 'wan']);
      await s.topo.run(s.topo.ns.r1, 'ip', ['addr', 'add', `${to}/24`, 'dev', 'wan']);
      r1Wan = to;
    }
    /** Waits until `sleep <nap>` runs on the agent (the CLI has connected and sent it). */
    async function commandRunning(nap: string): Promise<void> {
      const deadline = Date.now() + 60_000;
      while (spawnSync('pgrep', ['-f', `^sleep ${nap}$`]).status !== 0) {
        if (Date.now() > deadline) throw new Error(`sleep ${nap} never started on the agent`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    function parseRun(result: { stdout: string }) {
      return JSON.parse(result.stdout) as { results: { status: string; exit: number; stdout: string }[] };
    }

    it("restarts ICE when the agent's network changes mid-command: the same session goes on", async () => {
      const s = stack();
      const nap = `22.${Date.now() % 100000}1`;
      const running = s.cli(['run', 'tag:site=one', '-v', '--json', '--', `echo before; sleep ${nap}; echo after`], 120_000);
      await commandRunning(nap);
      await renumberRouter1('203.0.113.21');
      const result = await running;
      expect(result.code, result.output).toBe(0);
      expect(parseRun(result).results).toEqual([expect.objectContaining({ status: 'ok', exit: 0, stdout: 'before\nafter\n' })]);
      // No reconnect was needed: the restart kept the data channel and the secure session.
      expect(result.output).not.toMatch(/connection lost/);
      expect(result.output).toMatch(/\[rtc-ice-restart\] .*\n(.*\n)*\[rtc-ice-restarted\] /); // -v shows it
      expect(s.agent.output()).toMatch(/"event":"rtc-ice-restart-answered"/);
      const again = await s.cli(['run', 'tag:site=one', '--', 'echo still-here']);
      expect(again.code, again.output).toBe(0);
      expect(again.stdout).toContain('still-here');
    }, 180_000);

    it('when the restart cannot happen (signaling down too), connects afresh and reattaches to the command', async () => {
      const s = stack();
      const nap = `40.${Date.now() % 100000}2`;
      const running = s.cli(['run', 'tag:site=one', '--json', '--', `echo before; sleep ${nap}; echo after`], 150_000);
      await commandRunning(nap);
      // The signaling server goes away for 28 s as the network changes: the restart offer
      // cannot reach the agent, the link is given up, and the CLI dials again once it is back.
      const outage = s.restartSignal(28_000);
      await renumberRouter1('203.0.113.31');
      await outage;
      const result = await running;
      expect(result.code, result.output).toBe(0);
      expect(parseRun(result).results).toEqual([expect.objectContaining({ status: 'ok', exit: 0, stdout: 'before\nafter\n' })]);
      expect(result.output).toMatch(/connection lost while the command runs; reconnecting/);
      expect(result.output).toMatch(/reconnected and collected the result/);
    }, 240_000);
  });

  describe('a jumbo-frame host (MTU 9000) behind a 1500-byte link', () => {
    const stack = stackFor({ nat1: 'masquerade', nat2: 'masquerade', siteMtu2: 9000 });

    it('loses the jumbo probe (no ICMP comes back), falls back to 1,380-byte packets, and the push is intact', async () => {
      const s = stack();
      const sizes = await sizesAndPush(s);
      expect(sizes.cli).toMatchObject({
        payload: 1380,
        mtu: 9000,
        probes: [
          { payload: 8880, ok: false },
          { payload: 1380, ok: true },
        ],
        localAddress: s.topo.addr.s2,
      });
      // The agent's pair may be the one whose candidate says 127.0.0.1 (werift binds every
      // candidate's socket to the wildcard address); its packets still leave from eth0.
      expect(sizes.agent).toMatchObject({ payload: 1380, mtu: 1500, probes: [{ payload: 1380, ok: true }], localAddress: s.topo.addr.s1 });
    });
  });

  describe('symmetric-like NAT (MASQUERADE --random-fully) on both sides', () => {
    const stack = stackFor({ nat1: 'random-fully', nat2: 'random-fully' });

    it('connects through TURN (the pair is relayed), then runs a command and pushes a file', async () => {
      const s = stack();
      const { path } = await ping(s);
      expect(path).toMatchObject({ relayed: true });
      // Relayed: werift's 1,200-byte packets, nothing probed (the TURN hop's path is unknown).
      const sizes = await sizesAndPush(s);
      expect(sizes.cli).toMatchObject({ payload: 1200, probes: [] });
      expect(sizes.agent).toMatchObject({ payload: 1200, probes: [] });
      expect((await probe(s)).line).toMatch(/relayed \w+->\w+\/(udp|tcp)\s+\d/);
      expect(turnLog(s)).toMatch(/incoming packet ALLOCATE processed, success/);
      expect(turnLog(s)).toMatch(/incoming packet CHANNEL_BIND processed, success/);
      await runAndPush(s);
    });
  });

  describe("UDP blocked at the CLI's site", () => {
    const stack = stackFor({ nat1: 'masquerade', nat2: 'masquerade', blockUdp2: true });

    it('connects through TURN over TCP, then runs a command and pushes a file', async () => {
      const s = stack();
      const { path } = await ping(s);
      expect(path).toMatchObject({ relayed: true, local: 'relay', protocol: 'tcp' });
      await runAndPush(s);
    });
  });
  describe("UDP blocked at the CLI's site, TURN offered only over TLS (turns:)", () => {
    const stack = stackFor({ nat1: 'masquerade', nat2: 'masquerade', blockUdp2: true, turnTls: true });

    it('connects through TURN over TLS, then runs a command and pushes a file', async () => {
      const s = stack();
      const { path } = await ping(s);
      expect(path).toMatchObject({ relayed: true, local: 'relay', protocol: 'tcp' });
      // coturn saw the allocation arrive over TLS (its session line names the TLS version).
      expect(turnLog(s)).toMatch(/session \d+: new, realm=<flotilla\.test>, username=<\d+:[a-z2-7]{52}>, .*cipher=\S+, method=TLSv1\.[23]/);
      await runAndPush(s);
    });
  });
});
