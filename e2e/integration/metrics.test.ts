// Host metrics with a real agent sampling every second: its memory and root filesystem agree with
// /proc and df, a known byte count sent over a veth pair into a network namespace the test makes
// shows in that interface's counters, `flotilla top` prints the host once when stdout is a pipe
// and runs live in a terminal (tmux), and the history survives a restart of the agent.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { cli, killAll, removeDir, restartAgent, ROOT, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let agentDir: string;
let agent: Proc & { id: string };
const SUFFIX = String(process.pid % 100000);
const NETNS = `flt-metrics-${SUFFIX}`;
const VETH = `mta${SUFFIX}`;
const PEER = `mtb${SUFFIX}`;
const OCTET = 1 + (process.pid % 250);
const TMUX = `flt-metrics-${SUFFIX}`;
/** The host's name in tables (its hostname; the agent runs on this machine). */
const HOST = hostname();

interface Sample {
  t: number;
  values: Record<string, number>;
  totals: Record<string, number>;
}
interface History {
  kind: 'history';
  start: number;
  step: number;
  series: Record<string, { avg: (number | null)[]; max: (number | null)[] }>;
  latest?: Sample;
}
interface Report {
  results: { id: string; hostname: string; status: string; data?: History }[];
}

async function metrics(args: string[] = []): Promise<History> {
  const result = await cli(admin, ['metrics', '*', ...args, '--json']);
  expect(result.code, result.stderr).toBe(0);
  const report = JSON.parse(result.stdout) as Report;
  expect(report.results).toHaveLength(1);
  return report.results[0]!.data!;
}

