// The agent's limit on handshakes per device per minute, end to end: a CLI that dials too
// often is told why (rate-limited, and when to try again) rather than seeing a channel close,
// and the refusal is in the agent's audit log (refused attempts not extending the wait is in
// agent/src/handshake-limit.test.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, removeDir, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

const LIMIT = 3;
let base: string;
let admin: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let agent: Proc & { id: string };
let stateDir: string;

beforeAll(async () => {
  base = await tempDir('limit');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'limit-admin'])).code).toBe(0);
  const token = (JSON.parse((await cli(admin, ['token', 'create', '--json'])).stdout) as { token: string }).token;
  const config = join(base, 'agent.json');
  await writeFile(config, JSON.stringify({ handshakesPerMinute: LIMIT }));
  stateDir = join(base, 'agent');
  agent = await startAgent(stateDir, token, ['--config', config, '--allow-root', base]);
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

type RunResult = { status: string; error: { code: string; detail?: string } | null };

async function runOnce(): Promise<RunResult | undefined> {
  const r = await cli(admin, ['run', '*', '--no-persist', '--json', '--', 'true']);
  return (JSON.parse(r.stdout) as { results: RunResult[] }).results[0];
}

describe('handshakes per device per minute (agent setting handshakesPerMinute)', () => {
  it('lets the first ones through, then refuses with rate-limited and says when to try again', async () => {
    const outcomes: (RunResult | undefined)[] = [];
    for (let i = 0; i < LIMIT + 2; i++) outcomes.push(await runOnce());
    // Each cold run is one handshake (the first also proves the join token): LIMIT succeed,
    // then the refusals start, and every refusal says why.
    const firstRefused = outcomes.findIndex((o) => o?.status !== 'ok');
    expect(firstRefused).toBe(LIMIT);
    for (const refused of outcomes.slice(firstRefused)) {
      expect(refused?.error).toMatchObject({
        code: 'rate-limited',
        detail: expect.stringMatching(new RegExp(`more than ${LIMIT} connections from this device in a minute; try again in \\d+ s`)),
      });
    }
    const audit = await readFile(join(stateDir, 'audit.log'), 'utf8');
    expect(audit).toMatch(/"request":"handshake","outcome":"refused","code":"rate-limited"/);
    expect(agent.output()).toMatch(/"event":"handshake-rate-limited"/);
  }, 90_000);
});
