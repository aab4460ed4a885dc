// Rolling runs through the CLI against ten real agents: a canary, then batches of three, stopping
// once more than one host has failed, and saying which hosts were never started.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { cli, killAll, removeDir, startProc, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
const agents: (Proc & { id: string })[] = [];
const FAILING = new Set([3, 7]);

interface Report {
  ok: number;
  total: number;
  stopped?: string;
  notStarted?: string[];
  results: { id: string; status: string; exit: number | null; error: { code: string; detail?: string } | null }[];
}

beforeAll(async () => {
  base = await tempDir('rolling');
  admin = join(base, 'admin');
  const signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'rolling-admin'])).code).toBe(0);
  const token = (JSON.parse((await cli(admin, ['token', 'create', '--uses', '10', '--json'])).stdout) as { token: string }).token;
  // Two agents run commands with ROLLING_FAIL set: `test -z "$ROLLING_FAIL"` fails on them only.
  const started = Array.from({ length: 10 }, (_, i) =>
    startProc('flotilla-agent', ['join', token, '--state-dir', join(base, `a${i}`), '--tag', `n=${i}`], FAILING.has(i) ? { ROLLING_FAIL: '1' } : {}),
  );
  for (const proc of started) {
    const match = await proc.waitFor(/Enrolled as ([a-z2-7]{52})/);
    agents.push(Object.assign(proc, { id: match[1]! }));
  }
  for (let i = 0; i < 200; i++) {
    const hosts = await cli(admin, ['hosts', '--json']);
    const list = hosts.code === 0 ? (JSON.parse(hosts.stdout) as { id: string; status: string }[]) : [];
    if (agents.every((a) => list.some((h) => h.id === a.id && h.status === 'online'))) break;
    await new Promise((r) => setTimeout(r, 500));
  }
}, 240_000);

afterAll(async () => {
  await killAll();
  if (base) await removeDir(base);
});

describe('rolling runs', () => {
  it('--canary 1 --batch 3 --max-fail 1 stops after the batch that crossed the limit and names the hosts never started', async () => {
    const result = await cli(admin, ['run', '*', '--canary', '1', '--batch', '3', '--max-fail', '1', '--json', '--', 'test -z "$ROLLING_FAIL"'], {
      timeoutMs: 120_000,
    });
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.total).toBe(10);
    const failing = new Set(agents.filter((_, i) => FAILING.has(i)).map((a) => a.id));
    // Results come in the order the hosts were planned: the canary, then batches of three.
    const order = report.results.map((r) => r.id);
    const batchOf = (index: number) => (index === 0 ? 0 : 1 + Math.floor((index - 1) / 3));
    const secondFailure = order.findIndex((id, i) => failing.has(id) && order.slice(0, i).some((x) => failing.has(x)));
    const lastStarted = Math.max(...order.map((_, i) => i).filter((i) => batchOf(i) === batchOf(secondFailure)));
    const neverStarted = order.slice(lastStarted + 1);
    expect(
      report.results
        .filter((r) => r.status === 'failed')
        .map((r) => r.id)
        .sort(),
    ).toEqual([...failing].sort());
    for (const r of report.results.slice(0, lastStarted + 1)) expect(r.status).toBe(failing.has(r.id) ? 'failed' : 'ok');
    expect(report.notStarted ?? []).toEqual(neverStarted);
    for (const r of report.results.slice(lastStarted + 1)) expect(r.error?.detail).toMatch(/^not started: 2 of 10 hosts failed, more than --max-fail 1 allows/);
    if (neverStarted.length) expect(report.stopped).toMatch(/stopped after batch \d of 4/);
    // The text form says the same on stderr.
    const text = await cli(admin, ['run', '*', '--canary', '1', '--batch', '3', '--max-fail', '1', '--', 'test -z "$ROLLING_FAIL"'], { timeoutMs: 120_000 });
    expect(text.stderr).toMatch(/^batch 1: /m);
    if (neverStarted.length) expect(text.stderr).toMatch(new RegExp(`not started \\(${neverStarted.length}\\):`));
  });

  it('refuses a mistyped rolling option as a usage error before connecting', async () => {
    const result = await cli(admin, ['run', '*', '--batch', 'half', '--', 'true']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--batch takes a number of hosts \(1 or more\) or a percentage, as in --batch 5 or --batch 25%; "half" is neither/);
  });
});
