// Bundles the agent into one file, dist/flotilla-agent.mjs, that runs with plain `node` on a
// host with nothing else installed (the signaling server serves it for the install command).
import { build } from 'esbuild';
import { mkdir, stat } from 'node:fs/promises';

await mkdir('dist', { recursive: true });
await build({
  entryPoints: ['agent/src/entry.ts'],
  outfile: 'dist/flotilla-agent.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // NO_MINIFY=1 keeps names readable in CPU profiles (node --cpu-prof).
  minify: !process.env.NO_MINIFY,
  sourcemap: false,
  legalComments: 'none',
  // Some dependencies are CommonJS and call require(); give the ESM bundle one.
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as __flotillaRequire } from 'node:module';\nconst require = __flotillaRequire(import.meta.url);" },
  // werift needs @peculiar/x509 only to make certificates, which the agent makes itself
  // (node/rtc/dtls-cert.ts); leaving it out saves about 8 MiB of RSS (docs/operations.md).
  alias: { '@peculiar/x509': './node/rtc/x509-left-out.ts' },
  // The terminal's pty is a native module: imported at run time, on the first terminal only
  // (capabilities/terminal/sessions.ts), from node_modules beside the agent.
  external: ['@lydell/node-pty'],
  logLevel: 'warning',
});
const { size } = await stat('dist/flotilla-agent.mjs');
console.log(`dist/flotilla-agent.mjs ${(size / 1024).toFixed(0)} KiB`);
