// services: systemd's service units with their active and enabled state, and the actions
// start, stop, restart, enable, disable and status on one unit.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { isObj, oneOf, optStr, optional, str, type Obj } from '../../shared/wire/validate.ts';
import { MAX_UNITS, UNIT_NAME_MAX, unitNameProblem, type ServiceUnit } from './parse.ts';

/** What a request asks: the list, a unit's status text, or a change to a unit. */
export const ACTIONS = ['list', 'status', 'start', 'stop', 'restart', 'enable', 'disable'] as const;
export type ServiceAction = (typeof ACTIONS)[number];

/** Actions that change the host (operator); list and status only read (viewer). */
export const CHANGES: ReadonlySet<ServiceAction> = new Set(['start', 'stop', 'restart', 'enable', 'disable']);

/** Longest status text carried back (systemctl status shows the last journal lines too). */
export const MAX_TEXT = 64 * 1024;

/** Reads and checks a unit name field: a systemd unit name, never an option. */
export function unitName(o: Obj, key: string): string {
  const name = str(o, key, UNIT_NAME_MAX, 1);
  const problem = unitNameProblem(name);
  if (problem) throw new FlotillaError('bad-message', problem);
  return name;
}

function parseRequest(o: Obj): { action: ServiceAction; unit?: string } {
  const action = o['action'] === undefined ? 'list' : oneOf(o, 'action', ACTIONS);
  if (action === 'list') return { action };
  return { action, unit: unitName(o, 'unit') };
}

function parseUnit(value: unknown, i: number): ServiceUnit {
  if (!isObj(value)) throw new FlotillaError('bad-message', `units[${i}]: expected an object`);
  return {
    unit: str(value, 'unit', UNIT_NAME_MAX, 1),
    load: str(value, 'load', 64),
    active: str(value, 'active', 64),
    sub: str(value, 'sub', 64),
    enabled: str(value, 'enabled', 64),
    description: str(value, 'description', 1024),
  };
}

function parseResult(d: Obj): { action: ServiceAction; unit?: string; units?: ServiceUnit[]; text?: string } {
  const units = d['units'];
  if (units !== undefined && (!Array.isArray(units) || units.length > MAX_UNITS))
    throw new FlotillaError('bad-message', `units: expected a list of at most ${MAX_UNITS}`);
  return {
    action: oneOf(d, 'action', ACTIONS),
    ...optional('unit', optStr(d, 'unit', UNIT_NAME_MAX)),
    ...optional('units', units === undefined ? undefined : (units as unknown[]).map(parseUnit)),
    ...optional('text', optStr(d, 'text', MAX_TEXT)),
  };
}

export const spec = defineCapability({
  name: 'services',
  doc: "systemd's service units (active and enabled state); start, stop, restart, enable, disable, status of one",
  request: { type: 'services', parse: parseRequest },
  result: parseResult,
  role: (r) => (CHANGES.has(r.action) ? 'operator' : 'viewer'),
  traits: { audit: (r) => (r.unit ? `${r.action} ${r.unit}` : r.action) },
  cli: [
    {
      name: 'services',
      usage: ['services <selector> [start|stop|restart|enable|disable|status <unit>]', '(no action: the service units with their state)'],
      warm: true,
    },
  ],
  web: { hostTab: { label: 'Services', order: 30 } },
});
