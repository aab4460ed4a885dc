import { describe, expect, test } from 'vitest';
import { jobFromFile, type JobDoc } from '../../../shared/jobs/job.ts';
import type { JobRun, JobRunsDoc } from '../../../shared/jobs/runs.ts';
import type { OpenedDoc } from '../../../shared/store/fleet-sync.ts';
import { formatInZone, jobsFromStore, jobMatrix, jobRows, paramFields, runLabel, runNowValues, scheduleHelp } from './jobs-view.ts';
import { checkForm, emptyForm, emptyParam, fileOf, formOf } from './jobs-editor.ts';

const NOW = Date.UTC(2026, 11, 3, 14, 0, 0);
const HOST_A = 'a'.repeat(52);
const HOST_B = 'b'.repeat(52);

function job(fields: Record<string, unknown>): JobDoc {
  return jobFromFile({ name: 'backup', command: 'echo hi', target: '*', schedule: '*/5 * * * * *', ...fields }, NOW);
}

function run(status: JobRun['status'], at: number, extra: Partial<JobRun> = {}): JobRun {
  return {
    id: `backup.${at}.0`,
    job: 'backup',
    planned: at,
    startedAt: at,
    endedAt: at + 10,
    status,
    stdout: '',
    stderr: '',
    attempt: 0,
    trigger: 'schedule',
    ...extra,
  };
}

function doc(host: string, hostname: string, runs: JobRun[], extra: Partial<JobRunsDoc> = {}): JobRunsDoc {
  return { type: 'jobruns', job: 'backup', host, hostname, jobAt: NOW, installed: true, total: runs.length, failures: 0, runs, at: NOW, ...extra };
}

describe('schedule helper', () => {
  test('a 6-field cron lists the next five times in the job time zone', () => {
    const help = scheduleHelp('0 30 9 * * *', 'Asia/Tokyo', NOW);
    expect(help.ok).toBe(true);
    if (!help.ok) return;
    // 14:00 UTC is 23:00 in Tokyo: the next 09:30 is the next day there.
    expect(help.times).toEqual(['2026-12-04 09:30:00', '2026-12-05 09:30:00', '2026-12-06 09:30:00', '2026-12-07 09:30:00', '2026-12-08 09:30:00']);
    expect(help.note).toContain('Asia/Tokyo');
  });

  test('the same pattern in another zone gives other instants', () => {
    const help = scheduleHelp('0 30 9 * * *', 'UTC', NOW);
    expect(help.ok && help.times[0]).toBe('2026-12-04 09:30:00');
    const seconds = scheduleHelp('*/2 * * * * *', 'UTC', NOW);
    expect(seconds.ok && seconds.times).toEqual([
      '2026-12-03 14:00:02',
      '2026-12-03 14:00:04',
      '2026-12-03 14:00:06',
      '2026-12-03 14:00:08',
      '2026-12-03 14:00:10',
    ]);
  });

  test('an invalid schedule gives parseSchedule’s sentence', () => {
    const help = scheduleHelp('* * *', undefined, NOW);
    expect(help).toEqual({ ok: false, error: expect.stringContaining('5 to 7 fields') });
    expect(scheduleHelp('@every 10x', undefined, NOW)).toEqual({ ok: false, error: expect.stringContaining('@every takes a duration') });
  });

  test('once, manual and a past time say so and list nothing', () => {
    expect(scheduleHelp('once', undefined, NOW)).toMatchObject({ ok: true, times: [], note: expect.stringContaining('once on each host') });
    expect(scheduleHelp('manual', undefined, NOW)).toMatchObject({ ok: true, times: [], note: expect.stringContaining('only when invoked') });
    expect(scheduleHelp('2020-01-01T00:00:00Z', 'UTC', NOW)).toMatchObject({ ok: true, times: [], note: expect.stringContaining('passed') });
  });

  test('formatInZone falls back to the browser zone for a bad zone name instead of throwing', () => {
    expect(formatInZone(NOW, 'UTC')).toBe('2026-12-03 14:00:00');
    expect(() => formatInZone(NOW, 'Not/AZone')).not.toThrow();
  });
});

describe('jobs list and matrix', () => {
  test('last status is the worst of each host’s newest run; hosts ok and failing are counted', () => {
    const docs = [
      doc(HOST_A, 'alpha', [run('failed', NOW - 60_000), run('ok', NOW - 10_000)]),
      doc(HOST_B, 'bravo', [run('ok', NOW - 60_000), run('failed', NOW - 30_000, { exit: 3 }), run('skipped', NOW - 5_000)]),
    ];
    const [row] = jobRows([job({})], docs, NOW);
    expect(row).toMatchObject({ lastStatus: 'failed', hosts: 2, hostsOk: 1, hostsFailing: 1, lastRunAt: NOW - 10_000 + 10 });
  });

  test('deleted jobs are left out; next run comes from the hosts or else the schedule; disabled jobs have none', () => {
    const rows = jobRows(
      [job({ name: 'gone' }), { ...job({ name: 'gone2' }), deleted: true }, job({ name: 'off', enabled: false })],
      [{ ...doc(HOST_A, 'alpha', []), job: 'gone', nextRun: NOW + 4000 }],
      NOW,
    );
    expect(rows.map((r) => r.job.name)).toEqual(['gone', 'off']);
    expect(rows[0]!.nextRun).toBe(NOW + 4000);
    expect(rows[1]!.nextRun).toBeUndefined();
    expect(jobRows([job({ name: 'x' })], [], NOW)[0]!.nextRun).toBe(NOW + 5000);
  });

  test('a host that uninstalled the job is not counted and sorts last in the matrix', () => {
    const docs = [doc(HOST_A, 'zulu', [run('ok', NOW)]), doc(HOST_B, 'alpha', [run('failed', NOW)], { installed: false })];
    expect(jobRows([job({})], docs, NOW)[0]).toMatchObject({ hosts: 1, hostsOk: 1, hostsFailing: 0 });
    expect(jobMatrix('backup', docs).map((r) => r.hostname)).toEqual(['zulu', 'alpha']);
  });

  test('the matrix keeps the newest runs, oldest left', () => {
    const runs = Array.from({ length: 20 }, (_, i) => run('ok', NOW + i * 1000));
    const [row] = jobMatrix('backup', [doc(HOST_A, 'alpha', runs)], 5);
    expect(row!.runs.map((r) => r.planned)).toEqual([15, 16, 17, 18, 19].map((i) => NOW + i * 1000));
  });

  test('a run’s label has status, time in the zone, exit and a non-schedule trigger', () => {
    expect(runLabel(run('failed', NOW, { exit: 3, trigger: 'invoke' }), 'UTC')).toBe('failed · 2026-12-03 14:00:00 · exit 3 · invoke');
  });
});

