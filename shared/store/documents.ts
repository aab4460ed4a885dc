// The payloads inside sealed store records: fleet documents (host decisions, join tokens,
// named selectors), device announcements, queued tasks, their results and task history.
// Every payload is validated field by field after it is opened: a writer with a valid
// certificate can still send garbage.

import { FlotillaError } from '../wire/errors.ts';
import { bool, int, isObj, obj, oneOf, optInt, optStr, str, strArray, strMap, type Obj } from '../wire/validate.ts';
import { parseHostCert, type HostCert } from '../identity/certs.ts';
import type { RecordKind, Scope } from './envelope.ts';
import { parseJobDoc, type JobDoc } from '../jobs/job.ts';
import { parseJobRunsDoc, type JobRunsDoc } from '../jobs/runs.ts';
import { parsePushSubDoc, type PushSubDoc } from '../push/subscription.ts';
import {
  parseAlertRule,
  parseAlertState,
  parseChannel,
  parseSilence,
  type AlertRuleDoc,
  type AlertStateDoc,
  type ChannelDoc,
  type SilenceDoc,
} from '../alerts/documents.ts';

export type { JobDoc, JobRunsDoc, PushSubDoc };
export type { AlertRuleDoc, AlertStateDoc, ChannelDoc, SilenceDoc };

const ID_LEN = 52;
const OUTPUT_MAX = 64 * 1024;

/** What an operator decided about a host. */
export type HostDecision = 'accepted' | 'rejected' | 'removed';
export const HOST_DECISIONS: readonly HostDecision[] = ['accepted', 'rejected', 'removed'];

export interface HostDoc {
  type: 'host';
  host: string;
  decision: HostDecision;
  /** The host certificate issued on acceptance (its public keys). */
  cert?: HostCert;
  name?: string;
  tags?: Record<string, string>;
  region?: string;
  at: number;
}

export interface TokenDoc {
  type: 'token';
  tid: string;
  /** The encoded token (`flt1.…`): secret, so tokens are sealed to devices only. */
  token: string;
  label?: string;
  uses: number;
  used: string[];
  revoked: boolean;
  exp: number;
  at: number;
}

export interface SelectorDoc {
  type: 'selector';
  name: string;
  expr: string;
  deleted: boolean;
  at: number;
}

export interface DeviceDoc {
  type: 'device';
  at: number;
}

/** A task left for hosts that are offline now. */
export interface TaskDoc {
  type: 'task';
  task: string;
  /** The request as the capability's spec parses it (exec or push). */
  request: Obj;
  /** One line for lists: the command or the file. */
  summary: string;
  selector: string;
  /** The one host a direct task is for; absent for a tag window. */
  host?: string;
  /** Not run after this (ms). */
  deadline: number;
  /** A tag window: any host matching `selector` within the deadline, also hosts that enroll later. */
  window: boolean;
  cancelled: boolean;
  deviceName: string;
  at: number;
}

/** What an agent leaves for the devices after running a queued task. */
export interface ResultDoc {
  type: 'result';
  task: string;
  host: string;
  hostname: string;
  status: string;
  exit?: number;
  output: string;
  error?: string;
  startedAt: number;
  endedAt: number;
  at: number;
}

/** One host's line in a history entry. */
export interface HistoryHost {
  host: string;
  hostname: string;
  status: string;
  exit?: number;
  durationMs?: number;
  error?: string;
}

/** A task a device ran live (or queued), for every other device's history. */
export interface HistoryDoc {
  type: 'history';
  task: string;
  command: string;
  summary: string;
  selector: string;
  deviceName: string;
  startedAt: number;
  endedAt?: number;
  results: HistoryHost[];
  at: number;
}

export type Payload =
  | HostDoc
  | TokenDoc
  | SelectorDoc
  | DeviceDoc
  | TaskDoc
  | ResultDoc
  | HistoryDoc
  | JobDoc
  | JobRunsDoc
  | PushSubDoc
  | AlertRuleDoc
  | ChannelDoc
  | SilenceDoc
  | AlertStateDoc;

/** Which record kind and scope each payload type travels in. */
export const PLACEMENT: Record<Payload['type'], { kind: RecordKind; scope: Scope; prefix: string }> = {
  host: { kind: 'doc', scope: 'fleet', prefix: 'dh' },
  token: { kind: 'doc', scope: 'devices', prefix: 'dt' },
  selector: { kind: 'doc', scope: 'fleet', prefix: 'ds' },
  device: { kind: 'announce', scope: 'devices', prefix: 'ad' },
  task: { kind: 'task', scope: 'fleet', prefix: 'tq' },
  result: { kind: 'result', scope: 'devices', prefix: 'rr' },
  history: { kind: 'result', scope: 'devices', prefix: 'rh' },
  /** A job (shared/jobs/job.ts), named by the job's name. */
  job: { kind: 'doc', scope: 'fleet', prefix: 'dj' },
  /** A host's newest runs of one job (shared/jobs/runs.ts), named `<host>:<job>`, written by the host. */
  jobruns: { kind: 'result', scope: 'devices', prefix: 'rj' },
  /** A device's Web Push subscription (shared/push/relay.ts), named by the device id. */
  pushsub: { kind: 'doc', scope: 'fleet', prefix: 'dp' },
  /** An alert rule (shared/alerts/documents.ts), named by the rule's name. */
  alert: { kind: 'doc', scope: 'fleet', prefix: 'da' },
  /** A notification channel, named by its name: its secrets are readable by every host (docs/security.md). */
  channel: { kind: 'doc', scope: 'fleet', prefix: 'dn' },
  /** A silence, named by its id. */
  silence: { kind: 'doc', scope: 'fleet', prefix: 'dz' },
  /** A host's state and newest events of one alert rule, named `<host>:<rule>`, written by the host. */
  alertstate: { kind: 'result', scope: 'devices', prefix: 'ra' },
};

