import { describe, it, expect } from 'vitest';
import { ipInRange, parseIp, parseIpRange } from './selector-ip.ts';

const inRange = (range: string, address: string) => {
  const parsed = parseIpRange(range);
  if (!parsed) throw new Error(`${range} did not parse`);
  return ipInRange(parsed, address);
};

describe('parseIp', () => {
  it('reads IPv4 strictly', () => {
    expect([...parseIp('192.0.2.7')!]).toEqual([192, 0, 2, 7]);
    for (const bad of ['192.0.2', '192.0.2.7.1', '256.0.0.1', '010.0.0.1', '1.2.3.-4', '1..2.3', '', 'a.b.c.d']) expect(parseIp(bad), bad).toBeUndefined();
  });

  it('reads IPv6 with ::, an embedded IPv4 tail and a zone', () => {
    expect([...parseIp('::1')!]).toEqual([...new Array<number>(15).fill(0), 1]);
    expect([...parseIp('fd00::')!].slice(0, 2)).toEqual([0xfd, 0]);
    expect([...parseIp('::ffff:10.0.0.1')!].slice(10)).toEqual([0xff, 0xff, 10, 0, 0, 1]);
    expect(parseIp('fe80::1%eth0')).toEqual(parseIp('fe80::1'));
    expect(parseIp('1:2:3:4:5:6:7:8')?.length).toBe(16);
    for (const bad of ['1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fd00:::1', '12345::', 'g::1', '1:2:3:4:5:6:7::8'])
      expect(parseIp(bad), bad).toBeUndefined();
  });
});

describe('ipInRange', () => {
  it('matches by prefix length, host bits in the range ignored', () => {
    expect(inRange('10.0.0.0/24', '10.0.0.255')).toBe(true);
    expect(inRange('10.0.0.0/24', '10.0.1.0')).toBe(false);
    expect(inRange('10.0.0.5/24', '10.0.0.9')).toBe(true);
    expect(inRange('10.0.0.0/23', '10.0.1.200')).toBe(true);
    expect(inRange('0.0.0.0/0', '203.0.113.9')).toBe(true);
    expect(inRange('192.0.2.7', '192.0.2.7')).toBe(true);
    expect(inRange('192.0.2.7', '192.0.2.8')).toBe(false);
    expect(inRange('fd00::/64', 'fd00::abcd')).toBe(true);
    expect(inRange('fd00::/64', 'fd00:0:0:1::1')).toBe(false);
    expect(inRange('fe80::/10', 'febf::1%wlan0')).toBe(true);
  });

  it('compares an IPv4-mapped IPv6 address as IPv4, and never mixes families otherwise', () => {
    expect(inRange('10.0.0.0/8', '::ffff:10.1.2.3')).toBe(true);
    expect(inRange('::ffff:10.0.0.0/104', '10.9.9.9')).toBe(true);
    expect(inRange('::/0', '10.0.0.1')).toBe(false);
    expect(inRange('0.0.0.0/0', 'fd00::1')).toBe(false);
    expect(inRange('10.0.0.0/8', 'not an address')).toBe(false);
  });

  it('refuses prefix lengths past the address width', () => {
    expect(parseIpRange('10.0.0.0/33')).toBeUndefined();
    expect(parseIpRange('fd00::/129')).toBeUndefined();
    expect(parseIpRange('10.0.0.0/')).toBeUndefined();
    expect(parseIpRange('10.0.0.0/08')).toBeUndefined();
    expect(parseIpRange('fd00::/128')?.bits).toBe(128);
  });
});
