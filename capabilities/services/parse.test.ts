// The systemctl parsers against recorded output (fixtures/README.md says where each came from),
// and the spec's checks: unit names, roles per action, results from a peer.

import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { actionFailure, mergeServices, parseUnitFilesJson, parseUnitFilesPlain, parseUnitsJson, parseUnitsPlain, unitNameProblem } from './parse.ts';
import { spec } from './spec.ts';
import { parseServicesArgs } from './cli.ts';
import { leastRole } from '../index.ts';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

describe('systemctl output', () => {
  it('reads list-units as JSON and as the plain table alike', () => {
    const json = parseUnitsJson(fixture('list-units.json.txt'))!;
    const plain = parseUnitsPlain(fixture('list-units.txt'));
    expect(json).toHaveLength(10);
    expect(plain).toEqual(json);
    expect(json.find((u) => u.unit === 'e2scrub_reap.service')).toEqual({
      unit: 'e2scrub_reap.service',
      load: 'loaded',
      active: 'inactive',
      sub: 'dead',
      description: 'Remove Stale Online ext4 Metadata Check Snapshots',
    });
  });

  it('skips the ● column of failed and not-found units', () => {
    const units = parseUnitsPlain(fixture('list-units-bullets.txt'));
    expect(units.map((u) => [u.unit, u.active])).toEqual([
      ['coturn.service', 'active'],
      ['cron.service', 'inactive'],
      ['postgresql@15-main.service', 'failed'],
    ]);
  });

  it('says when the text is not list-units JSON (an old systemd printing its table)', () => {
    expect(parseUnitsJson(fixture('list-units.txt'))).toBeUndefined();
    expect(parseUnitsJson('{"unit":"x"}')).toBeUndefined();
    expect(parseUnitFilesJson("Unknown output 'json'.")).toBeUndefined();
  });

  it('reads list-unit-files as JSON and as the plain table alike', () => {
    const json = parseUnitFilesJson(fixture('list-unit-files.json.txt'))!;
    const plain = parseUnitFilesPlain(fixture('list-unit-files.txt'));
    expect(json.size).toBe(108);
    expect([...plain]).toEqual([...json]);
    expect(json.get('coturn.service')).toBe('enabled');
    expect(json.get('console-getty.service')).toBe('disabled');
    expect(json.get('hwclock.service')).toBe('masked');
  });

  it('merges both: enabled state by unit or its template, unloaded files as inactive, no templates or aliases', () => {
    const services = mergeServices(parseUnitsJson(fixture('list-units.json.txt'))!, parseUnitFilesJson(fixture('list-unit-files.json.txt'))!);
    const byName = new Map(services.map((s) => [s.unit, s]));
    expect(byName.get('coturn.service')).toMatchObject({ active: 'active', sub: 'running', enabled: 'enabled' });
    expect(byName.get('getty@tty1.service')?.enabled).toBe('enabled'); // from getty@.service
    expect(byName.get('cron.service')).toMatchObject({ load: 'not-found', enabled: '' });
    expect(byName.get('console-getty.service')).toMatchObject({ load: '', active: 'inactive', enabled: 'disabled' });
    expect(byName.has('getty@.service')).toBe(false);
    expect(byName.has('dbus-org.freedesktop.hostname1.service')).toBe(false);
    expect(services.map((s) => s.unit)).toEqual([...services.map((s) => s.unit)].sort());
  });
});

describe('a failed action', () => {
  it('is not-found for a unit systemd does not know, policy-refused for a refusal, file-error otherwise', () => {
    // What systemd 252 prints for each.
    expect(actionFailure('start', 'nope.service', 5, 'Failed to start nope.service: Unit nope.service not found.').code).toBe('not-found');
    expect(actionFailure('enable', 'nope', 1, 'Failed to enable unit: Unit file nope.service does not exist.').code).toBe('not-found');
    expect(actionFailure('stop', 'ssh', 1, 'Failed to stop ssh.service: Access denied').code).toBe('policy-refused');
    expect(actionFailure('restart', 'ssh', 4, 'Failed to restart ssh.service: Interactive authentication required.').code).toBe('policy-refused');
    const failed = actionFailure('start', 'db.service', 1, 'Job for db.service failed because the control process exited with error code.');
    expect(failed).toEqual({
      code: 'file-error',
      detail: 'systemctl start db.service exited 1: Job for db.service failed because the control process exited with error code.',
    });
  });
});