const id = (o: Obj, key: string) => str(o, key, ID_LEN, ID_LEN);

function parseHost(o: Obj): HostDoc {
  const name = optStr(o, 'name', 255);
  const region = optStr(o, 'region', 64);
  return {
    type: 'host',
    host: id(o, 'host'),
    decision: oneOf(o, 'decision', HOST_DECISIONS),
    ...(o['cert'] === undefined ? {} : { cert: parseHostCert(o['cert']) }),
    ...(name === undefined ? {} : { name }),
    ...(o['tags'] === undefined ? {} : { tags: strMap(o, 'tags', 64, 256) }),
    ...(region === undefined ? {} : { region }),
    at: int(o, 'at'),
  };
}

function parseHistoryHost(raw: unknown): HistoryHost {
  const o = obj(raw, 'history result');
  const exit = optInt(o, 'exit', -1_000_000, 1_000_000);
  const durationMs = optInt(o, 'durationMs');
  const error = optStr(o, 'error', 1024);
  return {
    host: id(o, 'host'),
    hostname: str(o, 'hostname', 255),
    status: str(o, 'status', 32, 1),
    ...(exit === undefined ? {} : { exit }),
    ...(durationMs === undefined ? {} : { durationMs }),
    ...(error === undefined ? {} : { error }),
  };
}

/** Validates an opened payload; `bad-record` names the field. */
export function parsePayload(raw: unknown): Payload {
  try {
    const o = obj(raw, 'payload');
    switch (o['type']) {
      case 'host':
        return parseHost(o);
      case 'token': {
        const label = optStr(o, 'label', 128);
        return {
          type: 'token',
          tid: str(o, 'tid', 64, 1),
          token: str(o, 'token', 2048, 1),
          ...(label === undefined ? {} : { label }),
          uses: int(o, 'uses', 1, 100_000),
          used: strArray(o, 'used', 100_000, ID_LEN),
          revoked: bool(o, 'revoked'),
          exp: int(o, 'exp'),
          at: int(o, 'at'),
        };
      }
      case 'selector':
        return { type: 'selector', name: str(o, 'name', 64, 1), expr: str(o, 'expr', 4096), deleted: bool(o, 'deleted'), at: int(o, 'at') };
      case 'device':
        return { type: 'device', at: int(o, 'at') };
      case 'task': {
        const request = obj(o['request'], 'request');
        return {
          type: 'task',
          task: str(o, 'task', 64, 1),
          request,
          summary: str(o, 'summary', 1024),
          selector: str(o, 'selector', 4096),
          ...(o['host'] === undefined ? {} : { host: id(o, 'host') }),
          deadline: int(o, 'deadline'),
          window: bool(o, 'window'),
          cancelled: bool(o, 'cancelled'),
          deviceName: str(o, 'deviceName', 128),
          at: int(o, 'at'),
        };
      }
      case 'result': {
        const exit = optInt(o, 'exit', -1_000_000, 1_000_000);
        const error = optStr(o, 'error', 1024);
        return {
          type: 'result',
          task: str(o, 'task', 64, 1),
          host: id(o, 'host'),
          hostname: str(o, 'hostname', 255),
          status: str(o, 'status', 32, 1),
          ...(exit === undefined ? {} : { exit }),
          output: str(o, 'output', OUTPUT_MAX),
          ...(error === undefined ? {} : { error }),
          startedAt: int(o, 'startedAt'),
          endedAt: int(o, 'endedAt'),
          at: int(o, 'at'),
        };
      }
      case 'history': {
        const results = o['results'];
        if (!Array.isArray(results) || results.length > 10_000) throw new FlotillaError('bad-message', 'results must be a list');
        const endedAt = optInt(o, 'endedAt');
        return {
          type: 'history',
          task: str(o, 'task', 64, 1),
          command: str(o, 'command', 32, 1),
          summary: str(o, 'summary', 1024),
          selector: str(o, 'selector', 4096),
          deviceName: str(o, 'deviceName', 128),
          startedAt: int(o, 'startedAt'),
          ...(endedAt === undefined ? {} : { endedAt }),
          results: results.map(parseHistoryHost),
          at: int(o, 'at'),
        };
      }
      case 'job':
        return parseJobDoc(o);
      case 'jobruns':
        return parseJobRunsDoc(o);
      case 'pushsub':
        return parsePushSubDoc(o);
      case 'alert':
        return parseAlertRule(o);
      case 'channel':
        return parseChannel(o);
      case 'silence':
        return parseSilence(o);
      case 'alertstate':
        return parseAlertState(o);
      default:
        throw new FlotillaError('bad-message', `unknown payload type ${isObj(o) ? String(o['type']).slice(0, 32) : ''}`);
    }
  } catch (error) {
    if (error instanceof FlotillaError && error.code === 'bad-record') throw error;
    throw new FlotillaError('bad-record', `payload: ${error instanceof FlotillaError ? (error.detail ?? error.message) : 'malformed'}`);
  }
}

/** Keeps the tail of output under the record's limit. */
export function clipOutput(text: string, max = OUTPUT_MAX - 256): string {
  return text.length <= max ? text : `[… ${text.length - max} characters cut …]\n${text.slice(text.length - max)}`;
}
