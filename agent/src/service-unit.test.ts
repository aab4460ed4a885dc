import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { serviceUnit } from './service-unit.ts';

const unit = serviceUnit({ execPath: '/usr/bin/node', script: '/usr/local/lib/flotilla-agent.mjs', stateDir: '/var/lib/flotilla-agent' });
const line = (text: string, key: string): string[] =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

describe('serviceUnit', () => {
  it('starts node with the memory flag before the script', () => {
    expect(line(unit, 'ExecStart')).toEqual([
      '/usr/bin/node --max-semi-space-size=1 /usr/local/lib/flotilla-agent.mjs run --state-dir /var/lib/flotilla-agent',
    ]);
    expect(line(unit, 'Environment')).toEqual(['NODE_ENV=production']);
    expect(line(unit, 'Restart')).toEqual(['always']);
    expect(line(unit, 'User')).toEqual([]);
    expect(line(serviceUnit({ execPath: '/n', script: '/s', stateDir: '/d', user: 'flotilla' }), 'User')).toEqual(['flotilla']);
  });

  it('gives node flags that it accepts and that cap the young generation', () => {
    const [node, ...rest] = line(unit, 'ExecStart')[0]!.split(' ');
    const flags = rest.slice(0, rest.indexOf('/usr/local/lib/flotilla-agent.mjs'));
    expect(node).toBe('/usr/bin/node');
    // Churn enough short-lived objects that a default heap grows its new space to 16-32 MiB.
    const code = `let k=[];for(let i=0;i<2e6;i++){k.push({i});if(k.length>1000)k=[]}
      console.log(require('v8').getHeapSpaceStatistics().find((s)=>s.space_name==='new_space').space_size)`;
    const capped = Number(execFileSync(process.execPath, [...flags, '-e', code], { encoding: 'utf8' }));
    const uncapped = Number(execFileSync(process.execPath, ['-e', code], { encoding: 'utf8' }));
    expect(capped).toBeLessThanOrEqual(2 * 1024 * 1024);
    expect(uncapped).toBeGreaterThan(capped);
  });
});
