// The tree's boundaries, read from the import statements: the CLI never reaches into the agent,
// the isomorphic parts (shared/, capability specs) import nothing platform-bound, and no module
// imports itself through others (runtime imports; `import type` does not count).

import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SKIP = new Set(['node_modules', '.git', 'dist', 'test-results', 'e2e', 'bench', 'scripts', 'bin']);
const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?!type\b)(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (SKIP.has(name)) continue;
    if (statSync(join(ROOT, path)).isDirectory()) sources(path, out);
    else if (/\.(ts|svelte)$/.test(name) && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const files = sources('.');
const graph = new Map(
  files.map((file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const specs = [...text.matchAll(IMPORT)].map((m) => m[1]!);
    return [file, specs.map((s) => (s.startsWith('.') ? normalize(join(dirname(file), s)) : s))] as const;
  }),
);

describe('boundaries', () => {
  it("the CLI (cli/ and each capability's cli.ts) imports nothing from agent/src", () => {
    const cli = files.filter((f) => f.startsWith('cli/') || /^capabilities\/[^/]+\/cli\.ts$/.test(f));
    const offending = cli.flatMap((f) =>
      graph
        .get(f)!
        .filter((t) => t.startsWith('agent/'))
        .map((t) => `${f} -> ${t}`),
    );
    expect(offending).toEqual([]);
  });

  it('shared/ and the capability specs run in a browser: no node: modules, nothing from agent/, cli/, node/ or web/', () => {
    const iso = files.filter((f) => f.startsWith('shared/') || /^capabilities\/[^/]+\/spec\.ts$/.test(f) || /^capabilities\/[^/]+\.ts$/.test(f));
    const offending = iso.flatMap((f) =>
      graph
        .get(f)!
        .filter((t) => t.startsWith('node:') || /^(agent|cli|node|web)\//.test(t))
        .map((t) => `${f} -> ${t}`),
    );
    expect(offending).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 1 | 2>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 1);
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (!graph.has(next)) continue;
        if (state.get(next) === 1) cycles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, 2);
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
