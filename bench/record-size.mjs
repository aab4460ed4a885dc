// Bytes a sealed store record costs beside its plaintext: typical payloads sealed as the CLI,
// the PWA and the agent seal them (shared/store/envelope.ts), printed as a table. The store's
// own cost on disk per record (bench/store.mjs: SQLite row, index, WAL) comes on top.
//   node --import tsx bench/record-size.mjs

const { createFleet, createIdentity } = await import('../shared/identity/fleet.ts');
const { issueHostCert } = await import('../shared/identity/certs.ts');
const { sealRecord } = await import('../shared/store/envelope.ts');
const { createKeyring, scopeSealKey } = await import('../shared/store/keyring.ts');
const { verifyRecord } = await import('../shared/store/envelope.ts');

const admin = await createFleet('laptop', true);
const host = await createIdentity(true);
const hostCert = await issueHostCert(admin.fleetKeys.privateKey, admin.fleetId, host.pub, admin.id);
const device = { keys: admin.keys, cert: admin.cert };
const ring = await createKeyring(device, admin.fleetId, 'devices', { [admin.id]: admin.pub.encPub });
const devicesKey = await scopeSealKey((await verifyRecord(ring.record, { fleetId: admin.fleetId, fleetPub: admin.fleetPub })).envelope);

const output = 'x'.repeat(1024);
const cases = [
  [
    'host decision (devices: fleet scope)',
    device,
    { type: 'host', host: host.id, decision: 'accepted', cert: hostCert, name: 'web-1', at: Date.now() },
    { scopes: [devicesKey] },
  ],
  ['selector', device, { type: 'selector', name: 'web', expr: 'tag:role=web and os:linux', deleted: false, at: Date.now() }, { scopes: [devicesKey] }],
  [
    'queued task for one host (exec)',
    device,
    {
      type: 'task',
      task: 'k3x9a0',
      request: { type: 'exec', task: 'k3x9a0', cmd: 'uname -a' },
      summary: 'uname -a',
      selector: 'web-1',
      host: host.id,
      deadline: Date.now() + 86_400_000,
      window: false,
      cancelled: false,
      deviceName: 'laptop',
      at: Date.now(),
    },
    { direct: [{ id: host.id, encPub: host.pub.encPub }], scopes: [devicesKey] },
  ],
  [
    'result with 1 KiB of output (host)',
    { keys: host.keys, cert: hostCert },
    {
      type: 'result',
      task: 'k3x9a0',
      host: host.id,
      hostname: 'web-1',
      status: 'ok',
      exit: 0,
      output,
      startedAt: Date.now(),
      endedAt: Date.now(),
      at: Date.now(),
    },
    { scopes: [devicesKey] },
  ],
  [
    'history of a run on 10 hosts',
    device,
    {
      type: 'history',
      task: 'k3x9a0',
      command: 'run',
      summary: 'uname -a',
      selector: '*',
      deviceName: 'laptop',
      startedAt: Date.now(),
      endedAt: Date.now(),
      results: Array.from({ length: 10 }, (_, i) => ({ host: host.id, hostname: `web-${i}`, status: 'ok', exit: 0, durationMs: 40 })),
      at: Date.now(),
    },
    { scopes: [devicesKey] },
  ],
];

console.log('| record | plaintext bytes | stored body bytes (base64 envelope) | overhead |');
console.log('| --- | --: | --: | --: |');
for (const [name, writer, payload, recipients] of cases) {
  const plain = Buffer.byteLength(JSON.stringify(payload));
  const { record } = await sealRecord(writer, { fleet: admin.fleetId, rid: 'dh.x', kind: 'doc', version: 1, to: ['*'], payload, recipients });
  const body = record.body.length;
  console.log(`| ${name} | ${plain} | ${body} | ${body - plain} (${(body / plain).toFixed(1)}x) |`);
}
const members = Object.fromEntries(
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      const m = await createIdentity(false);
      return [m.id, m.pub.encPub];
    }),
  ),
);
const big = await createKeyring(device, admin.fleetId, 'fleet', members);
console.log(`| keyring with 100 members | | ${big.record.body.length} | ${Math.round(big.record.body.length / 100)} per member |`);
