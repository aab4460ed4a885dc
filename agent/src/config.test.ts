import { describe, it, expect } from 'vitest';
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