describe('unit names', () => {
  it('accepts systemd names, instances and escapes', () => {
    for (const name of [
      'nginx',
      'nginx.service',
      'getty@tty1.service',
      'systemd-fsck@dev-disk-by\\x2duuid-1234.service',
      'dbus-org.freedesktop.login1.service',
    ]) {
      expect(unitNameProblem(name), name).toBeUndefined();
    }
  });

  it('refuses options, shell words, paths and empty names with a sentence', () => {
    expect(unitNameProblem('--now')).toMatch(/starts with '-'/);
    expect(unitNameProblem('-H')).toMatch(/option/);
    for (const name of ['nginx; reboot', 'a b', '../etc/passwd', '/etc/x.service', '$(id)', 'x\nstop']) {
      expect(unitNameProblem(name), name).toMatch(/not a systemd unit name/);
    }
    expect(unitNameProblem('')).toMatch(/empty/);
    expect(unitNameProblem('a'.repeat(300))).toMatch(/at most/);
  });

  it('is checked by the request parser the agent runs on every request', () => {
    expect(spec.request.parse({ action: 'start', unit: 'nginx.service' })).toEqual({ action: 'start', unit: 'nginx.service' });
    expect(() => spec.request.parse({ action: 'stop', unit: '--all' })).toThrow(/starts with '-'/);
    expect(() => spec.request.parse({ action: 'restart' })).toThrow(/unit/);
    expect(() => spec.request.parse({ action: 'mask', unit: 'x' })).toThrow(/expected one of/);
    expect(spec.request.parse({})).toEqual({ action: 'list' });
  });

  it('is checked by the CLI before it dials anything', () => {
    expect(parseServicesArgs(['web-1'])).toEqual({ selector: 'web-1', action: 'list' });
    expect(parseServicesArgs(['*', 'restart', 'nginx'])).toEqual({ selector: '*', action: 'restart', unit: 'nginx' });
    expect(() => parseServicesArgs(['*', 'start'])).toThrow(/takes one unit/);
    expect(() => parseServicesArgs(['*', 'reboot', 'x'])).toThrow(/not a services action: use one of status, start/);
    expect(() => parseServicesArgs(['*', 'start', 'x;id'])).toThrow(/not a systemd unit name/);
  });
});

describe('the services spec', () => {
  it('lets a viewer list and read a status, and asks operator for changes', () => {
    expect(leastRole(spec, { action: 'list' })).toBe('viewer');
    expect(leastRole(spec, { action: 'status', unit: 'x' })).toBe('viewer');
    for (const action of ['start', 'stop', 'restart', 'enable', 'disable']) expect(leastRole(spec, { action, unit: 'x' })).toBe('operator');
  });

  it('rejects malformed results from a peer', () => {
    const unit = { unit: 'a.service', load: 'loaded', active: 'active', sub: 'running', enabled: 'enabled', description: 'A' };
    expect(spec.result({ action: 'list', units: [unit] })).toEqual({ action: 'list', units: [unit] });
    expect(() => spec.result({ action: 'list', units: [{ ...unit, active: 3 }] })).toThrow(/active/);
    expect(() => spec.result({ action: 'list', units: 'all' })).toThrow(/units/);
    expect(() => spec.result({ action: 'list', units: new Array(5001).fill(unit) })).toThrow(/at most/);
    expect(() => spec.result({ action: 'status', text: 'x'.repeat(70_000) })).toThrow(/text/);
  });
});
