// The sealed store on one signaling server (issue 13): records/s written by N concurrent
// writers and read back in pages, over HTTP on loopback, each request with a real fleet
// credential (an RSA check of the credential and of its certificate); bytes on disk per record
// beside its body size; the server's RSS with the records stored.
//   node --import tsx bench/store.mjs [--records 100000] [--writers 16] [--readers 4] [--body 1024] [--backends sqlite,memory]
// The server runs as a child (this file with --serve) with the per-fleet quota and write rate
// raised, so the figures are the server's own, not its limits.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '100000' },
    writers: { type: 'string', default: '16' },
    readers: { type: 'string', default: '4' },
    body: { type: 'string', default: '1024' },
    backends: { type: 'string', default: 'sqlite,memory' },
    serve: { type: 'string' },
    'log-level': { type: 'string', default: 'error' },
  },
});

if (values.serve !== undefined) {
  // The child: a signaling server on an ephemeral port, its port on stdout.
  const { startSignalingServer } = await import('../signaling/src/server.ts');
  const { createLogger } = await import('../signaling/src/log.ts');
  const { backend, dataDir } = JSON.parse(values.serve);
  const huge = 1e12;
  const server = await startSignalingServer({
    port: 0,
    stunPort: 0,
    host: '127.0.0.1',
    store: backend,
    ...(dataDir ? { dataDir } : {}),
    log: createLogger({ level: JSON.parse(values.serve).logLevel ?? 'error' }),
    limits: {
      storeMaxRecords: huge,
      storeMaxBytes: huge,
      storeWritesPerSecond: huge,
      storeWriteBurst: huge,
      storeRequestsPerSecondPerIp: huge,
      storeRequestBurstPerIp: huge,
    },
  });
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
} else {
  const { createFleet } = await import('../shared/identity/fleet.ts');
  const { createPeerCredential } = await import('../shared/identity/tokens.ts');
  const records = Number(values.records);
  const writers = Number(values.writers);
  const readers = Number(values.readers);
  const bodySize = Number(values.body);
  const fleet = await createFleet('bench', true);
  let auth;
  let authAt = 0;
  /** Credentials are good for 5 minutes either side: a fresh one every minute. */
  const headers = () => {
    if (Date.now() - authAt > 60_000) {
      authAt = Date.now();
      auth = createPeerCredential(fleet.keys, {
        ...fleet.pub,
        purpose: 'presence',
        kind: 'device',
        fleet: fleet.fleetId,
        cert: JSON.stringify(fleet.cert),
        fleetPub: fleet.fleetPub,
      }).then((token) => ({ Authorization: `Flotilla ${token}`, 'Content-Type': 'application/json' }));
    }
    return auth;
  };
  const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  /** CPU time of a process in ms (user + system), from /proc: a figure the machine's load does not change much. */
  const cpuMs = (pid) => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };
  const fileBytes = (dir) => ['store.sqlite', 'store.sqlite-wal'].reduce((sum, f) => sum + (statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);

  const rows = [];
  for (const backend of values.backends.split(',')) {
    const dataDir = backend === 'sqlite' ? mkdtempSync(join(tmpdir(), 'flotilla-store-bench-')) : undefined;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', import.meta.filename, '--serve', JSON.stringify({ backend, dataDir, logLevel: values['log-level'] })],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const { port } = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]));
      });
      child.once('exit', () => reject(new Error('the server exited')));
    });
    const base = `http://127.0.0.1:${port}/api/store/${fleet.fleetId}`;
    const idle = rssMiB(child.pid);

    // Writes: N writers share a counter of records to put.
    const bodies = Array.from({ length: 64 }, () => randomBytes(bodySize).toString('base64'));
    let next = 0;
    let failed = 0;
    const t0 = performance.now();
    const cpu0 = cpuMs(child.pid);
    await Promise.all(
      Array.from({ length: writers }, async () => {
        for (let i = next++; i < records; i = next++) {
          const res = await fetch(`${base}/rec.${i}`, {
            method: 'PUT',
            headers: await headers(),
            body: JSON.stringify({ kind: 'task', version: 1, to: ['*'], body: bodies[i % bodies.length] }),
          });
          if (res.status !== 200 && failed++ < 3) console.error(res.status, await res.clone().text());
          await res.arrayBuffer();
        }
      }),
    );
    const writeS = (performance.now() - t0) / 1000;
    const writeCpu = cpuMs(child.pid) - cpu0;
    const afterWrites = rssMiB(child.pid);
    const onDisk = dataDir ? fileBytes(dataDir) : undefined;

    // Reads: each reader pages through every record (500 a page).
    const t1 = performance.now();
    const cpu1 = cpuMs(child.pid);
    const counts = await Promise.all(
      Array.from({ length: readers }, async () => {
        let n = 0;
        for (let since = 0, more = true; more;) {
          const res = await fetch(`${base}?since=${since}&limit=500`, { headers: await headers() });
          const page = await res.json();
          n += page.records.length;
          ({ next: since, more } = page);
        }
        return n;
      }),
    );
    const readS = (performance.now() - t1) / 1000;
    const readCpu = cpuMs(child.pid) - cpu1;
    const read = counts.reduce((a, b) => a + b, 0);
    const afterReads = rssMiB(child.pid);
    child.kill('SIGTERM');
    await exited;
    const closedBytes = dataDir ? fileBytes(dataDir) : undefined;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    rows.push({
      backend,
      records,
      failed,
      writesPerS: Math.round(records / writeS),
      readsPerS: Math.round(read / readS),
      cpuPerWrite: (writeCpu / records).toFixed(2),
      cpuPer1kRead: (
        (readCpu /
          Math.max(
            1,
            counts.reduce((a, b) => a + b, 0),
          )) *
        1000
      ).toFixed(0),
      readComplete: counts.every((c) => c === records),
      bodyBytes: bodySize,
      diskPerRecord: onDisk === undefined ? '-' : Math.round(onDisk / records),
      diskPerRecordClosed: closedBytes === undefined ? '-' : Math.round(closedBytes / records),
      rssIdleMiB: idle.toFixed(1),
      rssWrittenMiB: afterWrites.toFixed(1),
      rssReadMiB: afterReads.toFixed(1),
    });
  }
  console.log(`\n${records} records of ${bodySize} bytes, ${writers} writers, ${readers} readers (each reads all), node ${process.version}\n`);
  console.log(
    '| backend | writes/s | server CPU ms/write | records read/s | server CPU ms/1000 read | failed | disk bytes/record (running / closed) | RSS MiB idle / after writes / after reads |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(
      `| ${r.backend} | ${r.writesPerS} | ${r.cpuPerWrite} | ${r.readsPerS}${r.readComplete ? '' : ' (incomplete)'} | ${r.cpuPer1kRead} | ${r.failed} | ${r.diskPerRecord} / ${r.diskPerRecordClosed} | ${r.rssIdleMiB} / ${r.rssWrittenMiB} / ${r.rssReadMiB} |`,
    );
  }
}
