// facts: what the inventory shows about this host.

import { cpus, hostname, networkInterfaces, arch, platform, release, totalmem, freemem, uptime, loadavg } from 'node:os';
import { readFile } from 'node:fs/promises';
import { AGENT_VERSION } from '../../agent/src/version.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

/** The os-release fields the inventory and selectors use (`distro:`, `release:`). */
export interface OsRelease {
  prettyName?: string;
  id?: string;
  versionId?: string;
}

/** Reads PRETTY_NAME, ID and VERSION_ID from os-release text (quoted or not, as the format allows). */
export function parseOsRelease(text: string): OsRelease {
  const get = (key: string) => {
    const value = new RegExp(`^${key}=(?:"([^"\\n]*)"|'([^'\\n]*)'|([^\\s"'#]*))\\s*$`, 'm').exec(text);
    const found = value?.[1] ?? value?.[2] ?? value?.[3];
    return found === undefined || found === '' ? undefined : found;
  };
  const prettyName = get('PRETTY_NAME');
  const id = get('ID')?.toLowerCase();
  const versionId = get('VERSION_ID');
  return { ...(prettyName ? { prettyName } : {}), ...(id ? { id } : {}), ...(versionId ? { versionId } : {}) };
}

// /etc/os-release, or /usr/lib/os-release where /etc has none (os-release(5)).
async function osRelease(): Promise<OsRelease> {
  for (const path of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      return parseOsRelease(await readFile(path, 'utf8'));
    } catch {
      // not there: try the next one (macOS and others have neither)
    }
  }
  return {};
}

function addresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal)
    .map((a) => a.address);
}

export const handler: Handler<typeof spec> = async (_request, ctx) => {
  const os = await osRelease();
  return {
    status: 'ok',
    data: {
      hostname: hostname(),
      os: platform(),
      release: os.prettyName ?? release(),
      distro: os.id,
      distroVersion: os.versionId,
      kernel: release(),
      arch: arch(),
      cpus: cpus().length,
      memoryBytes: totalmem(),
      freeMemoryBytes: freemem(),
      uptimeS: Math.round(uptime()),
      load: loadavg() as [number, number, number],
      ips: addresses(),
      agentVersion: AGENT_VERSION,
      tags: { ...ctx.config.tags, ...ctx.state.remoteTags },
      region: ctx.config.region,
      accepted: ctx.state.enrollment?.hostCert !== undefined,
    },
  };
};
