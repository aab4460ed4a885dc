// A small Internet in network namespaces, for the NAT tests (root only):
//
//   fl-s1-<id> 10.71.1.2 ── 10.71.1.1 fl-r1-<id> 203.0.113.11 ─┐
//                                   (NAT)                         ├─ bridge in fl-pub-<id> 203.0.113.1
//   fl-s2-<id> 10.71.2.2 ── 10.71.2.1 fl-r2-<id> 203.0.113.12 ─┘   (signaling, STUN, coturn)
//
// The "public" segment uses the documentation range 203.0.113.0/24 and the sites 10.71.x.0/24;
// both exist only inside these namespaces, which have no link to the namespace that made them,
// so no packet can leave. Each router masquerades its site behind its WAN address, either
// endpoint-independently (`MASQUERADE`) or with a random port per flow (`--random-fully`,
// symmetric-like). Names carry a random suffix so runs never collide; `destroy()` kills every
// process started here (by pid) and deletes the namespaces, and is safe to call twice.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { watchOutput } from '../harness.ts';

export type NatMode = 'masquerade' | 'random-fully';

export interface TopologyOptions {
  /** NAT on router 1 (site 1) and router 2 (site 2). */
  nat1: NatMode;
  nat2: NatMode;
  /** Drop all UDP forwarded through a site's router (both directions). */
  blockUdp1?: boolean;
  blockUdp2?: boolean;
  /**
   * MTU of site 2's own interface (the CLI's host), while its router's side of the link stays
   * at 1500: a jumbo-frame host on a 1500-byte link, where bigger frames vanish without an ICMP.
   */
  siteMtu2?: number;
}

/** A process started inside a namespace, with its output captured. */
export interface NsProc {
  child: ChildProcess;
  pid: number;
  /** stdout and stderr, interleaved. */
  output(): string;
  /** stdout alone. */
  stdout(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface Topology {
  id: string;
  ns: { pub: string; r1: string; r2: string; s1: string; s2: string };
  /** Addresses: the public server, the routers' WAN sides, the sites' hosts. */
  addr: { pub: string; r1Wan: string; r2Wan: string; s1: string; s2: string };
  /** Starts `command args…` inside namespace `ns`. */
  start(ns: string, command: string, args: string[], env?: Record<string, string>): NsProc;
  /** Runs a command in `ns` to completion. */
  run(
    ns: string,
    command: string,
    args: string[],
    options?: { env?: Record<string, string>; timeoutMs?: number },
  ): Promise<{ code: number | null; stdout: string; output: string }>;
  destroy(): Promise<void>;
}

/** Why namespaces cannot be made here, or undefined when they can (root with ip and iptables). */
export function natUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces (CI runs as root)';
  for (const [tool, args] of [
    ['ip', ['-V']],
    ['iptables', ['--version']],
    ['turnserver', ['--version']],
  ] as const) {
    const result = spawnSync(tool, [...args], { stdio: 'ignore' });
    if (result.error || result.status !== 0) return `needs ${tool} (apt-get install ${tool === 'ip' ? 'iproute2' : tool === 'turnserver' ? 'coturn' : tool})`;
  }
  const probe = `fl-probe-${randomBytes(3).toString('hex')}`;
  const made = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (made.status !== 0) return `cannot create a network namespace: ${made.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

function sh(args: string[]): void {
  const result = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${args.join(' ')} failed: ${result.stderr || result.error?.message || result.status}`);
}

