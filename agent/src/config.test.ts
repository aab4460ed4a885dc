import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('keeps ICE URLs whole, splits roots like PATH, and lets flags win over the environment', () => {
    const config = loadConfig(
      { stateDir: '/tmp/flotilla-config-test', tag: ['role=db'] },
      {
        FLOTILLA_ICE_SERVERS: 'stun:10.0.0.1:3478,turn:10.0.0.1:3478?transport=tcp',
        FLOTILLA_ALLOWED_ROOTS: '/srv:/var/www',
        FLOTILLA_TAGS: 'role=web,zone=a',
      },
    );
    expect(config.iceServers).toEqual([{ urls: 'stun:10.0.0.1:3478' }, { urls: 'turn:10.0.0.1:3478?transport=tcp' }]);
    expect(config.allowedRoots).toEqual(['/srv', '/var/www']);
    expect(config.tags).toEqual({ role: 'db', zone: 'a' });
  });

  it('explains a malformed tag', () => {
    expect(() => loadConfig({ stateDir: '/tmp/flotilla-config-test', tag: ['novalue'] }, {})).toThrow(/must be key=value/);
  });
});

describe('the metrics section', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-metrics-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const load = (metrics: unknown) => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ metrics }));
    return loadConfig({ stateDir: dir }, {});
  };

  it('defaults to every 5 s and takes 1 to 60', () => {
    expect(loadConfig({ stateDir: join(dir, 'none') }, {}).metrics).toEqual({ intervalSeconds: 5 });
    expect(load({ intervalSeconds: 1 }).metrics).toEqual({ intervalSeconds: 1 });
    expect(load({ intervalSeconds: 60 }).metrics).toEqual({ intervalSeconds: 60 });
  });

  it('explains a bad interval, an unknown setting or a section that is not an object', () => {
    expect(() => load({ intervalSeconds: 0 })).toThrow(/metrics\.intervalSeconds must be a whole number of seconds from 1 to 60/);
    expect(() => load({ intervalSeconds: 2.5 })).toThrow(/from 1 to 60/);
    expect(() => load({ interval: 5 })).toThrow(/metrics\.interval is not a setting/);
    expect(() => load(5)).toThrow(/metrics must be an object/);
  });
});
