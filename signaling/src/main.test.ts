// Command-line parsing of flotilla-signal (the server itself is covered by server.test.ts).

import { describe, expect, it } from 'vitest';
import { parseSignalArgs } from './main.ts';

describe('parseSignalArgs', () => {
  it('uses the documented defaults', () => {
    const args = parseSignalArgs([], {});
    expect(args).toMatchObject({ help: false, logLevel: 'info', options: { port: 9000, host: '0.0.0.0', stunPort: 3478 } });
    if (args.help) throw new Error('unexpected help');
    expect(args.options.webRoot).toMatch(/dist[/\\]web$/);
    expect(args.options.agentBundle).toMatch(/dist[/\\]flotilla-agent\.mjs$/);
    expect(args.options.dataDir).toBeUndefined();
  });

  it('prefers flags over FLOTILLA_SIGNAL_* variables', () => {
    const env = { FLOTILLA_SIGNAL_PORT: '7000', FLOTILLA_SIGNAL_STUN_PORT: '0', FLOTILLA_SIGNAL_MAX_PEERS: '12', FLOTILLA_SIGNAL_DATA_DIR: '/tmp/x' };
    expect(parseSignalArgs(['--port', '8000', '--host', '127.0.0.1'], env)).toMatchObject({
      options: { port: 8000, host: '127.0.0.1', stunPort: 0, dataDir: '/tmp/x', limits: { maxPeers: 12 } },
    });
  });

  it('answers --help and refuses bad values with bad-config', () => {
    expect(parseSignalArgs(['--help'], {})).toEqual({ help: true });
    expect(() => parseSignalArgs(['--port', '70000'], {})).toThrow(/--port must be a whole number/);
    expect(() => parseSignalArgs(['--max-peers', '0'], {})).toThrow(/--max-peers/);
    expect(() => parseSignalArgs(['--max-connections-per-ip', 'x'], {})).toThrow(/--max-connections-per-ip must be a whole number/);
    expect(parseSignalArgs(['--max-connections-per-ip', '2000'], {})).toMatchObject({ options: { limits: { maxConnectionsPerIp: 2000 } } });
    expect(() => parseSignalArgs(['--bogus'], {})).toThrow(expect.objectContaining({ code: 'bad-config' }));
    expect(() => parseSignalArgs([], { FLOTILLA_SIGNAL_LOG_LEVEL: 'loud' })).toThrow(/--log-level/);
  });

  it('reads the store flags, with sizes and times in units, and refuses sqlite without a data dir', () => {
    expect(parseSignalArgs(['--store', 'memory'], {})).toMatchObject({ options: { store: 'memory' } });
    expect(parseSignalArgs(['--data-dir', '/tmp/x', '--store-max-records', '10', '--store-max-bytes', '2MiB', '--store-max-ttl', '12h'], {})).toMatchObject({
      options: { limits: { storeMaxRecords: 10, storeMaxBytes: 2 * 1024 * 1024, storeMaxTtlMs: 12 * 3_600_000 } },
    });
    expect(parseSignalArgs([], { FLOTILLA_SIGNAL_STORE_MAX_TTL: '30d' })).toMatchObject({ options: { limits: { storeMaxTtlMs: 30 * 86_400_000 } } });
    expect(() => parseSignalArgs(['--store', 'redis'], {})).toThrow(/--store must be memory or sqlite/);
    expect(() => parseSignalArgs(['--store', 'sqlite'], {})).toThrow(/--store sqlite needs --data-dir/);
    expect(() => parseSignalArgs(['--store-max-bytes', '12MB'], {})).toThrow(/--store-max-bytes must be a size/);
    expect(() => parseSignalArgs(['--store-max-ttl', '400'], {})).toThrow(/--store-max-ttl must be a time/);
    expect(() => parseSignalArgs(['--store-max-records', '0'], {})).toThrow(/--store-max-records must be a whole number/);
  });
});
