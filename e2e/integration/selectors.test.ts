// Selectors end to end (issue 17): facts an agent reports over the data channel (distro,
// release, arch, addresses) select it, saved selectors live in the CLI home and resolve as
// @name, and Salt syntax is refused in one line with the Flotilla form. Runs inside
// scripts/in-netns.mjs, whose veth pair gives every agent 10.213.0.1 and 10.213.0.2.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { arch } from 'node:os';
import { join } from 'node:path';
import { parseOsRelease } from '../../capabilities/facts/agent.ts';
import { cli, killAll, removeDir, startAgent, startSignal, tempDir, type Proc } from '../harness.ts';

let base: string;
let admin: string;
let signal: Awaited<ReturnType<typeof startSignal>>;
let web: Proc & { id: string };
let db: Proc & { id: string };

// This machine's os-release, as the agents will report it (Debian 12 here and in CI).
const os = parseOsRelease(readFileSync('/etc/os-release', 'utf8'));
// The name uname uses for Node's arch(), to check the aliases over the wire.
const unameArch = ({ x64: 'x86_64', arm64: 'aarch64' } as Record<string, string>)[arch()] ?? arch();

beforeAll(async () => {
  base = await tempDir('selectors');
  admin = join(base, 'admin');
  signal = await startSignal(join(base, 'signal'));
  expect((await cli(admin, ['init', '--signal', signal.url, '--name', 'sel-admin'])).code).toBe(0);
  const token = (JSON.parse((await cli(admin, ['token', 'create', '--uses', '2', '--json'])).stdout) as { token: string }).token;
  web = await startAgent(join(base, 'web'), token, ['--tag', 'role=web', '--region', 'eu-west']);
  db = await startAgent(join(base, 'db'), token, ['--tag', 'role=db', '--region', 'us-east']);
  // The first contact fetches each agent's facts into hosts.json.
  expect((await cli(admin, ['hosts', '--json'])).code).toBe(0);
}, 90_000);

afterAll(async () => {
  await web?.stop();
  await db?.stop();
  await signal?.stop();
  await killAll();
  await removeDir(base);
});

type Run = { code: number | null; ids: string[]; stderr: string };

async function run(selector: string): Promise<Run> {
  const r = await cli(admin, ['run', selector, '--no-persist', '--json', '--', 'true']);
  const parsed = (r.stdout ? JSON.parse(r.stdout) : {}) as { results?: { id: string }[]; error?: { message: string } };
  const ids = r.code === 0 ? (parsed.results ?? []).map((x) => x.id).sort() : [];
  // With --json an error is JSON on stdout; as a line it reads as it would on stderr without --json.
  return { code: r.code, ids, stderr: r.stderr + (parsed.error ? `error: ${parsed.error.message}\n` : '') };
}

describe('selectors against real agents', () => {
  it('selects by the distro, release, arch and addresses the agents report', async () => {
    const both = [web.id, db.id].sort();
    expect(os.id).toBeDefined();
    expect((await run(`distro:${os.id}`)).ids).toEqual(both);
    expect((await run(`release:${os.versionId} and arch:${unameArch}`)).ids).toEqual(both);
    expect((await run('ip:10.213.0.0/24 and tag:role=web')).ids).toEqual([web.id]);
    expect((await run('region:eu-west,us-east')).ids).toEqual(both);
    const none = await run('ip:192.0.2.0/24');
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('No host matches that selector. (ip:192.0.2.0/24)');
  }, 60_000);

  it('saves, lists, uses and removes a selector as @name', async () => {
    const saved = await cli(admin, ['selector', 'save', 'webs', 'tag:role=web']);
    expect(saved).toMatchObject({ code: 0, stdout: 'Saved @webs: tag:role=web\n' });
    expect((await cli(admin, ['selector', 'save', 'all-eu', '@webs', 'and', 'region:eu-*'])).code).toBe(0);
    const list = await cli(admin, ['selector', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { name: string; selector: string }[]).map((s) => [s.name, s.selector])).toEqual([
      ['webs', 'tag:role=web'],
      ['all-eu', '@webs and region:eu-*'],
    ]);
    expect((await run('@all-eu')).ids).toEqual([web.id]);
    expect((await run('@webs or tag:role=db')).ids).toEqual([web.id, db.id].sort());

    const inUse = await cli(admin, ['selector', 'rm', 'webs']);
    expect(inUse.code).toBe(2);
    expect(inUse.stderr).toContain('@webs is used by @all-eu; remove or change it first, or add --force');
    expect((await cli(admin, ['selector', 'rm', 'all-eu'])).code).toBe(0);
    expect((await cli(admin, ['selector', 'rm', 'webs'])).code).toBe(0);
    const gone = await run('@webs');
    expect(gone.code).toBe(2);
    expect(gone.stderr.trim()).toBe('error: The target selector could not be parsed. (no saved selector is named @webs)');
  }, 60_000);

  it('refuses a loop or an unknown name when saving', async () => {
    const unknown = await cli(admin, ['selector', 'save', 'a', '@b or web-1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe('error: The target selector could not be parsed. (no saved selector is named @b (used in @a))');
    expect((await cli(admin, ['selector', 'save', 'p', 'tag:role=web'])).code).toBe(0);
    expect((await cli(admin, ['selector', 'save', 'q', '@p'])).code).toBe(0);
    const loop = await cli(admin, ['selector', 'save', 'p', '@q or tag:role=db']);
    expect(loop.stderr.trim()).toBe('error: The target selector could not be parsed. (saved selectors refer to each other in a loop: @p → @q → @p)');
    expect((await run('@p')).ids).toEqual([web.id]);
    const bad = await cli(admin, ['selector', 'save', 'x', 'web-1,']);
    expect(bad.stderr).toContain('in saved selector @x ("web-1,"): empty item in comma list at position 7');
  }, 30_000);

  it('says a damaged selectors.json is damaged, in one line with its path', async () => {
    await writeFile(join(admin, 'selectors.json'), JSON.stringify({ webs: 'tag:role=web' }));
    const r = await cli(admin, ['selector', 'list']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `error: The configuration is invalid. (${join(admin, 'selectors.json')} is damaged: expected a list of saved selectors; fix or delete it (flotilla selector save writes it again))`,
    );
    // A run without an @name does not read the file.
    expect((await run('tag:role=db')).ids).toEqual([db.id]);
  }, 30_000);

  it('refuses Salt syntax with the Flotilla form, before connecting', async () => {
    const r = await run('G@os:Debian');
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `error: The target selector could not be parsed. (Salt's grain matcher "G@os:Debian" at position 1 is not Flotilla syntax: write distro:debian)`,
    );
  }, 30_000);
});
