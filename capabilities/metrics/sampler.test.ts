import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createSampler } from './sampler.ts';

const root = mkdtempSync(join(tmpdir(), 'flotilla-sampler-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const put = (path: string, text: string) => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
};

/** A /proc and /sys of captured text, with counters that move by known amounts between two readings. */
function host(step: number): void {
  put('proc/stat', `cpu  ${1000 + step * 300} 0 0 ${1000 + step * 100} 0 0 0 0 0 0\ncpu0 ${500 + step * 150} 0 0 ${500 + step * 50} 0 0 0 0 0 0\n`);
  put('proc/meminfo', 'MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 400 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n');
  put('proc/loadavg', '0.50 0.40 0.30 1/100 999\n');
  put('proc/uptime', '3600.5 7000.0\n');
  put('proc/diskstats', ` 254 0 vda 0 0 ${step * 2048} 0 0 0 ${step * 4096} 0 0 ${step * 500} 0\n 7 0 loop0 0 0 999 0 0 0 999 0 0 0 0\n`);
  put(
    'proc/net/dev',
    `Inter-|\n face |\n    lo: 999 9 0 0 0 0 0 0 999 9 0 0 0 0 0 0\n  eth0: ${step * 10_000} ${step * 10} 0 0 0 0 0 0 ${step * 5000} ${step * 5} ${step} 0 0 0 0 0\n`,
  );
  put('proc/self/mountinfo', `27 1 254:0 / ${root} rw - ext4 /dev/vda rw\n22 27 0:21 / /proc rw - proc proc rw\n`);
  for (const pid of ['1', '42', '4242']) mkdirSync(join(root, 'proc', pid), { recursive: true });
  for (const dev of ['vda', 'loop0']) mkdirSync(join(root, 'sys/block', dev), { recursive: true });
  put('sys/class/thermal/thermal_zone0/type', 'x86_pkg_temp\n');
  put('sys/class/thermal/thermal_zone0/temp', '45000\n');
  put('sys/class/hwmon/hwmon0/name', 'nvme\n');
  put('sys/class/hwmon/hwmon0/temp1_input', '38500\n');
  put('sys/class/hwmon/hwmon0/temp1_label', 'Composite\n');
}

describe('createSampler', () => {
  it('reads levels at once, rates from the second reading, and temperatures, from the files it is pointed at', async () => {
    host(0);
    const sampler = createSampler({ proc: join(root, 'proc'), sys: join(root, 'sys') });
    const first = await sampler.sample();
    expect(first.values).toMatchObject({ 'mem.total': 1024_000, 'mem.used': 600 * 1024, load1: 0.5, uptime: 3601, procs: 3, 'cpu.cores': 1 });
    expect(first.values['cpu']).toBeUndefined();
    expect(first.values['temp:x86_pkg_temp.0']).toBe(45);
    expect(first.values['temp:nvme.Composite']).toBe(38.5);
    const fs = statfsSync(root);
    expect(first.values[`fs:${root}:size`]).toBe(fs.blocks * fs.bsize);
    expect(first.values[`fs:${root}:inodes`]).toBe(fs.files);
    await new Promise((r) => setTimeout(r, 1000));
    host(1);
    const second = await sampler.sample();
    const seconds = (second.t - first.t) / 1000;
    expect(second.values['cpu']).toBe(75);
    expect(second.values['core:0']).toBe(75);
    expect(second.values['disk:vda:read_Bps']).toBe(Math.round((2048 * 512) / seconds));
    expect(second.values['disk:vda:write_Bps']).toBe(Math.round((4096 * 512) / seconds));
    expect(second.values['net:eth0:rx_Bps']).toBeCloseTo(10_000 / seconds, 1);
    expect(second.totals).toMatchObject({ 'net:eth0:rx_bytes': 10_000, 'net:eth0:tx_packets': 5, 'net:eth0:errors': 1, 'disk:vda:write_bytes': 4096 * 512 });
    // Loopback and loop devices are left out.
    expect(Object.keys(second.values).some((k) => k.includes(':lo:') || k.includes('loop0'))).toBe(false);
  });
});
