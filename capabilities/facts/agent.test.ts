import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { arch } from 'node:os';
import { handler as factsHandler, parseOsRelease } from './agent.ts';
import { parseFacts } from '../../shared/controller/hosts.ts';
import type { TaskContext } from '../../agent/src/task-context.ts';

describe('parseOsRelease', () => {
  it('reads Debian, Ubuntu and unquoted forms', () => {
    const debian = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';
    expect(parseOsRelease(debian)).toEqual({ prettyName: 'Debian GNU/Linux 12 (bookworm)', id: 'debian', versionId: '12' });
    const ubuntu = 'NAME="Ubuntu"\nVERSION_ID=\'22.04\'\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME="Ubuntu 22.04.4 LTS"\n';
    expect(parseOsRelease(ubuntu)).toEqual({ prettyName: 'Ubuntu 22.04.4 LTS', id: 'ubuntu', versionId: '22.04' });
  });

  it('leaves out what is missing or empty (Arch has no VERSION_ID), and lower-cases the ID', () => {
    expect(parseOsRelease('NAME="Arch Linux"\nID=arch\nBUILD_ID=rolling\n')).toEqual({ id: 'arch' });
    expect(parseOsRelease('ID=Fedora\nVERSION_ID=""\n')).toEqual({ id: 'fedora' });
    expect(parseOsRelease('')).toEqual({});
  });
});

describe('facts', () => {
  it("reports this machine's distro and version, which parseFacts accepts", async () => {
    const ctx = { config: { tags: {}, region: undefined }, state: { remoteTags: {}, enrollment: undefined } } as unknown as TaskContext;
    const result = await factsHandler({ type: 'facts', id: 'r1' }, ctx);
    const facts = parseFacts(JSON.parse(JSON.stringify(result.data)) as Record<string, unknown>);
    // Debian here (and in CI): the file exists, so the facts must carry its ID and VERSION_ID.
    const expected = existsSync('/etc/os-release') ? parseOsRelease(readFileSync('/etc/os-release', 'utf8')) : {};
    if (existsSync('/etc/os-release')) expect(expected.id).toMatch(/^[a-z]/);
    expect(facts.distro).toBe(expected.id);
    expect(facts.distroVersion).toBe(expected.versionId);
    expect(facts.arch).toBe(arch());
  });

  it('parseFacts accepts facts from an agent that predates distro and distroVersion', () => {
    const old = {
      hostname: 'h',
      os: 'linux',
      release: 'Debian GNU/Linux 12 (bookworm)',
      arch: 'x64',
      cpus: 2,
      memoryBytes: 1,
      uptimeS: 1,
      ips: [],
      agentVersion: '0.1.0',
      tags: {},
      region: null,
    };
    const facts = parseFacts(old);
    expect(facts.distro).toBeUndefined();
    expect(facts.distroVersion).toBeUndefined();
    expect(() => parseFacts({ ...old, distro: 42 })).toThrow();
  });
});
