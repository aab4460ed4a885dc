// Reads one sample of the host: /proc and /sys directly, statfs per real filesystem. Rates (CPU %,
// disk and network bytes per second) come from the difference with the previous reading, so the
// first call of a sampler gives levels only. Costs a few hundred microseconds (bench/metrics.mjs).

import { closeSync, openSync, readSync, readdirSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { busyPercent, parseDiskstats, parseLoadavg, parseMeminfo, parseMountinfo, parseNetDev, parseStat, parseUptime } from './proc-parse.ts';
import type { CpuTimes, DiskCounters, Mount, NetCounters } from './proc-parse.ts';
import { MAX_DEVICES, MAX_SERIES_NAME, type Sample } from './spec.ts';

/** Where the sampler reads (a test points it elsewhere). */
export interface SamplerPaths {
  proc: string;
  sys: string;
}

interface Previous {
  at: number;
  cpu: CpuTimes | undefined;
  cores: Map<number, CpuTimes>;
  disks: Map<string, DiskCounters>;
  nets: Map<string, NetCounters>;
}

/** Device lists are read again this often: disks, sensors and mounts come and go rarely. */
const RESCAN_MS = 60_000;

/** Largest file the sampler reads (a /proc/net/dev of thousands of interfaces is cut there). */
const MAX_FILE = 4 * 1024 * 1024;
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * A file of /proc or /sys as text, or undefined. Synchronous, into one reused buffer: these files
 * live in memory and read in microseconds, and readFile allocated a fresh 64 KiB buffer for each
 * of them (their size is unknown), half a megabyte of garbage per sample.
 */
function read(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    let length = 0;
    for (;;) {
      if (length === scratch.length) {
        if (scratch.length >= MAX_FILE) break;
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger);
        scratch = bigger;
      }
      const n = readSync(fd, scratch, length, scratch.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return scratch.toString('utf8', 0, length);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function list(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** A sampler keeps the previous counters; `sample()` returns the next point. */
export function createSampler(paths: SamplerPaths = { proc: '/proc', sys: '/sys' }): { sample(): Promise<Sample> } {
  let previous: Previous | undefined;
  let scannedAt = -Infinity;
  let blockDevices = new Set<string>();
  let sensors: { name: string; path: string }[] = [];
  let mounts: Mount[] = [];
  /** statfs calls still out (a slow disk): not asked again until they return. */
  const pendingStatfs = new Set<string>();
  const lastFs = new Map<string, { used: number; size: number; inodesUsed: number; inodes: number }>();

  function rescan(now: number): void {
    if (now - scannedAt < RESCAN_MS) return;
    scannedAt = now;
    // Whole disks only (partitions would count their I/O twice); loop and RAM disks are not disks.
    const block = list(`${paths.sys}/block`);
    blockDevices = new Set(block.filter((n) => !/^(loop|ram|zram|fd)\d*$/.test(n)).slice(0, MAX_DEVICES));
    sensors = findSensors(paths.sys);
    mounts = parseMountinfo(read(`${paths.proc}/self/mountinfo`) ?? '').slice(0, MAX_DEVICES);
    for (const key of lastFs.keys()) if (!mounts.some((m) => m.mountPoint === key)) lastFs.delete(key);
  }

  async function sample(): Promise<Sample> {
    const now = Date.now();
    rescan(now);
    const [stat, meminfo, loadavg, uptime, diskstats, netdev] = ['stat', 'meminfo', 'loadavg', 'uptime', 'diskstats', 'net/dev'].map((f) =>
      read(`${paths.proc}/${f}`),
    );
    const pids = list(paths.proc);
    const values: Record<string, number> = {};
    const totals: Record<string, number> = {};
    const cpu = parseStat(stat ?? '');
    const seconds = previous ? (now - previous.at) / 1000 : 0;
    if (previous?.cpu && cpu.total) {
      const p = busyPercent(previous.cpu, cpu.total);
      values['cpu'] = round(p.busy, 2);
      values['cpu.iowait'] = round(p.iowait, 2);
      values['cpu.steal'] = round(p.steal, 2);
      for (const [n, times] of cpu.cores) {
        const before = previous.cores.get(n);
        if (before && n < MAX_DEVICES * 4) values[`core:${n}`] = round(busyPercent(before, times).busy, 2);
      }
    }
    values['cpu.cores'] = cpu.cores.size;
    const load = parseLoadavg(loadavg ?? '');
    if (load) [values['load1'], values['load5'], values['load15']] = load;
    const mem = parseMeminfo(meminfo ?? '');
    if (mem) {
      values['mem.total'] = mem.total;
      values['mem.used'] = mem.used;
      values['mem.available'] = mem.available;
      values['swap.total'] = mem.swapTotal;
      values['swap.used'] = mem.swapUsed;
    }
    const up = parseUptime(uptime ?? '');
    if (up !== undefined) values['uptime'] = Math.round(up);
    values['procs'] = pids.reduce((n, name) => (name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57 ? n + 1 : n), 0);

    const disks = parseDiskstats(diskstats ?? '', (name) => blockDevices.has(name));
    for (const [name, d] of disks) {
      totals[`disk:${name}:read_bytes`] = d.readBytes;
      totals[`disk:${name}:write_bytes`] = d.writeBytes;
      const before = previous?.disks.get(name);
      if (before && seconds > 0) {
        values[`disk:${name}:read_Bps`] = Math.round(Math.max(0, d.readBytes - before.readBytes) / seconds);
        values[`disk:${name}:write_Bps`] = Math.round(Math.max(0, d.writeBytes - before.writeBytes) / seconds);
        values[`disk:${name}:busy`] = round(Math.min(100, Math.max(0, d.ioMs - before.ioMs) / (10 * seconds)), 2);
      }
    }
    // Loopback carries the agent's own traffic to local services; it says nothing of the host.
    const nets = parseNetDev(netdev ?? '', (name) => name !== 'lo');
    let kept = 0;
    for (const [name, n] of nets) {
      if (kept++ >= MAX_DEVICES) break;
      totals[`net:${name}:rx_bytes`] = n.rxBytes;
      totals[`net:${name}:tx_bytes`] = n.txBytes;
      totals[`net:${name}:rx_packets`] = n.rxPackets;
      totals[`net:${name}:tx_packets`] = n.txPackets;
      totals[`net:${name}:errors`] = n.rxErrors + n.txErrors;
      totals[`net:${name}:drops`] = n.rxDrops + n.txDrops;
      const before = previous?.nets.get(name);
      if (before && seconds > 0) {
        const rate = (a: number, b: number) => round(Math.max(0, a - b) / seconds, 2);
        values[`net:${name}:rx_Bps`] = rate(n.rxBytes, before.rxBytes);
        values[`net:${name}:tx_Bps`] = rate(n.txBytes, before.txBytes);
        values[`net:${name}:rx_pps`] = rate(n.rxPackets, before.rxPackets);
        values[`net:${name}:tx_pps`] = rate(n.txPackets, before.txPackets);
        values[`net:${name}:errors_ps`] = rate(n.rxErrors + n.txErrors, before.rxErrors + before.txErrors);
      }
    }

    await Promise.all(mounts.map((m) => measureFs(m)));
    for (const m of mounts) {
      const fs = lastFs.get(m.mountPoint);
      if (!fs) continue;
      values[`fs:${m.mountPoint}:used`] = fs.used;
      values[`fs:${m.mountPoint}:size`] = fs.size;
      values[`fs:${m.mountPoint}:inodes_used`] = fs.inodesUsed;
      values[`fs:${m.mountPoint}:inodes`] = fs.inodes;
    }
    for (const sensor of sensors) {
      const milli = Number(read(sensor.path)?.trim());
      if (Number.isFinite(milli) && milli !== 0) values[`temp:${sensor.name}`] = round(milli / 1000, 1);
    }
    previous = { at: now, cpu: cpu.total, cores: cpu.cores, disks, nets };
    // A name too long for the wire (a deep mount point) would make the whole sample malformed.
    for (const map of [values, totals]) for (const name of Object.keys(map)) if (name.length > MAX_SERIES_NAME) delete map[name];
    return { t: now, values, totals };
  }

  /** statfs of one mount, bounded in time: a call that has not returned keeps its last value. */
  async function measureFs(m: Mount): Promise<void> {
    if (pendingStatfs.has(m.mountPoint)) return;
    pendingStatfs.add(m.mountPoint);
    const call = statfs(m.mountPoint).then(
      (s) => {
        pendingStatfs.delete(m.mountPoint);
        // `used` as df counts it: blocks not free (root's reserve counts as used, as in df's Used column).
        lastFs.set(m.mountPoint, { size: s.blocks * s.bsize, used: (s.blocks - s.bfree) * s.bsize, inodes: s.files, inodesUsed: s.files - s.ffree });
      },
      () => {
        pendingStatfs.delete(m.mountPoint);
        lastFs.delete(m.mountPoint);
      },
    );
    await Promise.race([call, new Promise((r) => setTimeout(r, 500).unref())]);
  }

  return { sample };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Temperature inputs: thermal zones (`type` names them) and hwmon chips (`name` plus the input's label). */
function findSensors(sys: string): { name: string; path: string }[] {
  const found: { name: string; path: string }[] = [];
  for (const zone of list(`${sys}/class/thermal`).filter((z) => z.startsWith('thermal_zone'))) {
    const type = read(`${sys}/class/thermal/${zone}/type`)?.trim() || zone;
    found.push({ name: `${type}.${zone.slice('thermal_zone'.length)}`, path: `${sys}/class/thermal/${zone}/temp` });
  }
  for (const chip of list(`${sys}/class/hwmon`)) {
    const dir = `${sys}/class/hwmon/${chip}`;
    const name = read(`${dir}/name`)?.trim() || chip;
    for (const input of list(dir).filter((f) => /^temp\d+_input$/.test(f))) {
      const label = read(`${dir}/${input.replace('_input', '_label')}`)?.trim() || input.replace('_input', '');
      found.push({ name: `${name}.${label}`.replace(/\s+/g, '_'), path: `${dir}/${input}` });
    }
  }
  return found.slice(0, MAX_DEVICES);
}
