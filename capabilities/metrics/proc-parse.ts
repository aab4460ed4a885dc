// Parsers of the kernel's text files the sampler reads (/proc/stat, meminfo, loadavg, uptime,
// diskstats, net/dev, self/mountinfo). Pure functions of the text, so the unit tests run them on
// captured files; each skips a line it cannot read rather than failing the whole sample.

/** CPU time counters of one line of /proc/stat, in ticks. */
export interface CpuTimes {
  /** Every field summed (guest time is already inside user and nice). */
  total: number;
  /** idle + iowait: time the CPU did no work. */
  idle: number;
  iowait: number;
  steal: number;
}

/** /proc/stat's CPU lines: the total first (`cpu`), then each core by number. */
export function parseStat(text: string): { total: CpuTimes | undefined; cores: Map<number, CpuTimes> } {
  let total: CpuTimes | undefined;
  const cores = new Map<number, CpuTimes>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const [name, ...rest] = line.trim().split(/\s+/);
    const f = rest.map(Number);
    if (f.length < 4 || f.some((n) => !Number.isFinite(n))) continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const times = { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait, iowait, steal };
    if (name === 'cpu') total = times;
    else if (/^cpu\d+$/.test(name ?? '')) cores.set(Number(name!.slice(3)), times);
  }
  return { total, cores };
}

/** Busy share of the time between two readings, in percent (0 when no time passed). */
export function busyPercent(before: CpuTimes, after: CpuTimes): { busy: number; iowait: number; steal: number } {
  const dt = after.total - before.total;
  if (dt <= 0) return { busy: 0, iowait: 0, steal: 0 };
  const pct = (n: number) => Math.min(100, Math.max(0, (100 * n) / dt));
  return { busy: pct(dt - (after.idle - before.idle)), iowait: pct(after.iowait - before.iowait), steal: pct(after.steal - before.steal) };
}

/** Memory and swap from /proc/meminfo, in bytes. `used` is what `free` calls used: total − available. */
export interface Memory {
  total: number;
  available: number;
  used: number;
  swapTotal: number;
  swapUsed: number;
}

/** /proc/meminfo (values in kB). MemAvailable is missing before Linux 3.14: free + buffers + cached stands in. */
export function parseMeminfo(text: string): Memory | undefined {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([\w()]+):\s+(\d+)/.exec(line);
    if (m) kb.set(m[1]!, Number(m[2]) * 1024);
  }
  const total = kb.get('MemTotal');
  if (total === undefined) return undefined;
  const available = kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  const swapTotal = kb.get('SwapTotal') ?? 0;
  return { total, available, used: Math.max(0, total - available), swapTotal, swapUsed: Math.max(0, swapTotal - (kb.get('SwapFree') ?? 0)) };
}

/** /proc/loadavg: the 1, 5 and 15 minute load averages. */
export function parseLoadavg(text: string): [number, number, number] | undefined {
  const f = text.trim().split(/\s+/).slice(0, 3).map(Number);
  return f.length === 3 && f.every(Number.isFinite) ? (f as [number, number, number]) : undefined;
}

/** /proc/uptime: seconds since boot. */
export function parseUptime(text: string): number | undefined {
  const s = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(s) ? s : undefined;
}

/** Cumulative I/O counters of one block device. */
export interface DiskCounters {
  readBytes: number;
  writeBytes: number;
  /** Milliseconds the device had I/O in flight. */
  ioMs: number;
}

/** /proc/diskstats, for the devices `keep` accepts (sectors are 512 bytes whatever the device's own size). */
export function parseDiskstats(text: string, keep: (name: string) => boolean): Map<string, DiskCounters> {
  const out = new Map<string, DiskCounters>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const name = f[2];
    if (f.length < 14 || !name || !keep(name)) continue;
    const n = (i: number) => Number(f[i]);
    if (![5, 9, 12].every((i) => Number.isFinite(n(i)))) continue;
    out.set(name, { readBytes: n(5) * 512, writeBytes: n(9) * 512, ioMs: n(12) });
  }
  return out;
}

/** Cumulative counters of one network interface. */
export interface NetCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDrops: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDrops: number;
}

/** /proc/net/dev, for the interfaces `keep` accepts. */
export function parseNetDev(text: string, keep: (name: string) => boolean): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (!name || !keep(name) || f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    out.set(name, {
      rxBytes: f[0]!,
      rxPackets: f[1]!,
      rxErrors: f[2]!,
      rxDrops: f[3]!,
      txBytes: f[8]!,
      txPackets: f[9]!,
      txErrors: f[10]!,
      txDrops: f[11]!,
    });
  }
  return out;
}

/** One mounted filesystem. */
export interface Mount {
  /** major:minor of the device: the same filesystem mounted twice (bind mounts) is counted once. */
  device: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

/**
 * Filesystems that hold no files of their own (proc, sysfs, cgroup…), in-memory ones (tmpfs: its
 * "disk" is RAM, counted under memory), read-only images that are always full (squashfs, ISO),
 * and network ones: a statfs on a hung NFS server blocks, and each blocked call holds one of
 * libuv's four threads, which the agent needs for every file it reads.
 */
const SKIPPED_FS = new Set([
  'proc',
  'sysfs',
  'devtmpfs',
  'devpts',
  'tmpfs',
  'ramfs',
  'cgroup',
  'cgroup2',
  'securityfs',
  'debugfs',
  'tracefs',
  'configfs',
  'fusectl',
  'mqueue',
  'hugetlbfs',
  'pstore',
  'bpf',
  'autofs',
  'binfmt_misc',
  'nsfs',
  'rpc_pipefs',
  'efivarfs',
  'selinuxfs',
  'squashfs',
  'iso9660',
  'overlay',
  'nfs',
  'nfs4',
  'cifs',
  'smb3',
  'smbfs',
  'ceph',
  'glusterfs',
  '9p',
  'afs',
  'virtiofs',
]);

/** True for a filesystem type the sampler measures (see SKIPPED_FS for what it leaves out). */
export function isRealFs(fsType: string): boolean {
  return !SKIPPED_FS.has(fsType) && !fsType.startsWith('fuse');
}

/** Undoes the octal escapes of /proc mount tables (`\040` is a space). */
function unescapeMount(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** /proc/self/mountinfo: real filesystems, each device once (its first, shortest mount point). */
export function parseMountinfo(text: string): Mount[] {
  const byDevice = new Map<string, Mount>();
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    const [device, , mountPoint] = [left[2], left[3], left[4]];
    const [fsType, source] = [right[0], right[1]];
    if (!device || !mountPoint || !fsType || !isRealFs(fsType)) continue;
    const mount = { device, mountPoint: unescapeMount(mountPoint), fsType, source: unescapeMount(source ?? '') };
    const known = byDevice.get(device);
    if (!known || mount.mountPoint.length < known.mountPoint.length) byDevice.set(device, mount);
  }
  return [...byDevice.values()];
}