describe('from the store', () => {
  const opened = (payload: OpenedDoc['payload'], signer: Partial<OpenedDoc['signer']>): OpenedDoc => ({
    rid: 'r',
    version: 1,
    sig: '',
    payload,
    signer: { id: HOST_A, kind: 'host', encPub: '', ...signer },
    iat: NOW,
  });

  test('a host’s report about another host is left out; jobs carry the device that saved them', () => {
    const { jobs, runs } = jobsFromStore(
      [opened(job({}), { kind: 'device', id: 'dev', name: 'laptop' })],
      [opened(doc(HOST_A, 'alpha', [run('ok', NOW)]), { id: HOST_A }), opened(doc(HOST_A, 'alpha', [run('failed', NOW)]), { id: HOST_B })],
    );
    expect(jobs.map((j) => [j.name, j.by])).toEqual([['backup', 'laptop']]);
    expect(runs.map((r) => r.runs[0]!.status)).toEqual(['ok']);
  });
});

describe('run-now form', () => {
  const withParams = job({
    command: 'echo {who} {count}',
    params: [
      { name: 'who', type: 'string', required: true, pattern: '[a-z]+' },
      { name: 'count', type: 'int', default: 2 },
      { name: 'loud', type: 'bool' },
      { name: 'level', type: 'enum', values: ['low', 'high'], required: true },
    ],
  });

  test('fields follow the parameter types, defaults filled', () => {
    expect(paramFields(withParams.params).map((f) => [f.name, f.input, f.initial, f.pattern ?? null])).toEqual([
      ['who', 'text', '', '[a-z]+'],
      ['count', 'number', '2', null],
      ['loud', 'checkbox', 'false', null],
      ['level', 'select', 'low', null],
    ]);
  });

  test('values are checked as the agent checks them, the refusal names the parameter', () => {
    expect(runNowValues(withParams, { who: 'ann', count: '', loud: 'true', level: 'high' })).toEqual({
      ok: true,
      values: { who: 'ann', loud: 'true', level: 'high' },
    });
    expect(runNowValues(withParams, { who: 'Ann; rm -rf /', level: 'low' })).toEqual({
      ok: false,
      error: expect.stringMatching(/^parameter who: .*does not match the pattern/),
    });
    expect(runNowValues(withParams, { level: 'low' })).toEqual({ ok: false, error: 'parameter who: required, and no value was given' });
  });
});

describe('editor form', () => {
  test('an empty form is refused naming the field; a filled one round-trips through the document', () => {
    const form = emptyForm();
    expect(checkForm(form, NOW)).toEqual({ ok: false, error: expect.stringContaining('name') });
    form.name = 'nightly';
    form.command = 'tar czf /tmp/x.tgz {dir}';
    form.schedule = '0 0 3 * * *';
    form.timezone = 'Europe/Berlin';
    form.overlap = 'queue';
    form.numbers.timeoutSec = '90';
    form.env = 'A=1\nB=two=2';
    form.params = [{ ...emptyParam(), name: 'dir', required: true, pattern: '/[a-z/]+' }];
    const checked = checkForm(form, NOW);
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.job.policy).toMatchObject({ overlap: 'queue', timeoutSec: 90, retries: 0, env: { A: '1', B: 'two=2' } });
    expect(checked.job.params[0]).toEqual({ name: 'dir', type: 'string', required: true, pattern: '/[a-z/]+' });
    expect(fileOf(formOf(checked.job))).toEqual(fileOf(form));
  });

  test('bad policy numbers, time zones and placeholders are refused with jobFromFile’s sentence', () => {
    const form = { ...emptyForm(), name: 'x', command: 'echo "{v}"', params: [{ ...emptyParam(), name: 'v' }] };
    expect(checkForm(form, NOW)).toEqual({ ok: false, error: expect.stringContaining('inside double quotes') });
    expect(checkForm({ ...form, command: 'echo {v}', timezone: 'Mars/Base' }, NOW)).toEqual({ ok: false, error: expect.stringContaining('timezone') });
    expect(checkForm({ ...form, command: 'echo {v}', numbers: { ...form.numbers, retries: 'many' } }, NOW)).toEqual({
      ok: false,
      error: expect.stringContaining('retries'),
    });
  });

  test('script mode keeps the interpreter; command mode drops it', () => {
    const form = { ...emptyForm(), name: 'py', command: 'print(1)', mode: 'script' as const, interpreter: 'python3' };
    const checked = checkForm(form, NOW);
    expect(checked.ok && checked.job.interpreter).toBe('python3');
    expect(fileOf({ ...form, mode: 'command' })).not.toHaveProperty('interpreter');
  });
});
