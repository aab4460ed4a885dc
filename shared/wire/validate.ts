// Small field readers for untrusted input: each returns the typed value or throws a
// FlotillaError('bad-message') naming the field, so decoders never cast JSON.

import { FlotillaError } from './errors.ts';

/** A plain object read from JSON. */
export type Obj = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(field: string, what: string): never {
  throw new FlotillaError('bad-message', `${field}: ${what}`);
}

/** Requires an object. */
export function obj(value: unknown, field: string): Obj {
  if (!isObj(value)) fail(field, 'expected an object');
  return value;
}

/** Reads a required string of at most `max` characters. */
export function str(o: Obj, key: string, max = 4096, min = 0): string {
  const value = o[key];
  if (typeof value !== 'string') fail(key, 'expected a string');
  if (value.length > max) fail(key, `longer than ${max} characters`);
  if (value.length < min) fail(key, min === 1 ? 'must not be empty' : `shorter than ${min} characters`);
  return value;
}

/** Reads an optional string. */
export function optStr(o: Obj, key: string, max = 4096): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, max);
}

/** Reads a required integer within [min, max]. */
export function int(o: Obj, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isInteger(value)) fail(key, 'expected an integer');
  if (value < min || value > max) fail(key, `out of range ${min}..${max}`);
  return value;
}

/** Reads an optional integer. */
export function optInt(o: Obj, key: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  return o[key] === undefined ? undefined : int(o, key, min, max);
}

/** Reads a required boolean. */
export function bool(o: Obj, key: string): boolean {
  const value = o[key];
  if (typeof value !== 'boolean') fail(key, 'expected true or false');
  return value;
}

/** Reads an optional boolean. */
export function optBool(o: Obj, key: string): boolean | undefined {
  return o[key] === undefined ? undefined : bool(o, key);
}

/** Reads one of a fixed set of strings. */
export function oneOf<T extends string>(o: Obj, key: string, values: readonly T[]): T {
  const value = o[key];
  if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
    fail(key, `expected one of ${values.join(', ')}`);
  }
  return value as T;
}

/** Reads an array of strings. */
export function strArray(o: Obj, key: string, maxItems = 256, maxLength = 4096): string[] {
  const value = o[key];
  if (!Array.isArray(value)) fail(key, 'expected a list');
  if (value.length > maxItems) fail(key, `more than ${maxItems} items`);
  return value.map((item, i) => {
    if (typeof item !== 'string') fail(`${key}[${i}]`, 'expected a string');
    if (item.length > maxLength) fail(`${key}[${i}]`, `longer than ${maxLength} characters`);
    return item;
  });
}

/** Reads a string→string map (env, tags). */
export function strMap(o: Obj, key: string, maxItems = 256, maxLength = 4096): Record<string, string> {
  const value = o[key];
  if (!isObj(value)) fail(key, 'expected an object of strings');
  const entries = Object.entries(value);
  if (entries.length > maxItems) fail(key, `more than ${maxItems} entries`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string') fail(`${key}.${k}`, 'expected a string');
    if (k.length > maxLength || v.length > maxLength) fail(`${key}.${k}`, `longer than ${maxLength} characters`);
    out[k] = v;
  }
  return out;
}

/** Reads an optional string map. */
export function optStrMap(o: Obj, key: string, maxItems = 256): Record<string, string> | undefined {
  return o[key] === undefined ? undefined : strMap(o, key, maxItems);
}

/** Parses JSON text, mapping syntax errors to bad-message. */
export function parseJson(text: string, maxLength: number): unknown {
  if (text.length > maxLength) throw new FlotillaError('too-large', `${text.length} > ${maxLength} characters`);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new FlotillaError('bad-message', `not JSON: ${(error as Error).message}`);
  }
}

/** Longest path a message may carry. */
export const PATH_MAX = 4096;
/** Longest request or task id. */
export const ID_MAX = 64;

/** Reads a task id (`task`): 1-64 characters; the agent checks its alphabet. */
export function taskId(o: Obj, key = 'task'): string {
  return str(o, key, ID_MAX, 1);
}

/** `{ [key]: value }`, or nothing when the value is absent: spreads optional fields. */
export function optional<K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
}
