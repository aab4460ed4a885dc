import { describe, expect, it } from 'vitest';
import { jobFromFile } from '../../../shared/jobs/job.ts';
import type { OpenedDoc } from '../../../shared/store/fleet-sync.ts';
import { checkInvocation, findJob, GRACE_MS, hostBoundMs, hostRunOf, jobsOf, newInvocationId, paramsFromWords, START_BOUND_MS } from './invoke.ts';

const job = (over: Record<string, unknown> = {}, at = 1000) =>
  jobFromFile(
    {
      name: 'deploy',
      command: 'deploy {version}',
      target: '*',
      schedule: 'manual',
      params: [{ name: 'version', required: true, pattern: '[0-9.]+' }],
      ...over,
    },
    at,
  );
const opened = (payload: ReturnType<typeof job>, signer = 'admin'): OpenedDoc =>
  ({ rid: `r${payload.at}`, version: 1, sig: '', payload, signer: { id: 'd'.repeat(52), kind: 'device', name: signer, encPub: '' }, iat: 0 }) as OpenedDoc;

describe('invoking a job', () => {
  it('keeps the newest document per name and leaves deleted jobs out', () => {
    const jobs = jobsOf([opened(job({}, 1)), opened(job({ command: 'deploy2 {version}' }, 5)), opened({ ...job({ name: 'gone' }, 3), deleted: true })]);
    expect([...jobs.keys()]).toEqual(['deploy']);
    expect(jobs.get('deploy')).toMatchObject({ command: 'deploy2 {version}', by: 'admin' });
    expect(() => findJob(jobs, 'nope')).toThrow(/no job named "nope" in the fleet \(jobs: deploy\)/);
  });

  it('refuses a bad value with the parameter name before anything is sent', () => {
    expect(checkInvocation(job(), { version: '1.2' })).toEqual({ version: '1.2' });
    expect(() => checkInvocation(job(), { version: '$(reboot)' })).toThrow(/parameter version: .* does not match the pattern/);
    expect(() => checkInvocation(job(), {})).toThrow(/parameter version: required/);
    expect(() => checkInvocation({ ...job(), deleted: true }, { version: '1' })).toThrow(/deleted/);
  });

  it('parses --param words, keeping = in values', () => {
    expect(paramsFromWords(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => paramsFromWords(['novalue'])).toThrow(/--param "novalue" must be name=value/);
  });

  it('bounds each host: the given timeout, else the job timeout plus grace, or the start bound without waiting', () => {
    expect(hostBoundMs(job(), true)).toBe(3600_000 + GRACE_MS);
    expect(hostBoundMs(job({ timeoutSec: 10 }), true)).toBe(10_000 + GRACE_MS);
    expect(hostBoundMs(job(), false)).toBe(START_BOUND_MS);
    expect(hostBoundMs(job(), true, 5000)).toBe(5000);
  });

  it('maps what the capability answered to a host line', () => {
    const run = { id: 'r', job: 'deploy', planned: 1, status: 'failed' as const, stdout: '', stderr: 'x', attempt: 0, trigger: 'invoke' as const, exit: 3 };
    expect(hostRunOf({ hostId: 'h', status: 'ok', durationMs: 1, data: { action: 'invoke', run } }, 'web-1')).toEqual({
      host: 'h',
      hostname: 'web-1',
      status: 'failed',
      run,
    });
    expect(
      hostRunOf({ hostId: 'h', status: 'failed', durationMs: 1, error: { code: 'not-found', detail: 'job deploy is not installed on this host' } }, 'w'),
    ).toEqual({
      host: 'h',
      hostname: 'w',
      status: 'refused',
      error: 'not-found: job deploy is not installed on this host',
    });
    expect(hostRunOf({ hostId: 'h', status: 'unreachable', durationMs: 1, error: { code: 'unreachable', detail: 'ICE failed' } }, 'w').status).toBe(
      'unreachable',
    );
    expect(hostRunOf({ hostId: 'h', status: 'timeout', durationMs: 1 }, 'w').status).toBe('no-answer');
    expect(newInvocationId()).toMatch(/^inv-[a-z2-7]{16}$/);
  });
});
