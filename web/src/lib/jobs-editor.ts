// The job editor's form: plain strings as the inputs hold them, turned into a job file that
// `jobFromFile` checks (the same check as `flotilla jobs save`), and back from a saved job.

import { DEFAULT_POLICY, jobFromFile, jobToFile, type JobDoc, type ParamType } from '../../../shared/jobs/job.ts';
import { reason } from './jobs-view.ts';

export interface ParamForm {
  name: string;
  type: ParamType;
  required: boolean;
  default: string;
  pattern: string;
  /** Enum values, comma separated. */
  values: string;
  description: string;
}

/** The numeric policy fields, in the form's order, with their labels. */
export const POLICY_NUMBERS = [
  ['timeoutSec', 'Timeout (s, 0: none)'],
  ['splaySec', 'Random delay up to (s)'],
  ['catchUpSec', 'Catch up missed runs younger than (s, 0: never)'],
  ['retries', 'Retries after a failure'],
  ['retryBackoffSec', 'Retry backoff (s, doubled each time)'],
  ['keepRuns', 'Runs kept per host'],
  ['keepDays', 'Days runs are kept'],
] as const;

export type PolicyNumber = (typeof POLICY_NUMBERS)[number][0];

export interface JobForm {
  name: string;
  description: string;
  /** A shell command line, or a script for `interpreter`. */
  mode: 'command' | 'script';
  command: string;
  interpreter: string;
  target: string;
  schedule: string;
  timezone: string;
  enabled: boolean;
  params: ParamForm[];
  overlap: JobDoc['policy']['overlap'];
  numbers: Record<PolicyNumber, string>;
  cwd: string;
  runAs: string;
  /** KEY=value per line. */
  env: string;
}

export function emptyParam(): ParamForm {
  return { name: '', type: 'string', required: false, default: '', pattern: '', values: '', description: '' };
}

/** A new job's form: the policy's defaults filled in. */
export function emptyForm(): JobForm {
  return {
    name: '',
    description: '',
    mode: 'command',
    command: '',
    interpreter: 'bash',
    target: '*',
    schedule: '*/5 * * * *',
    timezone: '',
    enabled: true,
    params: [],
    overlap: DEFAULT_POLICY.overlap,
    numbers: Object.fromEntries(POLICY_NUMBERS.map(([k]) => [k, String(DEFAULT_POLICY[k])])) as Record<PolicyNumber, string>,
    cwd: '',
    runAs: '',
    env: '',
  };
}

/** The form of a saved job, for editing. */
export function formOf(job: JobDoc): JobForm {
  return {
    name: job.name,
    description: job.description ?? '',
    mode: job.interpreter === undefined ? 'command' : 'script',
    command: job.command,
    interpreter: job.interpreter ?? 'bash',
    target: job.target,
    schedule: job.schedule,
    timezone: job.timezone ?? '',
    enabled: job.enabled,
    params: job.params.map((p) => ({
      name: p.name,
      type: p.type,
      required: p.required,
      default: p.default ?? '',
      pattern: p.pattern ?? '',
      values: (p.values ?? []).join(', '),
      description: p.description ?? '',
    })),
    overlap: job.policy.overlap,
    numbers: Object.fromEntries(POLICY_NUMBERS.map(([k]) => [k, String(job.policy[k])])) as Record<PolicyNumber, string>,
    cwd: job.policy.cwd ?? '',
    runAs: job.policy.runAs ?? '',
    env: Object.entries(job.policy.env ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join('\n'),
  };
}

/** A number field: digits become a number; anything else is passed on as text for jobFromFile to name. */
function num(text: string): number | string {
  const t = text.trim();
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

/** The job file the form describes (empty optional fields left out), as `flotilla jobs save` reads it. */
export function fileOf(form: JobForm): Record<string, unknown> {
  const env: Record<string, string> = {};
  for (const line of form.env.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const eq = t.indexOf('=');
    env[eq < 0 ? t : t.slice(0, eq)] = eq < 0 ? '' : t.slice(eq + 1);
  }
  const policy: Record<string, unknown> = { overlap: form.overlap };
  for (const [k] of POLICY_NUMBERS) if (form.numbers[k].trim() !== '') policy[k] = num(form.numbers[k]);
  if (form.cwd.trim()) policy['cwd'] = form.cwd.trim();
  if (form.runAs.trim()) policy['runAs'] = form.runAs.trim();
  if (Object.keys(env).length > 0) policy['env'] = env;
  return {
    name: form.name.trim(),
    ...(form.description.trim() ? { description: form.description.trim() } : {}),
    command: form.command,
    ...(form.mode === 'script' ? { interpreter: form.interpreter.trim() } : {}),
    target: form.target.trim(),
    schedule: form.schedule.trim(),
    ...(form.timezone.trim() ? { timezone: form.timezone.trim() } : {}),
    enabled: form.enabled,
    params: form.params.map((p) => ({
      name: p.name.trim(),
      type: p.type,
      required: p.required,
      ...(p.default !== '' ? { default: p.default } : {}),
      ...(p.pattern !== '' ? { pattern: p.pattern } : {}),
      ...(p.values.trim()
        ? {
            values: p.values
              .split(',')
              .map((v) => v.trim())
              .filter(Boolean),
          }
        : {}),
      ...(p.description.trim() ? { description: p.description.trim() } : {}),
    })),
    policy,
  };
}

/** The document to save, or the sentence that says what is wrong (naming the field). */
export function checkForm(form: JobForm, at: number): { ok: true; job: JobDoc } | { ok: false; error: string } {
  try {
    return { ok: true, job: jobFromFile(fileOf(form), at) };
  } catch (error) {
    return { ok: false, error: reason(error) };
  }
}

/** The job file of a saved job as JSON (what `flotilla jobs save` takes). */
export function jobFileText(job: JobDoc): string {
  return JSON.stringify(jobToFile(job), null, 2);
}
