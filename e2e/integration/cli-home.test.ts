// A damaged CLI home, with the real CLI and real files: each damage gives one sentence with the
// path and what to do, exit status 2, never a stack trace, a hang or a silent empty answer.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, killAll, removeDir, startSignal, tempDir } from '../harness.ts';

let base: string;
let admin: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let n = 0;

beforeAll(async () => {
  base = await tempDir('cli-home');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  for (const args of [
    ['init', '--signal', signal.url, '--name', 'test-admin'],
    ['token', 'create', '--json'],
  ]) {
    const r = await cli(admin, args);
    if (r.code !== 0) throw new Error(`flotilla ${args.join(' ')}: ${r.stderr}`);
  }
  // A host record as a CLI keeps it, so that hosts.json exists and has the real shape.
  const host = { id: 'a'.repeat(52), status: 'accepted', signPub: 'x', encPub: 'y', facts: undefined, firstSeen: 1, lastSeen: 1 };
  await writeFile(join(admin, 'hosts.json'), JSON.stringify([host]));
}, 60_000);

afterAll(async () => {
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

/** A copy of the admin home with `damage` applied; runs `args` in it. */
async function damagedHome(damage: (home: string) => Promise<void>, args: string[]) {
  const home = join(base, `home-${++n}`);
  await cp(admin, home, { recursive: true });
  await damage(home);
  const result = await cli(home, args, { timeoutMs: 20_000 });
  expect(result.stderr).not.toMatch(/\n\s+at |internal error/);
  expect(result.code).toBe(2);
  return { home, message: result.stderr.trim() };
}

describe('a damaged CLI home', () => {
  it('device.json empty', async () => {
    const { home, message } = await damagedHome((h) => writeFile(join(h, 'device.json'), ''), ['hosts']);
    expect(message).toBe(
      `error: The configuration is invalid. (${join(home, 'device.json')} is damaged (not JSON): restore it from a backup, or make this an admin device again with \`flotilla init --import <backup>\`)`,
    );
  });

  it('device.json a directory', async () => {
    const { home, message } = await damagedHome(
      async (h) => {
        await rm(join(h, 'device.json'));
        await mkdir(join(h, 'device.json'));
      },
      ['run', '*', '--', 'true'],
    );
    expect(message).toBe(
      `error: The configuration is invalid. (${join(home, 'device.json')} is a directory, where this device's keys (a file) belongs: move it out of the way)`,
    );
  });

  it('device.json with garbage keys', async () => {
    const { home, message } = await damagedHome(
      async (h) => {
        const device = JSON.parse(await readFile(join(h, 'device.json'), 'utf8')) as { identity: Record<string, unknown> };
        device.identity['signPriv'] = { kty: 'RSA', n: 'garbage', e: 'AQAB', d: 'garbage' };
        await writeFile(join(h, 'device.json'), JSON.stringify(device));
      },
      ['hosts'],
    );
    expect(message).toMatch(
      new RegExp(`^error: The configuration is invalid\\. \\(${join(home, 'device.json')} is damaged \\(.+\\): restore it from a backup`),
    );
  });

  it('hosts.json not a list', async () => {
    const { home, message } = await damagedHome((h) => writeFile(join(h, 'hosts.json'), '{"hosts": []}'), ['hosts']);
    expect(message).toBe(
      `error: The configuration is invalid. (${join(home, 'hosts.json')} is damaged (not a JSON list): fix or remove that entry (a removed host shows as pending when it next connects and must be accepted again))`,
    );
  });

  it('hosts.json with a wrong type in a record', async () => {
    const { home, message } = await damagedHome(
      async (h) => {
        const hosts = JSON.parse(await readFile(join(h, 'hosts.json'), 'utf8')) as Record<string, unknown>[];
        hosts[0]!['status'] = 5;
        await writeFile(join(h, 'hosts.json'), JSON.stringify(hosts));
      },
      ['run', '*', '--', 'true'],
    );
    expect(message).toMatch(new RegExp(`^error: .*${join(home, 'hosts.json')} is damaged \\(entry 1: status is not accepted, pending or rejected\\)`));
  });

  it('tokens.json with a wrong type in a record', async () => {
    const { home, message } = await damagedHome(
      async (h) => {
        const tokens = JSON.parse(await readFile(join(h, 'tokens.json'), 'utf8')) as Record<string, unknown>[];
        tokens[0]!['usedBy'] = 'nobody';
        await writeFile(join(h, 'tokens.json'), JSON.stringify(tokens));
      },
      ['token', 'list'],
    );
    expect(message).toMatch(
      new RegExp(`^error: .*${join(home, 'tokens.json')} is damaged \\(entry 1: usedBy is not a list of host ids\\): fix or remove that entry`),
    );
  });
});
