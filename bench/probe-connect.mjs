// Connect time per host: from dial to an authenticated session (werift offer/answer and ICE
// through the signaling server, DTLS, the application handshake, the host record written),
// one host at a time so the figures are not queueing behind each other. Run through tsx:
//   FLOTILLA_HOME=… node --import tsx bench/probe-connect.mjs --tag role=bench --rounds 5
// Prints one JSON document: { samplesMs: [...], failures }.
import { parseArgs } from 'node:util';
import { openHome } from '../cli/src/home.ts';
import { openFleet } from '../cli/src/fleet.ts';

const { values } = parseArgs({ options: { tag: { type: 'string' }, rounds: { type: 'string', default: '5' } } });
const [key, value] = values.tag.split('=');
const home = await openHome();
const fleet = await openFleet(home);
const presence = await fleet.presence();
const ids = (await home.hosts.all()).filter((h) => h.status === 'accepted' && h.facts?.tags?.[key] === value && presence.get(h.id)?.online).map((h) => h.id);
const samplesMs = [];
let failures = 0;
for (let round = 0; round < Number(values.rounds); round++) {
  for (const id of ids) {
    const t0 = performance.now();
    try {
      await fleet.controller.connect(id);
      samplesMs.push(performance.now() - t0);
    } catch {
      failures++;
    }
  }
  // Close every connection so the next round dials again (werift tells the peer after ~1 s).
  fleet.controller.close();
  await new Promise((r) => setTimeout(r, 1500));
}
process.stdout.write(JSON.stringify({ hosts: ids.length, samplesMs, failures }) + '\n');
await fleet.close();
process.exit(0);
