// facts: what the inventory shows about this host.

import { cpus, hostname, networkInterfaces, arch, platform, release, totalmem, freemem, uptime, loadavg } from 'node:os';
import { readFile } from 'node:fs/promises';
import { AGENT_VERSION } from '../../agent/src/version.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

async function osPrettyName(): Promise<string | undefined> {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

function addresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((a) => !a.internal)
    .map((a) => a.address);
}

export const handler: Handler<typeof spec> = async (_request, ctx) => ({
  status: 'ok',
  data: {
    hostname: hostname(),
    os: platform(),
    release: (await osPrettyName()) ?? release(),
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
});
