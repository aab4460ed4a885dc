// Runs a command inside a private network namespace with only loopback up, so tests that
// start WebRTC peers and Chromium cannot send a packet off this machine. Needs root (CI is).
// Usage: node scripts/in-netns.mjs <command> [args…]
import { spawnSync } from 'node:child_process';

export function canUnshare() {
  return spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
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
  const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const result = spawnSync('unshare', ['-n', 'sh', '-c', `ip link set lo up && exec npx ${quoted}`], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
