// What Chromium's own WebRTC data channel costs on this machine, with none of Flotilla's code:
// one page opens two RTCPeerConnections to each other (host candidates on a veth address) and
// sends `mb` MiB of 64 KiB messages, from a buffer made once, over one ordered channel. It
// prints the throughput and the CPU time of every Chromium process (renderer, browser, network
// service, ...) per MB. Both ends are Chromium, so the CPU per MB is a sender plus a receiver.
// The browser rows of the bench (agent <-> page) are set against it in bench/README.md.
//
//   node bench/chromium-channel.mjs --netns [--mb 100] [--runs 3] [--json]
//
// --netns runs it in a network namespace of its own (root): loopback and a veth pair leading
// nowhere, with a default route through it, since Chromium gathers no host candidates at all
// without a default route. bench/run.mjs runs it that way in its browser phase.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cpuBetween, median, treeCpu } from './lib.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The bench's flags, plus real host addresses in candidates (no mDNS names, which a namespace
// without multicast could not resolve): this measures the transport, not candidate privacy.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/** In the page: two peer connections, `bytes` sent over one ordered channel; resolves to seconds. */
async function pageTransfer(bytes) {
  const a = new RTCPeerConnection();
  const b = new RTCPeerConnection();
  try {
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    const send = a.createDataChannel('bulk', { ordered: true });
    send.binaryType = 'arraybuffer';
    const received = new Promise((resolve, reject) => {
      b.ondatachannel = ({ channel }) => {
        let got = 0;
        channel.onmessage = ({ data }) => {
          got += data.byteLength;
          if (got >= bytes) resolve(performance.now());
        };
        channel.onclose = () => reject(new Error(`channel closed after ${got} bytes`));
      };
    });
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription);
    await new Promise((resolve, reject) => {
      send.onopen = resolve;
      setTimeout(() => reject(new Error('data channel did not open in 20 s')), 20_000);
    });
    const message = new Uint8Array(64 * 1024).fill(7);
    send.bufferedAmountLowThreshold = 1024 * 1024;
    const started = performance.now();
    for (let sent = 0; sent < bytes; sent += message.length) {
      if (send.bufferedAmount > 4 * 1024 * 1024) await new Promise((resolve) => (send.onbufferedamountlow = resolve));
      send.send(message);
    }
    return ((await received) - started) / 1000;
  } finally {
    a.close();
    b.close();
  }
}

/**
 * Launches Chromium and times `runs` transfers of `mb` MiB. Returns
 * { runs: [{ seconds, mbps, cpuMsPerMB, byType }], medianMBps, medianCpuMsPerMB } where byType is
 * CPU ms per MB by Chromium process type.
 */
export async function chromiumChannel({ mb = 100, runs = 3 } = {}) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    const page = await browser.newPage();
    await page.goto('about:blank');
    const bytes = mb * 1024 * 1024;
    await page.evaluate(pageTransfer, 8 * 1024 * 1024); // warm-up, untimed
    const out = [];
    for (let k = 0; k < runs; k++) {
      const before = treeCpu(process.pid);
      const seconds = await page.evaluate(pageTransfer, bytes);
      const cpu = cpuBetween(before, treeCpu(process.pid));
      const perMB = (s) => Math.round((s * 1000) / (bytes / 1e6));
      out.push({
        seconds,
        mbps: bytes / 1e6 / seconds,
        cpuMsPerMB: perMB(cpu.total),
        byType: Object.fromEntries(Object.entries(cpu.byType).map(([t, s]) => [t, perMB(s)])),
      });
    }
    return { runs: out, medianMBps: median(out.map((r) => r.mbps)), medianCpuMsPerMB: median(out.map((r) => r.cpuMsPerMB)) };
  } finally {
    await browser.close();
  }
}

/** The namespace --netns makes: loopback, a veth pair leading nowhere, a default route into it. */
export const NETNS_SETUP =
  'ip link set lo up && ip link add fl-cc0 type veth peer name fl-cc1 && ip addr add 10.213.9.1/24 dev fl-cc0 && ip link set fl-cc0 up && ip link set fl-cc1 up && ip route add default via 10.213.9.2 dev fl-cc0';

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '100' },
      runs: { type: 'string', default: '3' },
      netns: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.netns) {
    const args = process.argv.slice(2).filter((a) => a !== '--netns');
    const child = spawnSync('unshare', ['-n', 'sh', '-c', `${NETNS_SETUP} && exec "$@"`, 'sh', process.execPath, fileURLToPath(import.meta.url), ...args], {
      stdio: 'inherit',
    });
    process.exit(child.status ?? 1);
  }
  const result = await chromiumChannel({ mb: Number(values.mb), runs: Number(values.runs) });
  if (values.json) {
    console.log(JSON.stringify(result));
    process.exit(0);
  }
  for (const r of result.runs) {
    console.log(
      `${r.mbps.toFixed(1)} MB/s, Chromium CPU ${r.cpuMsPerMB} ms per MB (both ends): ${Object.entries(r.byType)
        .map(([t, ms]) => `${t} ${ms}`)
        .join(', ')}`,
    );
  }
  console.log(`median: ${result.medianMBps.toFixed(1)} MB/s, ${result.medianCpuMsPerMB} ms CPU per MB`);
}
