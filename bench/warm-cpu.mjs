// The warm command path in CPU time, which a busy 2-core machine measures far more steadily
// than wall time: N real agents and a control process (flotilla connect), then per command
// --runs invocations, reporting the median wall time, the agents' CPU per exec, the control
// process's CPU per invocation (utime + stime from /proc/<pid>/stat over the batch), and the
// control process's own request-to-exit time, read through its socket (no CLI start-up).
// Needs its own network namespace: unshare -n sh -c 'ip link set lo up; node bench/warm-cpu.mjs'
//   --n 15          agents
//   --runs 12       invocations per command
//   --cmds 'run * -- true|run * -- ifconfig'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FlotillaFleet } from './flotilla-fleet.mjs';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '15' },
    runs: { type: 'string', default: '12' },
    cmds: { type: 'string', default: 'run * -- true|run * -- ifconfig' },
    port: { type: 'string', default: '9500' },
  },
});
const n = Number(values.n);
const runs = Number(values.runs);
const TICK_MS = 1000 / 100; // USER_HZ

const cpuMs = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const dir = mkdtempSync(join(tmpdir(), 'flotilla-warm-cpu-'));
const fleet = new FlotillaFleet({ dir, port: Number(values.port) });
try {
  await fleet.start();
  await fleet.growTo(n);
  await fleet.connect('*');
  const control = [...fleet.controlPids][0];
  console.log(`${n} agents, ${runs} runs per command, load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`);
  for (const command of values.cmds.split('|')) {
    const argv = command.split(' ');
    for (let i = 0; i < 2; i++) await fleet.cli(argv); // warm-up
    const agents0 = fleet.agents.reduce((sum, a) => sum + cpuMs(a.pid), 0);
    const control0 = cpuMs(control);
    const walls = [];
    let failed = 0;
    for (let i = 0; i < runs; i++) {
      const result = await fleet.cli(argv);
      walls.push(result.seconds);
      if (result.code !== 0) failed++;
    }
    const agentsMs = (fleet.agents.reduce((sum, a) => sum + cpuMs(a.pid), 0) - agents0) / runs / n;
    const controlMs = (cpuMs(control) - control0) / runs;
    const inside = [];
    for (let i = 0; i < runs; i++) inside.push((await fleet.invokeControl(argv)).ms);
    console.log(
      `${command}: wall median ${median(walls).toFixed(3)} s (${Math.min(...walls).toFixed(3)}-${Math.max(...walls).toFixed(3)}), ` +
        `agent CPU ${agentsMs.toFixed(2)} ms per exec, control process CPU ${controlMs.toFixed(1)} ms and request-to-exit ${median(inside).toFixed(0)} ms per invocation` +
        (failed ? `, ${failed} failed` : ''),
    );
  }
} finally {
  await fleet.disconnect();
  await fleet.stop();
  rmSync(dir, { recursive: true, force: true });
}
