import { describe, expect, it } from 'vitest';
import { hexToIPv4, hexToIPv6, parseProcNet, socketInode } from './proc-net.ts';

// Lines as Linux 6.1 prints them (header, a listener, an established connection).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41234 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 41250 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1789 1 0000000000000000 100 0 0 10 0
`;

const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1791 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1800 1 0000000000000000 100 0 0 10 0
`;

const UDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  120: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 15501 2 0000000000000000 0
  200: 0100007F:D431 0100007F:0035 01 00000000:00000000 00:00000000 00000000  1000        0 16000 2 0000000000000000 0
`;

describe('/proc/net parsing', () => {
  it("reads addresses in the kernel's byte order", () => {
    expect(hexToIPv4('0100007F')).toBe('127.0.0.1');
    expect(hexToIPv4('00000000')).toBe('0.0.0.0');
    expect(hexToIPv4('0A00A8C0')).toBe('192.168.0.10');
    expect(hexToIPv6('00000000000000000000000001000000')).toBe('::1');
    expect(hexToIPv6('00000000000000000000000000000000')).toBe('::');
    expect(hexToIPv6('B80D0120000000000000000001000000')).toBe('2001:db8::1');
    expect(hexToIPv6('0000000000000000FFFF00000100007F')).toBe('::ffff:127.0.0.1');
    expect(hexToIPv6('000080FE00000000FF005402FE8F9B1A')).toBe('fe80::254:ff:1a9b:8ffe');
    expect(() => hexToIPv4('xyz')).toThrow(/not an IPv4/);
  });

  it('keeps TCP sockets in LISTEN only, with port, inode and uid', () => {
    expect(parseProcNet(TCP, 'tcp')).toEqual([
      { protocol: 'tcp', address: '127.0.0.1', port: 8080, inode: 41234, uid: 1000 },
      { protocol: 'tcp', address: '0.0.0.0', port: 22, inode: 1789, uid: 0 },
    ]);
    expect(parseProcNet(TCP6, 'tcp6').map((s) => `${s.address} ${s.port}`)).toEqual([':: 22', '::1 631']);
  });

  it('keeps UDP sockets that are bound and not connected', () => {
    expect(parseProcNet(UDP, 'udp')).toEqual([{ protocol: 'udp', address: '127.0.0.53', port: 53, inode: 15501, uid: 101 }]);
  });

  it('skips lines it cannot read instead of failing', () => {
    expect(parseProcNet('header\n garbage\n 0: ZZZ:1 0:0 0A a b c 0 0 x\n\n', 'tcp')).toEqual([]);
    expect(parseProcNet('', 'udp6')).toEqual([]);
  });

  it('reads a socket inode from an fd link and nothing from other links', () => {
    expect(socketInode('socket:[41234]')).toBe(41234);
    expect(socketInode('pipe:[41234]')).toBeUndefined();
    expect(socketInode('/dev/null')).toBeUndefined();
  });
});
