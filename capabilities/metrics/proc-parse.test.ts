import { describe, it, expect } from 'vitest';
import { busyPercent, parseDiskstats, parseLoadavg, parseMeminfo, parseMountinfo, parseNetDev, parseStat, parseUptime } from './proc-parse.ts';

// Captured from a 2-core Debian 12 VM (trimmed).
const STAT_1 = `cpu  1289982 6744 150472 2597549 2400 0 3407 22439 0 0
cpu0 639615 3412 73400 1307229 841 0 1036 10945 0 0
cpu1 650366 3331 77071 1290319 1558 0 2370 11493 0 0
intr 123 4 5
ctxt 99
processes 3360
`;
// 10 s later: core 0 fully busy in user time, core 1 idle with some iowait.
const STAT_2 = `cpu  1290982 6744 150472 2598449 2500 0 3407 22439 0 0
cpu0 640615 3412 73400 1307229 841 0 1036 10945 0 0
cpu1 650366 3331 77071 1291219 1658 0 2370 11493 0 0
`;

describe('parseStat and busyPercent', () => {
  it('reads the total and each core, and turns two readings into busy, iowait and steal %', () => {
    const a = parseStat(STAT_1);
    const b = parseStat(STAT_2);
    expect(a.cores.size).toBe(2);
    expect(a.total).toEqual({ total: 1289982 + 6744 + 150472 + 2597549 + 2400 + 3407 + 22439, idle: 2597549 + 2400, iowait: 2400, steal: 22439 });
    expect(busyPercent(a.cores.get(0)!, b.cores.get(0)!).busy).toBe(100);
    expect(busyPercent(a.cores.get(1)!, b.cores.get(1)!)).toEqual({ busy: 0, iowait: 10, steal: 0 });
    expect(busyPercent(a.total!, b.total!).busy).toBe(50);
  });

  it('gives 0 when no time passed and skips lines it cannot read', () => {
    const a = parseStat(STAT_1);
    expect(busyPercent(a.total!, a.total!)).toEqual({ busy: 0, iowait: 0, steal: 0 });
    expect(parseStat('cpu x y z\ncpu0 1 2\n').total).toBeUndefined();
  });
});

describe('parseMeminfo', () => {
  it('reads total, available and swap in bytes; used is total − available', () => {
    const m = parseMeminfo('MemTotal:       24683664 kB\nMemFree:        20220288 kB\nMemAvailable:   22974888 kB\nSwapTotal: 1000 kB\nSwapFree: 400 kB\n');
    expect(m).toEqual({ total: 24683664 * 1024, available: 22974888 * 1024, used: (24683664 - 22974888) * 1024, swapTotal: 1024000, swapUsed: 600 * 1024 });
  });

  it('stands in free + buffers + cached for MemAvailable on old kernels, and refuses text without MemTotal', () => {
    expect(parseMeminfo('MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 20 kB\n')?.available).toBe(35 * 1024);
    expect(parseMeminfo('nonsense')).toBeUndefined();
  });
});

describe('parseLoadavg and parseUptime', () => {
  it('read the three loads and the seconds since boot', () => {
    expect(parseLoadavg('10.89 6.42 3.03 8/175 3360\n')).toEqual([10.89, 6.42, 3.03]);
    expect(parseLoadavg('x')).toBeUndefined();
    expect(parseUptime('20429.68 25975.54\n')).toBe(20429.68);
  });
});

describe('parseDiskstats', () => {
  it('reads bytes read and written (512-byte sectors) and I/O time for the devices kept', () => {
    const text = `   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 254       0 vda 41202 1120 3052178 20312 600512 201022 40967104 1010244 0 403524 1030556 0 0 0 0 0 0
 254       1 vda1 100 0 800 10 0 0 0 0 0 10 10
`;
    const disks = parseDiskstats(text, (n) => n === 'vda');
    expect([...disks.keys()]).toEqual(['vda']);
    expect(disks.get('vda')).toEqual({ readBytes: 3052178 * 512, writeBytes: 40967104 * 512, ioMs: 403524 });
  });
});

describe('parseNetDev', () => {
  it('reads the counters of each interface kept, including names with dots', () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1443513087   95648    0    0    0     0          0         0 1443513087   95648    0    0    0     0       0          0
  eth0: 4743101158  153987    2    1    0     0          0         0 28934882  151451    3    4    0     0       0          0
eth0.100:100 2 0 0 0 0 0 0 200 3 0 0 0 0 0 0
`;
    const nets = parseNetDev(text, (n) => n !== 'lo');
    expect([...nets.keys()]).toEqual(['eth0', 'eth0.100']);
    expect(nets.get('eth0')).toEqual({
      rxBytes: 4743101158,
      rxPackets: 153987,
      rxErrors: 2,
      rxDrops: 1,
      txBytes: 28934882,
      txPackets: 151451,
      txErrors: 3,
      txDrops: 4,
    });
  });
});

describe('parseMountinfo', () => {
  it('keeps real filesystems once each (bind mounts share a device), unescapes names and skips pseudo and network ones', () => {
    const text = `22 27 0:21 / /proc rw,relatime - proc proc rw
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24683664k
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
45 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw
46 27 254:16 / /srv/my\\040data rw - xfs /dev/vdb rw
47 27 0:50 / /mnt/nfs rw - nfs4 server:/export rw
48 27 0:51 / /snap/core/1 ro - squashfs /dev/loop0 ro
49 27 0:52 / /mnt/sshfs rw - fuse.sshfs me@host: rw
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
    expect(parseMountinfo(text)).toEqual([
      { device: '254:0', mountPoint: '/', fsType: 'ext4', source: '/dev/vda' },
      { device: '254:16', mountPoint: '/srv/my data', fsType: 'xfs', source: '/dev/vdb' },
    ]);
  });
});
