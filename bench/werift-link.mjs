// werift on its own: two peer connections in one process on loopback, SDP handed over
// directly (no signaling server, no Flotilla session). Measures what the transport gives:
// connect time (createOffer to the data channel open on both sides) and bulk throughput of
// one ordered, reliable channel with bufferedAmount backpressure.
//   node bench/werift-link.mjs [--mb 50] [--chunk 65536] [--rounds 5] [--connects 10] [--payload 1200]
// --payload: probe the path for SCTP packets of that many user-data bytes and use them (werift
// patch; the default is werift's 1200).
// Prints one JSON document.
import { parseArgs } from 'node:util';
import { RTCPeerConnection } from 'werift';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '50' },
    chunk: { type: 'string', default: '65536' },
    rounds: { type: 'string', default: '3' },
    connects: { type: 'string', default: '10' },
    payload: { type: 'string', default: '0' },
  },
});
const MB = Number(values.mb);
const CHUNK = Number(values.chunk);

async function pair() {
  const t0 = performance.now();
  const a = new RTCPeerConnection({ iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'] });
  const b = new RTCPeerConnection({ iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'] });
  a.onIceCandidate.subscribe((c) => c && b.addIceCandidate(c).catch(() => undefined));
  b.onIceCandidate.subscribe((c) => c && a.addIceCandidate(c).catch(() => undefined));
  const dcA = a.createDataChannel('bench', { ordered: true });
  const opened = new Promise((resolve) => b.onDataChannel.subscribe((dc) => dc.stateChanged.subscribe((s) => s === 'open' && resolve(dc))));
  const openA = new Promise((resolve) => dcA.stateChanged.subscribe((s) => s === 'open' && resolve()));
  const offer = await a.createOffer();
  await a.setLocalDescription(offer);
  await b.setRemoteDescription(a.localDescription);
  const answer = await b.createAnswer();
  await b.setLocalDescription(answer);
  await a.setRemoteDescription(b.localDescription);
  const [dcB] = await Promise.all([opened, openA]);
  const payload = Number(values.payload);
  if (payload) {
    // Larger SCTP packets (werift patch): probe the path, then use them in both directions.
    for (const pc of [a, b]) {
      const sctp = pc.sctpTransport.sctp;
      if (!(await sctp.probePacketSize(payload))) throw new Error(`probe of ${payload}-byte packets failed`);
      sctp.setMaxPayload(payload);
    }
  }
  return { a, b, dcA, dcB, connectMs: performance.now() - t0 };
}

async function bulk(dcA, dcB) {
  const total = MB * 1024 * 1024;
  const chunk = Buffer.alloc(CHUNK, 7);
  let received = 0;
  const done = new Promise((resolve) =>
    dcB.onMessage.subscribe((m) => {
      received += m.length;
      if (received >= total) resolve();
    }),
  );
  dcA.bufferedAmountLowThreshold = 1024 * 1024;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let sent = 0; sent < total; sent += CHUNK) {
    if (dcA.bufferedAmount > 4 * 1024 * 1024)
      await new Promise((r) => {
        const s = dcA.bufferedAmountLow.subscribe(() => {
          s.unSubscribe();
          r();
        });
      });
    dcA.send(chunk);
  }
  await done;
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { seconds: s, MBps: total / 1e6 / s, cpuS: (cpu.user + cpu.system) / 1e6 };
}

const connects = [];
for (let i = 0; i < Number(values.connects); i++) {
  const p = await pair();
  connects.push(p.connectMs);
  await Promise.all([p.a.close(), p.b.close()]);
}
const rounds = [];
for (let i = 0; i < Number(values.rounds); i++) {
  const p = await pair();
  rounds.push(await bulk(p.dcA, p.dcB));
  await Promise.all([p.a.close(), p.b.close()]);
}
const sorted = (xs) => [...xs].sort((x, y) => x - y);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
console.log(
  JSON.stringify({
    chunk: CHUNK,
    mb: MB,
    connectMs: { median: median(connects), all: connects.map((x) => Math.round(x)) },
    bulk: rounds.map((r) => ({ s: +r.seconds.toFixed(2), cpuS: +r.cpuS.toFixed(2), MBps: +r.MBps.toFixed(1) })),
  }),
);
process.exit(0);
