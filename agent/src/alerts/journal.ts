// What the agent keeps of its alerts in <state>/alerts/: `state.json` (where each rule stands, its
// newest events and the version of its store document, written atomically, so a restart neither
// fires an alert again nor forgets a pending one) and `journal.jsonl`, every state change and
// notification in order, bounded: past MAX_LINES lines it is rewritten with the newest half.

import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AlertEvent, AlertState, Severity } from '../../../shared/alerts/documents.ts';
import { STATE_EVENTS_MAX } from '../../../shared/alerts/documents.ts';
import type { RuleState } from '../../../shared/alerts/evaluate.ts';
import { isObj } from '../../../shared/wire/validate.ts';
import { readJson, writeJsonAtomic } from '../../../node/files.ts';

/** Lines the journal keeps before it is cut to the newest half. */
export const MAX_LINES = 4000;

/** One rule on this host. */
export interface RuleEntry {
  state: RuleState;
  severity: Severity;
  metric: string;
  installed: boolean;
  /** The newest events, oldest first, at most STATE_EVENTS_MAX. */
  events: AlertEvent[];
  /** The version of the alertstate document last stored, and whether the store has the current one. */
  version: number;
  published: boolean;
}

export interface AlertStore {
  readonly entries: Map<string, RuleEntry>;
  /** Adds an event to a rule's entry and to the journal (written at the next save). */
  record(rule: string, event: AlertEvent): void;
  /** Writes state.json and appends the journal's new lines. */
  save(): Promise<void>;
  /** The journal's lines, oldest first (for tests and a later `alerts journal` request). */
  journal(): Promise<(AlertEvent & { rule: string })[]>;
}

const STATES: readonly AlertState[] = ['inactive', 'pending', 'firing', 'resolved'];

function restoreEntry(raw: unknown): RuleEntry | undefined {
  if (!isObj(raw) || !isObj(raw['state'])) return undefined;
  const s = raw['state'];
  if (!STATES.includes(s['state'] as AlertState) || typeof s['since'] !== 'number') return undefined;
  const e = raw as unknown as RuleEntry;
  return {
    state: s as unknown as RuleState,
    severity: e.severity,
    metric: typeof e.metric === 'string' ? e.metric : '',
    installed: e.installed === true,
    events: Array.isArray(e.events) ? e.events.slice(-STATE_EVENTS_MAX) : [],
    version: Number.isSafeInteger(e.version) ? e.version : 0,
    published: e.published === true,
  };
}

/** Opens (or creates) the alert state of a state directory; a damaged state.json starts afresh. */
export async function openAlertStore(stateDir: string, onProblem: (what: string) => void): Promise<AlertStore> {
  const dir = join(stateDir, 'alerts');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const statePath = join(dir, 'state.json');
  const journalPath = join(dir, 'journal.jsonl');
  const entries = new Map<string, RuleEntry>();
  const raw = await readJson(statePath, 'the alert state').catch((error: unknown) => onProblem(`state.json: ${(error as Error).message}`));
  if (isObj(raw) && isObj(raw['rules']))
    for (const [name, value] of Object.entries(raw['rules'])) {
      const entry = restoreEntry(value);
      if (entry) entries.set(name, entry);
      else onProblem(`state.json: rule ${name.slice(0, 64)} set aside`);
    }
  let lines = (await readFile(journalPath, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  let unwritten: string[] = [];

  async function compact(): Promise<void> {
    const kept = (await readFile(journalPath, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .slice(-MAX_LINES / 2);
    await writeFile(`${journalPath}.tmp`, kept.join('\n') + '\n', { mode: 0o600 });
    await rename(`${journalPath}.tmp`, journalPath);
    lines = kept.length;
  }

  let saving: Promise<unknown> = Promise.resolve();
  async function writeOut(): Promise<void> {
    await writeJsonAtomic(statePath, { v: 1, rules: Object.fromEntries(entries) }, 0o600);
    if (unwritten.length === 0) return;
    const batch = unwritten;
    unwritten = [];
    try {
      await appendFile(journalPath, batch.join('\n') + '\n', { mode: 0o600 });
    } catch (error) {
      unwritten = [...batch, ...unwritten].slice(-MAX_LINES);
      throw error;
    }
    lines += batch.length;
    if (lines > MAX_LINES) await compact();
  }

  return {
    entries,
    record(rule, event) {
      const entry = entries.get(rule);
      if (entry) {
        entry.events = [...entry.events, event].slice(-STATE_EVENTS_MAX);
        entry.published = false;
      }
      unwritten.push(JSON.stringify({ rule, ...event }));
    },
    save() {
      // One at a time: a publish and a stop may both save, and two atomic writes of one file race.
      const run = saving.then(writeOut, writeOut);
      saving = run.catch(() => undefined);
      return run;
    },
    async journal() {
      const text = await readFile(journalPath, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as AlertEvent & { rule: string }];
          } catch {
            return [];
          }
        });
    },
  };
}
