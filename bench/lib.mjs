// Small helpers shared by the benchmark scripts: bounded process runs, timing, statistics.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Runs a command to completion (bounded by timeoutMs) and returns
 * { code, stdout, stderr, seconds, timedOut }. Wall time is measured from outside.
 */
export function run(cmd, args, { env, cwd, timeoutMs = 120_000, input } = {}) {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: env ?? process.env, cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (error) => {
      stderr += String(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ code: code ?? -1, stdout, stderr, seconds, timedOut });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** VmRSS of a process in MiB, or null when it is gone. */
export function rssMiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function summarize(values) {
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

/** Parses the first JSON value printed on stdout (the CLI prints one document with --json). */
export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function log(...args) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${args.join(' ')}\n`);
}

/** The p-th percentile (0–100) by nearest rank. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * CPU seconds (user + system) of `root` and each live descendant whose process name matches
 * `name`, keyed by pid, each with a type: Chromium's --utility-sub-type or --type ('browser' for
 * its main process), else the process name.
 */
export function treeCpu(root, name = /chrom/) {
  const procs = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.push({
        pid: Number(entry),
        ppid: Number(fields[1]),
        comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
        seconds: (Number(fields[11]) + Number(fields[12])) / 100,
      });
    } catch {
      /* gone meanwhile */
    }
  }
  const inTree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs)
      if (!inTree.has(p.pid) && inTree.has(p.ppid)) {
        inTree.add(p.pid);
        grew = true;
      }
  }
  const out = new Map();
  for (const p of procs) {
    if (!inTree.has(p.pid) || !name.test(p.comm)) continue;
    let type = /chrom/.test(p.comm) ? 'browser' : p.comm;
    try {
      const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8');
      type = cmdline.match(/--utility-sub-type=([\w.]+)/)?.[1]?.replace(/\.mojom\.\w+$/, '') ?? cmdline.match(/--type=([\w-]+)/)?.[1] ?? type;
    } catch {
      /* gone meanwhile */
    }
    out.set(p.pid, { type, seconds: p.seconds });
  }
  return out;
}

/** CPU seconds spent between two treeCpu() readings, summed by process type. */
export function cpuBetween(before, after) {
  const byType = {};
  let total = 0;
  for (const [pid, { type, seconds }] of after) {
    const spent = seconds - (before.get(pid)?.seconds ?? 0);
    byType[type] = (byType[type] ?? 0) + spent;
    total += spent;
  }
  return { total, byType };
}