/** Builds the namespaces, links, addresses, routes and NAT rules. Throws (after cleaning up) on failure. */
export function createTopology(options: TopologyOptions): Topology {
  const id = randomBytes(3).toString('hex');
  const ns = { pub: `fl-pub-${id}`, r1: `fl-r1-${id}`, r2: `fl-r2-${id}`, s1: `fl-s1-${id}`, s2: `fl-s2-${id}` };
  const addr = { pub: '203.0.113.1', r1Wan: '203.0.113.11', r2Wan: '203.0.113.12', s1: '10.71.1.2', s2: '10.71.2.2' };
  const made: string[] = [];
  const procs = new Set<NsProc>();
  const inNs = (name: string, ...args: string[]) => sh(['ip', 'netns', 'exec', name, ...args]);
  // veth names are limited to 15 characters; they live inside the namespaces once moved.
  const veth = (a: string, aNs: string, b: string, bNs: string) => {
    sh(['ip', 'link', 'add', `${a}${id}`, 'type', 'veth', 'peer', 'name', `${b}${id}`]);
    sh(['ip', 'link', 'set', `${a}${id}`, 'netns', aNs]);
    sh(['ip', 'link', 'set', `${b}${id}`, 'netns', bNs]);
    inNs(aNs, 'ip', 'link', 'set', `${a}${id}`, 'name', a);
    inNs(bNs, 'ip', 'link', 'set', `${b}${id}`, 'name', b);
  };

  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (destroyed ??= (async () => {
      await Promise.all([...procs].map((p) => p.stop()));
      // Whatever is still inside our namespaces was started by us (a browser's helpers, say).
      for (const name of made) {
        const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '';
        for (const pid of pids
          .split('\n')
          .map(Number)
          .filter((n) => Number.isInteger(n) && n > 1)) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      for (const name of made.reverse()) spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    })());

  try {
    for (const name of Object.values(ns)) {
      sh(['ip', 'netns', 'add', name]);
      made.push(name);
      inNs(name, 'ip', 'link', 'set', 'lo', 'up');
    }
    // The public segment: a bridge in fl-pub with both routers' WAN links on it.
    inNs(ns.pub, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    inNs(ns.pub, 'ip', 'addr', 'add', `${addr.pub}/24`, 'dev', 'br0');
    inNs(ns.pub, 'ip', 'link', 'set', 'br0', 'up');
    for (const [n, router, wanAddr, site, siteAddr, blockUdp, nat] of [
      [1, ns.r1, addr.r1Wan, ns.s1, addr.s1, options.blockUdp1, options.nat1],
      [2, ns.r2, addr.r2Wan, ns.s2, addr.s2, options.blockUdp2, options.nat2],
    ] as const) {
      veth('pw', ns.pub, 'wan', router); // becomes pw in pub; renamed per router below
      inNs(ns.pub, 'ip', 'link', 'set', 'pw', 'name', `pw${n}`);
      inNs(ns.pub, 'ip', 'link', 'set', `pw${n}`, 'master', 'br0');
      inNs(ns.pub, 'ip', 'link', 'set', `pw${n}`, 'up');
      inNs(router, 'ip', 'addr', 'add', `${wanAddr}/24`, 'dev', 'wan');
      inNs(router, 'ip', 'link', 'set', 'wan', 'up');
      veth('lan', router, 'eth0', site);
      inNs(router, 'ip', 'addr', 'add', `10.71.${n}.1/24`, 'dev', 'lan');
      inNs(router, 'ip', 'link', 'set', 'lan', 'up');
      inNs(site, 'ip', 'addr', 'add', `${siteAddr}/24`, 'dev', 'eth0');
      inNs(site, 'ip', 'link', 'set', 'eth0', 'up');
      if (n === 2 && options.siteMtu2) inNs(site, 'ip', 'link', 'set', 'eth0', 'mtu', String(options.siteMtu2));
      inNs(site, 'ip', 'route', 'add', 'default', 'via', `10.71.${n}.1`);
      inNs(router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
      inNs(router, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan', '-j', 'MASQUERADE', ...(nat === 'random-fully' ? ['--random-fully'] : []));
      // A home router: nothing from outside reaches the site unless it answers a flow from inside.
      inNs(router, 'iptables', '-A', 'FORWARD', '-i', 'wan', '-m', 'conntrack', '!', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'DROP');
      // Unsolicited packets to the router itself are dropped too, as home routers do. This also
      // matters for hole punching: a peer's check that arrives before our own outgoing check
      // would otherwise leave a conntrack entry for its port pair, and MASQUERADE would then
      // map our outgoing check to another port (the mapping would look symmetric).
      inNs(router, 'iptables', '-A', 'INPUT', '-i', 'wan', '-m', 'conntrack', '!', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'DROP');
      if (blockUdp) {
        inNs(router, 'iptables', '-I', 'FORWARD', '1', '-p', 'udp', '-j', 'DROP');
      }
    }
  } catch (error) {
    for (const name of made.reverse()) spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    throw error;
  }

  const start = (name: string, command: string, args: string[], env: Record<string, string> = {}): NsProc => {
    // `ip netns exec` execs the command, so the pid is the command's own.
    const child = spawn('ip', ['netns', 'exec', name, command, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const watched = watchOutput(child, `output of ${command} in ${name}`);
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    const proc: NsProc = {
      child,
      pid: child.pid ?? -1,
      output: watched.output,
      stdout: () => out,
      exited,
      waitFor: watched.waitFor,
      async stop() {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          try {
            process.kill(child.pid, 'SIGTERM');
          } catch {
            // already gone
          }
          const timer = setTimeout(() => {
            try {
              if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
            } catch {
              // already gone
            }
          }, 5_000);
          await exited;
          clearTimeout(timer);
        }
        procs.delete(proc);
      },
    };
    procs.add(proc);
    void exited.then(() => procs.delete(proc));
    return proc;
  };

  const run: Topology['run'] = async (name, command, args, o = {}) => {
    const proc = start(name, command, args, o.env);
    const timer = setTimeout(() => void proc.stop(), o.timeoutMs ?? 90_000);
    const code = await proc.exited;
    clearTimeout(timer);
    return { code, stdout: proc.stdout(), output: proc.output() };
  };

  return { id, ns, addr, start, run, destroy };
}
