import { describe, it, expect } from 'vitest';
import { fingerprint } from '../identity/crypto.ts';
import { FlotillaError } from '../wire/errors.ts';
import { toSelectable, type HostFacts, type HostRecord } from './hosts.ts';
import { resolveSelector } from './selector.ts';

const facts: HostFacts = {
  hostname: 'web-1',
  os: 'linux',
  release: 'Debian GNU/Linux 12 (bookworm)',
  distro: 'debian',
  distroVersion: '12',
  arch: 'x64',
  cpus: 2,
  memoryBytes: 1,
  uptimeS: 1,
  ips: ['10.0.0.11'],
  agentVersion: '0.1.0',
  tags: { role: 'web' },
  region: 'eu-west',
};

async function record(name: string, withFacts: boolean): Promise<HostRecord> {
  const id = await fingerprint(new TextEncoder().encode(name));
  return { id, status: 'accepted', signPub: '', encPub: '', facts: withFacts ? { ...facts, hostname: name } : undefined, firstSeen: 0, lastSeen: 0 };
}

describe('toSelectable', () => {
  it('carries the facts selectors match on', async () => {
    const r = await record('web-1', true);
    expect(toSelectable(r, true)).toEqual({
      id: r.id,
      hostname: 'web-1',
      os: 'linux',
      region: 'eu-west',
      tags: { role: 'web' },
      online: true,
      ips: ['10.0.0.11'],
      distro: 'debian',
      distroVersion: '12',
      arch: 'x64',
    });
  });

  // Before issue 17 a host never contacted was named by its short id, so a glob could match it by id.
  it('gives a host never contacted no name: it matches * and id: only', async () => {
    const known = await record('web-1', true);
    const fresh = await record('fresh', false);
    const hosts = [toSelectable(known, true), toSelectable(fresh, true)];
    expect(hosts[1]?.hostname).toBe('');
    expect(resolveSelector('*', hosts)).toHaveLength(2);
    expect(resolveSelector(`id:${fresh.id.slice(0, 8)}`, hosts).map((h) => h.id)).toEqual([fresh.id]);
    expect(resolveSelector(fresh.id, hosts).map((h) => h.id)).toEqual([fresh.id]);
    const error = (() => {
      try {
        return resolveSelector(`${fresh.id.slice(0, 8)}*`, hosts);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(FlotillaError);
    expect((error as FlotillaError).code).toBe('no-match');
  });
});
