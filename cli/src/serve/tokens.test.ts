import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenStore, hashToken, scopeAllows } from './tokens.ts';
import { createAuditLog } from './audit.ts';
import { createRateLimiter, parseRate } from './rate-limit.ts';

const dirs: string[] = [];
afterEach(async () => Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))));
const temp = async () => {
  const d = await mkdtemp(join(tmpdir(), 'flotilla-tokens-'));
  dirs.push(d);
  return d;
};

describe('API tokens', () => {
  it('are flt_ + 32 random bytes in base64url, kept as SHA-256 only, checked, and refused once revoked (also by a second store on the file)', async () => {
    const dir = await temp();
    const store = createTokenStore(dir);
    const { token, record } = await store.create('invoke', 'ci');
    expect(token).toMatch(/^flt_[A-Za-z0-9_-]{43}$/);
    expect(record.hash).toBe(hashToken(token));
    expect(await readFile(store.path, 'utf8')).not.toContain(token.slice(4));
    expect((await stat(store.path)).mode & 0o777).toBe(0o600);
    expect((await store.check(token))?.name).toBe('ci');
    expect(await store.check(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
    await expect(store.create('read', 'ci')).rejects.toThrow(/a token named ci exists/);
    // The server's store sees a revoke made by `flotilla api-token revoke` in another process.
    const other = createTokenStore(dir);
    expect(await other.revoke('ci')).toBe(true);
    expect(await store.check(token)).toBeUndefined();
    expect(await other.revoke('ci')).toBe(false);
    // A use recorded after the revoke does not bring the token back (uses live in a file of their own).
    await store.touch('ci');
    expect(await store.check(token)).toBeUndefined();
    const kept = await store.create('read', 'kept');
    await store.touch('kept', 1234);
    expect((await other.list()).find((r) => r.name === 'kept')?.lastUsedAt).toBe(1234);
    expect(await readFile(store.path, 'utf8')).not.toContain('lastUsedAt');
    expect(kept.token).toMatch(/^flt_/);
  });

  it('scopes: admin includes invoke includes read', () => {
    expect(scopeAllows('admin', 'read')).toBe(true);
    expect(scopeAllows('invoke', 'read')).toBe(true);
    expect(scopeAllows('invoke', 'admin')).toBe(false);
    expect(scopeAllows('read', 'invoke')).toBe(false);
  });
});

describe('the audit log', () => {
  it('rotates past its size: never more than twice the bound on disk', async () => {
    const dir = await temp();
    const audit = createAuditLog(dir, { maxBytes: 1000 });
    for (let i = 0; i < 40; i++) await audit.record({ time: 't', method: 'GET', path: `/jobs/${i}`, status: 200, durationMs: 1 });
    const now = await stat(audit.path);
    const old = await stat(`${audit.path}.1`);
    expect(now.size).toBeLessThanOrEqual(1000);
    expect(old.size).toBeLessThanOrEqual(1000);
    const last = (await readFile(audit.path, 'utf8')).trim().split('\n').pop()!;
    expect(JSON.parse(last)).toMatchObject({ path: '/jobs/39' });
  });
});

describe('rate limits', () => {
  it('parse N/s, N/m, N/h and refuse anything else', () => {
    expect(parseRate('120/m')).toEqual({ perMinute: 120, burst: 30 });
    expect(parseRate('5/s')).toEqual({ perMinute: 300, burst: 75 });
    expect(() => parseRate('fast')).toThrow(/--rate "fast" must be calls per unit/);
  });

  it('refill at the rate, per key', () => {
    let now = 0;
    const limiter = createRateLimiter({ perMinute: 60, burst: 2 }, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 1]);
    expect(limiter.take('b')).toBe(0);
    now += 1000;
    expect(limiter.take('a')).toBe(0);
  });
});
