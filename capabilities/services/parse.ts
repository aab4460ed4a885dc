// Reading systemctl's output (JSON where this systemd prints it, its plain table otherwise) and
// checking unit names. Isomorphic: the spec, the agent and the CLI share these.

import type { WireError } from '../../shared/wire/errors.ts';

/** A service as the list shows it. */
export interface ServiceUnit {
  /** The unit's name (`nginx.service`, `getty@tty1.service`). */
  unit: string;
  /** loaded, not-found, masked, error… ('' when systemd has not loaded it). */
  load: string;
  /** active, inactive, failed, activating, deactivating, reloading. */
  active: string;
  /** The unit type's own state: running, exited, dead, failed… */
  sub: string;
  /** The unit file's state: enabled, disabled, static, masked, alias, indirect… ('' when unknown). */
  enabled: string;
  description: string;
}

/** The most units a list carries (a host has a few hundred). */
export const MAX_UNITS = 5000;
/** Longest unit name systemd accepts. */
export const UNIT_NAME_MAX = 256;

// Letters, digits and `:_.@\-` (systemd's unit name alphabet, `\` for its \x2d escapes); not
// starting with '-' or '.', so a name can never be read as an option or a relative path.
const UNIT_NAME = /^[A-Za-z0-9:_@\\][A-Za-z0-9:_.@\\-]*$/;

/** Why `name` is not a unit name, or undefined when it is one. */
export function unitNameProblem(name: string): string | undefined {
  if (!name) return 'a unit name must not be empty';
  if (name.length > UNIT_NAME_MAX) return `a unit name has at most ${UNIT_NAME_MAX} characters`;
  if (name.startsWith('-')) return `"${name}" starts with '-', which systemctl would read as an option`;
  if (!UNIT_NAME.test(name)) return `"${name.slice(0, 80)}" is not a systemd unit name (letters, digits and : _ . @ \\ - only)`;
  return undefined;
}

type Loaded = Omit<ServiceUnit, 'enabled'>;

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** `systemctl list-units --output=json`: undefined when the text is not that JSON (an old systemd). */
export function parseUnitsJson(output: string): Loaded[] | undefined {
  let rows: unknown;
  try {
    rows = JSON.parse(output);
  } catch {
    return undefined;
  }
  if (!Array.isArray(rows)) return undefined;
  const units: Loaded[] = [];
  for (const row of rows) {
    if (typeof row !== 'object' || row === null) continue;
    const r = row as Record<string, unknown>;
    const unit = text(r['unit']);
    if (!unit) continue;
    units.push({ unit, load: text(r['load']), active: text(r['active']), sub: text(r['sub']), description: text(r['description']) });
  }
  return units;
}

/**
 * `systemctl list-units --plain --no-legend`: UNIT LOAD ACTIVE SUB DESCRIPTION…, one unit a line;
 * a leading `●` or `*` (failed or not-found units, in some versions even with --plain) is skipped.
 */
export function parseUnitsPlain(output: string): Loaded[] {
  const units: Loaded[] = [];
  for (const line of output.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0] === '●' || words[0] === '*') words.shift();
    const [unit, load, active, sub, ...description] = words;
    if (!unit || !sub || !unit.includes('.')) continue;
    units.push({ unit, load: load!, active: active!, sub, description: description.join(' ') });
  }
  return units;
}

/** `systemctl list-unit-files --output=json`: unit file → state; undefined when not that JSON. */
export function parseUnitFilesJson(output: string): Map<string, string> | undefined {
  let rows: unknown;
  try {
    rows = JSON.parse(output);
  } catch {
    return undefined;
  }
  if (!Array.isArray(rows)) return undefined;
  const files = new Map<string, string>();
  for (const row of rows) {
    if (typeof row !== 'object' || row === null) continue;
    const r = row as Record<string, unknown>;
    const name = text(r['unit_file']);
    if (name) files.set(name, text(r['state']));
  }
  return files;
}

/** `systemctl list-unit-files --plain --no-legend`: UNIT FILE, STATE (and PRESET, since systemd 245). */
export function parseUnitFilesPlain(output: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const line of output.split('\n')) {
    const [name, state] = line.trim().split(/\s+/);
    if (name && state && name.includes('.')) files.set(name, state);
  }
  return files;
}

/** The template a unit is an instance of (`getty@tty1.service` → `getty@.service`). */
function templateOf(unit: string): string | undefined {
  const at = unit.indexOf('@');
  const dot = unit.lastIndexOf('.');
  return at > 0 && dot > at + 1 ? `${unit.slice(0, at + 1)}${unit.slice(dot)}` : undefined;
}

/**
 * The service list: every loaded unit with its file's state, then unit files systemd has not
 * loaded (disabled ones, mostly) as inactive. Templates (`foo@.service`) are left out (only
 * their instances can run), and so are aliases (another name of a unit listed already). Sorted by name, at most MAX_UNITS.
 */
export function mergeServices(loaded: readonly Loaded[], files: ReadonlyMap<string, string>): ServiceUnit[] {
  const byName = new Map<string, ServiceUnit>();
  for (const u of loaded) {
    const template = templateOf(u.unit);
    byName.set(u.unit, { ...u, enabled: files.get(u.unit) ?? (template ? files.get(template) : undefined) ?? '' });
  }
  for (const [name, state] of files) {
    if (byName.has(name) || name.includes('@.') || state === 'alias') continue;
    byName.set(name, { unit: name, load: '', active: 'inactive', sub: 'dead', enabled: state, description: '' });
  }
  return [...byName.values()].sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0)).slice(0, MAX_UNITS);
}

/**
 * The error of a systemctl action that exited `code`: no such unit is not-found (systemctl exits
 * 5, or says so), a refusal of the agent's user is policy-refused, anything else (a unit that
 * failed to start) file-error, with systemctl's own words as the detail.
 */
export function actionFailure(action: string, unit: string, code: number, message: string): WireError {
  const detail = `systemctl ${action} ${unit} exited ${code}: ${message}`;
  if (code === 5 || /not found|does not exist|not loaded/i.test(message)) return { code: 'not-found', detail };
  if (/access denied|authentication required|permission denied/i.test(message)) return { code: 'policy-refused', detail };
  return { code: 'file-error', detail };
}
