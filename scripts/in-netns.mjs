// Runs a command inside a private network namespace, so tests that start WebRTC peers and
// Chromium cannot send a packet off this machine. Inside: loopback, plus one veth pair whose
// both ends stay in the namespace (Chromium gathers ICE candidates erratically when loopback
// is its only interface; the pair gives it a LAN that leads nowhere). Needs root (CI is).
// Usage: node scripts/in-netns.mjs <command> [args…]
import { spawnSync } from 'node:child_process';

const SETUP = [
  'ip link set lo up',
  'ip link add fl-lan0 type veth peer name fl-lan1',
  'ip addr add 10.213.0.1/24 dev fl-lan0',
  'ip addr add 10.213.0.2/24 dev fl-lan1',
  'ip link set fl-lan0 up',
  'ip link set fl-lan1 up',
].join(' && ');

/** True when this user can create network namespaces. */
export function canUnshare() {
  return spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
}

/** Runs `npx command args…` in a fresh namespace; returns the exit status. */
export function runInNetns(command, args, options = {}) {
  const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return spawnSync('unshare', ['-n', 'sh', '-c', `${SETUP} && exec npx ${quoted}`], { stdio: 'inherit', ...options }).status ?? 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    console.error('usage: node scripts/in-netns.mjs <command> [args…]');
    process.exit(2);
  }
  if (!canUnshare()) {
    console.error('in-netns: cannot create a network namespace (needs root: run as root or in CI)');
    process.exit(3);
  }
  process.exit(runInNetns(command, args));
}
