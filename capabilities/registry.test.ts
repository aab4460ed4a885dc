// The registry is complete: every folder is listed, every listed capability has its parts, and
// the tables derived from it (protocol, authorization, CLI commands, docs) match it.

import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAPABILITIES } from './index.ts';
import { parseMessage, REQUEST_TYPES } from '../shared/wire/protocol.ts';
import { roleAllows } from '../shared/controller/authorize.ts';
import { CAPABILITY_COMMANDS, COMMANDS, CORE_COMMANDS, WARM_COMMANDS } from '../cli/src/control/argv.ts';
import { call } from '../shared/controller/agent-connection.ts';
import { FlotillaError } from '../shared/wire/errors.ts';
import type { AgentConnection } from '../shared/controller/agent-connection.ts';
import { spec as facts } from './facts/spec.ts';
import { spec as processes } from './processes/spec.ts';

const DIR = import.meta.dirname;
const folders = readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

describe('the capability registry', () => {
  it('lists every folder, under the folder name', () => {
    expect(CAPABILITIES.map((c) => c.name).sort()).toEqual([...folders].sort());
  });

  it.each(CAPABILITIES.map((c) => [c.name, c] as const))('%s has an agent handler, its CLI commands, its panel and a README', async (name, spec) => {
    const agent = (await import(`./${name}/agent.ts`)) as { handler?: unknown };
    expect(typeof agent.handler).toBe('function');
    if (spec.cli?.length) {
      const cli = (await import(`./${name}/cli.ts`)) as { commands?: Record<string, unknown> };
      for (const command of spec.cli) expect(typeof cli.commands?.[command.name], `${name}/cli.ts ${command.name}`).toBe('function');
    }
    expect(existsSync(join(DIR, name, 'Panel.svelte'))).toBe(spec.web?.hostTab !== undefined);
    if (!['audit', 'exec', 'facts', 'fetch', 'host-cert', 'journal', 'ping', 'push', 'tags'].includes(name)) {
      // Capabilities added since the registry: each documents itself beside its code.
      expect(existsSync(join(DIR, name, 'README.md')), `${name}/README.md`).toBe(true);
    }
  });

  it('derives the protocol: each request type parses, and unknown ones do not', () => {
    for (const spec of CAPABILITIES) expect(REQUEST_TYPES).toContain(spec.request.type);
    expect(REQUEST_TYPES).toContain('cancel');
    expect(() => parseMessage({ type: 'processes', id: 'r1', action: 'list' })).not.toThrow();
    expect(() => parseMessage({ type: 'processes.kill', id: 'r1' })).toThrow(/unknown message type/);
  });

  it('derives authorization from each spec, per request where the spec says so', () => {
    for (const spec of CAPABILITIES) {
      if (typeof spec.role === 'string') {
        expect(roleAllows('admin', spec.request.type)).toBe(true);
        expect(roleAllows('viewer', spec.request.type)).toBe(spec.role === 'viewer');
      }
    }
    expect(roleAllows('viewer', 'processes', { action: 'list' })).toBe(true);
    expect(roleAllows('viewer', 'processes', { action: 'signal', pid: 9, signal: 'KILL' })).toBe(false);
    expect(roleAllows('operator', 'processes', { action: 'signal', pid: 9, signal: 'KILL' })).toBe(true);
  });

  it('derives the CLI: every command once, core and capability commands apart, warm ones served', () => {
    const names = CAPABILITIES.flatMap((c) => (c.cli ?? []).map((x) => x.name));
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) {
      expect(COMMANDS.has(name)).toBe(true);
      expect(CORE_COMMANDS.has(name)).toBe(false);
      expect(CAPABILITY_COMMANDS.get(name)?.capability).toBeDefined();
    }
    for (const name of ['run', 'push', 'fetch', 'ping', 'ps', 'kill']) expect(WARM_COMMANDS.has(name)).toBe(true);
  });

  it('is listed in docs/protocol.md, one row per capability', () => {
    const doc = readFileSync(join(DIR, '..', 'docs', 'protocol.md'), 'utf8');
    for (const spec of CAPABILITIES)
      expect(doc, spec.name).toMatch(new RegExp(`^\\|\\s*\`${spec.name}\`\\s*\\|\\s*\`${spec.request.type.replace('.', '\\.')}\`\\s*\\|`, 'm'));
  });
});

/** A connection whose agent answers every request with `result` (a hostile or broken peer). */
function answering(result: Record<string, unknown>): AgentConnection {
  return { request: async () => ({ type: 'result', id: 'x', ...result }) } as unknown as AgentConnection;
}

describe('typed results', () => {
  it("validates an ok result's data by the capability's spec", async () => {
    const good = {
      hostname: 'h',
      os: 'linux',
      release: 'r',
      arch: 'x64',
      cpus: 2,
      memoryBytes: 1,
      uptimeS: 1,
      ips: [],
      agentVersion: '1',
      tags: {},
      region: null,
      load: [0.1, 0.2, 0.3],
    };
    const result = await call(answering({ status: 'ok', data: good }), facts, {});
    expect(result.data?.load).toEqual([0.1, 0.2, 0.3]);
  });

  it('rejects malformed data from a peer with bad-message naming the capability and the field', async () => {
    const bad = call(answering({ status: 'ok', data: { hostname: 7 } }), facts, {});
    await expect(bad).rejects.toThrow(FlotillaError);
    await expect(bad).rejects.toThrow(/answer to facts is malformed: hostname: expected a string/);
    const list = call(answering({ status: 'ok', data: { processes: [{ pid: -1 }] } }), processes, { action: 'list' });
    await expect(list).rejects.toThrow(/answer to processes is malformed: processes\[0\]/);
  });

  it('leaves the data of a failed result alone', async () => {
    const result = await call(answering({ status: 'failed', error: { code: 'forbidden' }, data: { junk: true } }), processes, { action: 'list' });
    expect(result.status).toBe('failed');
    expect(result.data).toBeUndefined();
  });
});
