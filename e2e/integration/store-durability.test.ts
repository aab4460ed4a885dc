// The store's promise under a crash: a signaling server with --store sqlite, killed with
// SIGKILL in the middle of a burst of writes and restarted on the same --data-dir, still holds
// every record whose PUT it answered 200, with the body it was given (issue 13).

import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFleet, type DeviceIdentity } from '../../shared/identity/fleet.ts';
import { createPeerCredential } from '../../shared/identity/tokens.ts';
import { freePort, killAll, removeDir, startProc, tempDir, type Proc } from '../harness.ts';

let base: string;
let fleet: DeviceIdentity;

beforeAll(async () => {
  base = await tempDir('store-durability');
  fleet = await createFleet('durability admin', true);
});

afterAll(async () => {
  await killAll();
  await removeDir(base);
});

async function startStore(dataDir: string): Promise<Proc & { url: string }> {
  const port = await freePort();
  const proc = startProc('flotilla-signal', ['--host', '127.0.0.1', '--port', String(port), '--stun-port', '0', '--data-dir', dataDir, '--store', 'sqlite']);
  await proc.waitFor(/"event":"signal.listening"/);
  return Object.assign(proc, { url: `http://127.0.0.1:${port}/` });
}

const credential = (): Promise<string> =>
  createPeerCredential(fleet.keys, {
    ...fleet.pub,
    purpose: 'presence',
    kind: 'device',
    fleet: fleet.fleetId,
    cert: JSON.stringify(fleet.cert),
    fleetPub: fleet.fleetPub,
  });
const hash = (base64: string): string => createHash('sha256').update(base64).digest('hex');

describe('the SQLite store under SIGKILL', () => {
  it('keeps every acknowledged put across a kill in the middle of a burst', async () => {
    const dataDir = join(base, 'signal');
    const server = await startStore(dataDir);
    const auth = { Authorization: `Flotilla ${await credential()}`, 'Content-Type': 'application/json' };
    /** rid → the version and body hash of its highest acknowledged put. */
    const acked = new Map<string, { version: number; hash: string }>();
    let killed = false;
    let refused = 0;
    const writer = async (w: number): Promise<void> => {
      for (let n = 1; !killed; n++) {
        // Every third put rewrites the writer's own document, the others add a record.
        const rewrite = n % 3 === 0;
        const rid = rewrite ? `doc.w${w}` : `rec.w${w}.${n}`;
        const version = rewrite ? n : 1;
        const body = randomBytes(200 + ((w * 997 + n * 131) % 4000)).toString('base64');
        try {
          const res = await fetch(new URL(`/api/store/${fleet.fleetId}/${rid}`, server.url), {
            method: 'PUT',
            headers: auth,
            body: JSON.stringify({ kind: rewrite ? 'doc' : 'task', version, to: ['*'], body }),
          });
          if (res.status === 200) acked.set(rid, { version, hash: hash(body) });
          else refused++; // 429 once the fleet's burst is spent
          await res.body?.cancel();
        } catch {
          return; // the server is gone
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    while (acked.size < 120) await new Promise((resolve) => setTimeout(resolve, 5));
    // Killed while eight writers each have a put in flight.
    await server.stop('SIGKILL');
    killed = true;
    await Promise.all(writers);
    const before = acked.size;
    expect(before).toBeGreaterThanOrEqual(120);

    const again = await startStore(dataDir);
    const stored = new Map<string, { version: number; hash: string }>();
    for (let since = 0, more = true; more;) {
      const res = await fetch(new URL(`/api/store/${fleet.fleetId}?since=${since}&limit=500`, again.url), { headers: auth });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { records: { rid: string; version: number; body: string }[]; next: number; more: boolean };
      for (const r of page.records) stored.set(r.rid, { version: r.version, hash: hash(r.body) });
      ({ next: since, more } = page);
    }
    const lost = [...acked].filter(([rid, a]) => {
      const s = stored.get(rid);
      // A put in flight at the kill may have committed unanswered: a newer version is fine.
      return !s || s.version < a.version || (s.version === a.version && s.hash !== a.hash);
    });
    expect(lost, `acknowledged ${before} rids (${refused} puts refused by the rate limit), stored ${stored.size}`).toEqual([]);
    // A version that was acknowledged before the kill is still refused after it.
    const [rid, a] = [...acked].find(([r]) => r.startsWith('doc.')) ?? [];
    if (!rid || !a) throw new Error('no document was acknowledged');
    const replay = await fetch(new URL(`/api/store/${fleet.fleetId}/${rid}`, again.url), {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ kind: 'doc', version: a.version, to: ['*'], body: 'AAAA' }),
    });
    expect(replay.status).toBe(409);
    await again.stop();
  });
});
