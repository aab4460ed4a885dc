// The fleet simulator: many agent identities in one Node process, as Salt's minion swarm does.
// Each simulated agent is a real agent (agent/src/agent.ts startAgent) with its own keys and
// state directory, its own signaling registration and its own werift endpoint; they only share
// the process (and so the event loop and memory). Run through tsx:
//   node --import tsx bench/sim-agents.mjs --dir D --count N --token T --signal URL --stun stun:…
// Prints "sim-ready <n>" on stdout once every agent has registered, then serves until SIGTERM.
import { parseArgs } from 'node:util';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../agent/src/config.ts';
import { openState } from '../agent/src/state.ts';
import { createLogger } from '../node/log.ts';
import { startAgent } from '../agent/src/agent.ts';
import { parseJoinToken } from '../shared/identity/tokens.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    count: { type: 'string' },
    token: { type: 'string' },
    stun: { type: 'string' },
    tag: { type: 'string', default: 'role=sim' },
    // The signaling server allows 20 new sockets a second per address (burst 100): pace starts.
    'per-second': { type: 'string', default: '15' },
  },
});
const count = Number(values.count);
const token = parseJoinToken(values.token);
const perSecond = Number(values['per-second']);
const log = createLogger('sim', 'warn');
const agents = [];
const started = Date.now();

async function one(i) {
  const stateDir = join(values.dir, `s${i}`);
  await mkdir(stateDir, { recursive: true });
  // An empty environment: nothing from the bench's own FLOTILLA_* variables leaks in.
  const config = loadConfig(
    { stateDir, tag: [values.tag, `sim=${i}`, `hundred=${Math.floor(i / 100)}`], allowRoot: [values.dir], logLevel: 'warn', iceServer: [values.stun] },
    {},
  );
  const state = await openState(stateDir);
  await state.saveEnrollment({ fleet: token.fleet, signal: token.signal, join: { tid: token.tid, secret: token.secret } });
  const agent = await startAgent(config, state, (level, event, fields) => log(level, event, { sim: i, ...fields }));
  await agent.endpoint.signaling.whenOpen();
  return agent;
}

// Keys first (RSA-2048 generation is the slow part), a few at a time, then paced registration.
let next = 0;
const pending = [];
const ticker = setInterval(() => {
  for (let k = 0; k < Math.max(1, Math.round(perSecond / 4)) && next < count; k++) pending.push(one(next++).then((a) => agents.push(a)));
  if (next >= count) clearInterval(ticker);
}, 250);
while (next < count || pending.length < count) await new Promise((r) => setTimeout(r, 100));
await Promise.all(pending);
process.stdout.write(`sim-ready ${agents.length} ${((Date.now() - started) / 1000).toFixed(1)}s\n`);

const stop = () => {
  void Promise.allSettled(agents.map((a) => a.stop())).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