/** The newest sample once one taken after `after` (ms) is in. */
async function sampleAfter(after: number, series?: string): Promise<Sample> {
  for (let i = 0; i < 40; i++) {
    const latest = (await metrics(series ? ['--series', series] : [])).latest;
    if (latest && latest.t > after) return latest;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no sample after ${after}`);
}

function sh(command: string): void {
  execFileSync('sh', ['-c', command], { stdio: 'pipe' });
}

beforeAll(async () => {
  base = await tempDir('metrics');
  admin = join(base, 'admin');
  agentDir = join(base, 'agent');
  const signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'ops-admin'])).code).toBe(0);
  const token = (JSON.parse((await cli(admin, ['token', 'create', '--json'])).stdout) as { token: string }).token;
  // Sampling every second, so the test waits for seconds rather than for the default five.
  await mkdir(agentDir, { recursive: true });
  await writeFile(join(agentDir, 'config.json'), JSON.stringify({ metrics: { intervalSeconds: 1 } }));
  // The veth pair exists before the agent starts; the peer end lives in a namespace of its own.
  sh(`ip netns add ${NETNS}`);
  sh(`ip link add ${VETH} type veth peer name ${PEER}`);
  sh(`ip link set ${PEER} netns ${NETNS}`);
  // No IPv6: its router and multicast listener messages would add bytes the test did not send.
  sh(`sysctl -qw net.ipv6.conf.${VETH}.disable_ipv6=1 || true`);
  sh(`ip netns exec ${NETNS} sh -c 'sysctl -qw net.ipv6.conf.${PEER}.disable_ipv6=1 || true'`);
  sh(`ip addr add 10.251.${OCTET}.1/30 dev ${VETH} && ip link set ${VETH} up`);
  sh(`ip netns exec ${NETNS} sh -c 'ip addr add 10.251.${OCTET}.2/30 dev ${PEER} && ip link set ${PEER} up && ip link set lo up'`);
  agent = await startAgent(agentDir, token, ['--tag', 'name=metrics-host']);
  for (let i = 0; i < 100; i++) {
    const hosts = await cli(admin, ['hosts', '--json']);
    const list = hosts.code === 0 ? (JSON.parse(hosts.stdout) as { id: string; status: string }[]) : [];
    if (list.some((h) => h.id === agent.id && h.status === 'online')) break;
    await new Promise((r) => setTimeout(r, 300));
  }
}, 120_000);

afterAll(async () => {
  spawnSync('tmux', ['kill-session', '-t', TMUX], { stdio: 'ignore' });
  await killAll();
  spawnSync('ip', ['link', 'del', VETH], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'del', NETNS], { stdio: 'ignore' });
  if (base) await removeDir(base);
});

describe('metrics', () => {
  it('reports memory within 1 % of /proc/meminfo and the root filesystem within 1 % of df', async () => {
    const sample = await sampleAfter(Date.now());
    const meminfo = await readFile('/proc/meminfo', 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(meminfo)![1]) * 1024;
    const total = kb('MemTotal');
    expect(sample.values['mem.total']).toBe(total);
    expect(Math.abs(sample.values['mem.used']! - (total - kb('MemAvailable')))).toBeLessThan(total * 0.01);
    const used = Number(execFileSync('df', ['-B1', '--output=used', '/'], { encoding: 'utf8' }).split('\n')[1]!.trim());
    expect(sample.values['fs:/:used'], JSON.stringify(Object.keys(sample.values))).toBeDefined();
    expect(Math.abs(sample.values['fs:/:used']! - used)).toBeLessThan(used * 0.01);
    expect(sample.values['fs:/:size']).toBeGreaterThan(sample.values['fs:/:used']!);
    expect(sample.values['cpu']).toBeGreaterThanOrEqual(0);
    expect(sample.values['procs']).toBeGreaterThan(1);
  });

  it('counts a known number of bytes sent over a veth pair into a namespace the test made', async () => {
    const series = `net:${VETH}:*`;
    const before = await sampleAfter(Date.now(), series);
    expect(before.totals[`net:${VETH}:tx_bytes`], JSON.stringify(before)).toBeDefined();
    const COUNT = 25;
    const SIZE = 1000;
    const socket = createSocket('udp4');
    for (let i = 0; i < COUNT; i++) {
      await new Promise<void>((resolve, reject) => socket.send(Buffer.alloc(SIZE, i), 9, `10.251.${OCTET}.2`, (error) => (error ? reject(error) : resolve())));
    }
    socket.close();
    const sentAt = Date.now();
    const after = await sampleAfter(sentAt + 500, series);
    const packets = after.totals[`net:${VETH}:tx_packets`]! - before.totals[`net:${VETH}:tx_packets`]!;
    const bytes = after.totals[`net:${VETH}:tx_bytes`]! - before.totals[`net:${VETH}:tx_bytes`]!;
    // Each datagram is SIZE bytes plus UDP (8), IPv4 (20) and Ethernet (14) headers; the one
    // extra frame allowed for is the ARP request that found the peer (42 bytes).
    expect(packets).toBeGreaterThanOrEqual(COUNT);
    expect(packets).toBeLessThanOrEqual(COUNT + 2);
    expect(bytes).toBeGreaterThanOrEqual(COUNT * (SIZE + 42));
    expect(bytes).toBeLessThanOrEqual(COUNT * (SIZE + 42) + 2 * 64);
    // The history has the rate too.
    const history = await metrics(['--since', '1m', '--series', `net:${VETH}:tx_Bps`]);
    expect(Math.max(...history.series[`net:${VETH}:tx_Bps`]!.max.map((v) => v ?? 0))).toBeGreaterThan(0);
  });

  it('prints a table of latest values, and min/avg/max with --since', async () => {
    const now = await cli(admin, ['metrics', 'tag:name=metrics-host']);
    expect(now.code, now.stderr).toBe(0);
    expect(now.stdout).toMatch(new RegExp(`== ${HOST} cpu [\\d.]+% · mem [\\d.]+%`));
    expect(now.stdout).toMatch(/^mem\.total\s+[\d.]+G/m);
    const range = await cli(admin, ['metrics', '*', '--since', '1m', '--series', 'cpu', '--series', 'mem.*']);
    expect(range.stdout).toMatch(/SERIES\s+NOW\s+MIN\s+AVG\s+MAX/);
    expect(range.stdout).toMatch(/^cpu\s+[\d.]+%\s+[\d.]+%\s+[\d.]+%\s+[\d.]+%/m);
    expect((await cli(admin, ['metrics', '*', '--since', 'yesterday'])).stderr).toMatch(/"yesterday" is not a duration/);
  });

  it('top prints the hosts once when stdout is not a terminal', async () => {
    const result = await cli(admin, ['top', '*']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/HOST\s+CPU%▼\s+LOAD\s+MEM%\s+DISK%/);
    expect(result.stdout).toMatch(new RegExp(`${HOST}\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+\\s+[\\d.]+\\s+/\\s+\\S+\\s+\\S+\\s+live`));
  });

  it('top runs live in a terminal: c/m/d sort, q quits', async () => {
    const command = `FLOTILLA_HOME='${admin}' NO_COLOR=1 '${process.execPath}' '${join(ROOT, 'bin', 'flotilla.js')}' top '*'; echo top-exited-$?; sleep 60`;
    sh(`tmux new-session -d -s ${TMUX} -x 120 -y 30 "${command.replace(/"/g, '\\"')}"`);
    const screen = () => execFileSync('tmux', ['capture-pane', '-p', '-t', TMUX], { encoding: 'utf8' });
    const waitFor = async (pattern: RegExp) => {
      for (let i = 0; i < 100; i++) {
        if (pattern.test(screen())) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`not on screen: ${pattern}\n${screen()}`);
    };
    await waitFor(new RegExp(`${HOST}\\s+[\\d.]+.*live`));
    await waitFor(/CPU%▼/);
    sh(`tmux send-keys -t ${TMUX} m`);
    await waitFor(/MEM%▼/);
    sh(`tmux send-keys -t ${TMUX} d`);
    await waitFor(/DISK%▼/);
    sh(`tmux send-keys -t ${TMUX} q`);
    await waitFor(/top-exited-0/);
  });

  it('keeps its history across a restart of the agent', async () => {
    const before = await metrics(['--since', '5m', '--series', 'cpu']);
    const points = before.series['cpu']!.avg.filter((v) => v !== null).length;
    expect(points).toBeGreaterThan(0);
    expect(await agent.stop('SIGTERM')).toBe(0);
    const stoppedAt = Date.now();
    const again = restartAgent(agentDir);
    await again.waitFor(/"event":"signaling-open"/);
    const after = await metrics(['--since', '5m', '--series', 'cpu']);
    // Buckets from before the restart are still there, with the same values.
    const kept = after.series['cpu']!.avg.filter((v, i) => v !== null && after.start + (i + 1) * after.step <= stoppedAt);
    expect(kept.length).toBeGreaterThanOrEqual(points - 1);
    const files = await readFile(join(agentDir, 'metrics', 'series.json'), 'utf8');
    expect(JSON.parse(files)).toContain('cpu');
  });
});
