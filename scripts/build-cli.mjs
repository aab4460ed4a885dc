// Bundles the CLI so it starts without tsx: dist/flotilla.cjs (the whole CLI) and
// dist/flotilla-client.cjs (the small warm-mode client that bin/flotilla.js loads first). Both
// CommonJS: in Node 20 that starts faster than an ES module, and only a CommonJS bundle can be
// loaded with a V8 code cache (bin/compile-cache.js).
// bin/flotilla.js uses them only while they are newer than their sources (bin/fresh-bundle.js).
// Dependencies (werift, ws) are bundled in: loading werift's hundreds of files from node_modules
// costs more than half of the start-up we save (measured: ~310 ms user CPU with them external,
// ~175 ms bundled). The bundle is therefore only used while it is newer than package-lock.json,
// node_modules/.package-lock.json and patches/ as well (bin/fresh-bundle.js).
import { build } from 'esbuild';
import { mkdir, rm, stat } from 'node:fs/promises';

await mkdir('dist', { recursive: true });
const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Whitespace and syntax only: identifiers stay readable in stack traces.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
};
// werift needs @peculiar/x509 only to make DTLS certificates, which rtc-endpoint makes itself
// (node/rtc/dtls-cert.ts), as in the agent bundle: evaluating the library took ~35 ms of
// every cold CLI start.
await build({ ...common, entryPoints: ['cli/src/main.ts'], outfile: 'dist/flotilla.cjs', alias: { '@peculiar/x509': './node/rtc/x509-left-out.ts' } });
await build({ ...common, entryPoints: ['cli/src/control/client.ts'], outfile: 'dist/flotilla-client.cjs' });
// The ES module bundles of earlier builds.
await rm('dist/flotilla.mjs', { force: true });
await rm('dist/flotilla-client.mjs', { force: true });
for (const file of ['dist/flotilla.cjs', 'dist/flotilla-client.cjs']) {
  const { size } = await stat(file);
  console.log(`${file} ${(size / 1024).toFixed(0)} KiB`);
}
