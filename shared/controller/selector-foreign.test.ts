// Salt and Ansible targeting typed as is: each form is refused with the Flotilla equivalent.

import { describe, it, expect } from 'vitest';
import { FlotillaError } from '../wire/errors.ts';
import { parseSelector } from './selector.ts';

function detail(text: string): string | undefined {
  try {
    parseSelector(text);
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'bad-selector') return error.detail;
    throw error;
  }
  throw new Error(`"${text}" was accepted`);
}

describe('Salt compound matchers', () => {
  const cases: Array<[string, string]> = [
    ['L@web1,web2', `Salt's list matcher "L@web1,web2" at position 1 is not needed here: write web1,web2`],
    ['G@os:Debian', `Salt's grain matcher "G@os:Debian" at position 1 is not Flotilla syntax: write distro:debian`],
    ['G@osrelease:12', `Salt's grain matcher "G@osrelease:12" at position 1 is not Flotilla syntax: write release:12`],
    ['G@cpuarch:x86_64', `Salt's grain matcher "G@cpuarch:x86_64" at position 1 is not Flotilla syntax: write arch:x86_64`],
    ['G@kernel:Linux', `Salt's grain matcher "G@kernel:Linux" at position 1 is not Flotilla syntax: write os:linux`],
    ['G@role:web', `Salt's grain matcher "G@role:web" at position 1 is not Flotilla syntax: write tag:role=web`],
    ['E@web\\d+', `Salt's regular-expression matcher "E@web\\d+" at position 1 is not supported: write a glob or a bracket form, such as web* or web[1:9]`],
    ['P@os:(Debian|Ubuntu)', `Salt's grain regular expression "P@os:(Debian|Ubuntu)" at position 1 is not supported: write distro:debian,ubuntu`],
    ['P@os:Deb.*', `Salt's grain regular expression "P@os:Deb.*" at position 1 is not supported: write a glob or a comma list, such as distro:debian,ubuntu`],
    ['I@role:web', `Salt's pillar matcher "I@role:web" at position 1 is not supported (Flotilla has no pillar): tag the hosts and write tag:role=web`],
    ['J@role:^web$', `Salt's pillar matcher "J@role:^web$" at position 1 is not supported (Flotilla has no pillar): tag the hosts and write tag:role=^web$`],
    ['S@10.0.0.0/24', `Salt's subnet matcher "S@10.0.0.0/24" at position 1 is not Flotilla syntax: write ip:10.0.0.0/24`],
    ['N@group', `Salt's nodegroup "N@group" at position 1 is written @group here (a saved selector: flotilla selector save group '<selector>')`],
    ['R@%foo.bar', `Salt's range matcher "R@%foo.bar" at position 1 is not supported: write a bracket list or range, such as web[1,3] or web[01:20]`],
    ['os:linux and (X@y or web-1)', `"X@y" at position 15 is Salt matcher syntax that Flotilla does not have; see docs/selectors.md for the forms`],
    ['web-1,G@os:Debian', `Salt's grain matcher "G@os:Debian" at position 7 is not Flotilla syntax: write distro:debian`],
    ['web-* and not G@os:Debian', `Salt's grain matcher "G@os:Debian" at position 15 is not Flotilla syntax: write distro:debian`],
  ];

  it.each(cases)('refuses %j', (text, expected) => {
    expect(detail(text)).toBe(expected);
  });
});

describe('Ansible patterns', () => {
  const cases: Array<[string, string]> = [
    ['~web\\d+', `Ansible's regular expression "~web\\d+" at position 1 is not supported: write a glob or a bracket form, such as web* or web[1:9]`],
    [
      'web\\d+',
      `"web\\d+" at position 1 looks like a regular expression, which selectors do not support: write a glob or a bracket form, such as web* or web[1:9]`,
    ],
    ['web:&prod', `Ansible's pattern "web:&prod" at position 1 is not Flotilla syntax: write web and prod`],
    ['web:!web3', `Ansible's pattern "web:!web3" at position 1 is not Flotilla syntax: write web and not web3`],
    [
      'web:db:&staging:!phoenix',
      `Ansible's pattern "web:db:&staging:!phoenix" at position 1 is not Flotilla syntax: write (web or db) and staging and not phoenix`,
    ],
    ['web,!web3', `Ansible's pattern "web,!web3" at position 1 is not Flotilla syntax: write web and not web3`],
    [
      'web:db',
      `unknown prefix "web:" at position 1; the prefixes are os:, region:, tag:, id:, ip:, distro:, release: and arch:; to select the hosts web, db (Ansible's web:db) write web or db`,
    ],
  ];

  it.each(cases)('refuses %j', (text, expected) => {
    expect(detail(text)).toBe(expected);
  });

  it('takes "all" and "*" as every host, as Ansible does', () => {
    expect(parseSelector('all')).toEqual({ kind: 'all' });
    expect(parseSelector('*')).toEqual({ kind: 'all' });
  });

  it('takes Ansible-style ranges as Flotilla ranges', () => {
    expect(parseSelector('db-[01:20]')).toEqual({ kind: 'glob', pattern: 'db-[01:20]' });
  });
});

describe('spaces in a comma list', () => {
  const cases: Array<[string, string]> = [
    ['host1, host3', 'a space after the comma at position 6 splits the list "host1, host3": a comma list holds no spaces; write host1,host3'],
    ['host1 ,host3', 'a space before the comma at position 7 splits the list "host1 ,host3": a comma list holds no spaces; write host1,host3'],
    ['os:linux and (a,b,  c)', 'a space after the comma at position 18 splits the list "a,b,  c": a comma list holds no spaces; write a,b,c'],
  ];

  it.each(cases)('refuses %j, saying the space is the problem', (text, expected) => {
    expect(detail(text)).toBe(expected);
  });

  it('leaves a trailing comma to the list parser', () => {
    expect(detail('host1, and host3')).toBe('empty item in comma list at position 7');
  });
});
