// Checks of what the CLI home holds, so that a damaged file is reported in one sentence with
// its path and what to do, never as a stack trace from deep inside a command or a hang.

import type { HostRecord, TokenRecord } from '../../shared/controller/hosts.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { isObj } from '../../shared/wire/validate.ts';

const isStr = (v: unknown) => typeof v === 'string';
const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

/** Why a hosts.json record is not a host, or undefined. */
export function hostProblem(r: unknown): string | undefined {
  if (!isObj(r)) return 'not an object';
  if (!isStr(r['id']) || !/^[a-z2-7]{52}$/.test(r['id'] as string)) return 'id is not a host id';
  if (!['accepted', 'pending', 'rejected'].includes(r['status'] as string)) return 'status is not accepted, pending or rejected';
  if (!isStr(r['signPub']) || !isStr(r['encPub'])) return 'its keys are not strings';
  if (!isNum(r['firstSeen']) || !isNum(r['lastSeen'])) return 'firstSeen or lastSeen is not a time';
  // Facts as far as selectors and tables read them; the rest may differ between versions.
  const facts = r['facts'];
  if (facts !== undefined && facts !== null) {
    if (!isObj(facts)) return 'facts is not an object';
    for (const key of ['hostname', 'os', 'release', 'arch', 'region', 'agentVersion'])
      if (facts[key] !== undefined && facts[key] !== null && !isStr(facts[key])) return `facts.${key} is not a string`;
    const tags = facts['tags'];
    if (tags !== undefined && !(isObj(tags) && Object.values(tags).every(isStr))) return 'facts.tags is not a map of strings';
    if (facts['ips'] !== undefined && !(Array.isArray(facts['ips']) && facts['ips'].every(isStr))) return 'facts.ips is not a list of strings';
  }
  return undefined;
}

/** Why a tokens.json record is not a token, or undefined. */
export function tokenProblem(r: unknown): string | undefined {
  if (!isObj(r)) return 'not an object';
  if (!isStr(r['tid']) || !isStr(r['secret'])) return 'tid or secret is not a string';
  if (!isNum(r['exp']) || !isNum(r['createdAt'])) return 'exp or createdAt is not a time';
  if (typeof r['revoked'] !== 'boolean') return 'revoked is not true or false';
  if (!Array.isArray(r['usedBy']) || !r['usedBy'].every(isStr)) return 'usedBy is not a list of host ids';
  if (r['maxUses'] !== undefined && !(Number.isInteger(r['maxUses']) && (r['maxUses'] as number) >= 1)) return 'maxUses is not a positive integer';
  return undefined;
}

/** What to do about a damaged file of the home, by name. */
const REMEDY: Record<string, string> = {
  'device.json': 'restore it from a backup, or make this an admin device again with `flotilla init --import <backup>`',
  'hosts.json': 'fix or remove that entry (a removed host shows as pending when it next connects and must be accepted again)',
  'tokens.json': 'fix or remove that entry (a removed token can no longer enroll hosts)',
};

/** The error for a damaged file of the home: one sentence with the path and what to do. */
export function damaged(path: string, name: keyof typeof REMEDY | string, what: string): FlotillaError {
  return new FlotillaError('bad-config', `${path} is damaged (${what}): ${REMEDY[name] ?? 'restore it from a backup'}`);
}

/** The records of a JSON list file, checked: throws `damaged` for a file that is not a list or a record that fails `problem`. */
export function checkRecords<T>(path: string, name: string, raw: unknown, problem: (r: unknown) => string | undefined): T[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return fail(path, name, 'not a JSON list');
  raw.forEach((r, i) => {
    const why = problem(r);
    if (why) fail(path, name, `entry ${i + 1}: ${why}`);
  });
  return raw as T[];
}

function fail(path: string, name: string, what: string): never {
  throw damaged(path, name, what);
}

export type { HostRecord, TokenRecord };
