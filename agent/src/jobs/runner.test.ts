import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { DEFAULT_POLICY } from '../../../shared/jobs/job.ts';
import { startRun, runAsUser, Tail } from './runner.ts';

const config = { runAs: undefined, refuseCommands: [] as string[] };
const job = (policy: Partial<typeof DEFAULT_POLICY> = {}, interpreter?: string) => ({
  name: 'j',
  policy: { ...DEFAULT_POLICY, ...policy },
  ...(interpreter ? { interpreter } : {}),
});

describe('job runner', () => {
  it('runs sh -c with the parameters in the environment, and a script on stdin for an interpreter', async () => {
    const a = await startRun(
      job({ env: { A: '1' } }),
      { command: 'echo "$A $FLOTILLA_PARAM_X $FLOTILLA_JOB"; exit 3', env: { FLOTILLA_PARAM_X: 'x' } },
      config,
    );
    expect(await a.done).toMatchObject({ status: 'failed', exit: 3, stdout: '1 x j\n' });
    const b = await startRun(job({}, 'sh'), { command: 'echo from stdin', env: {} }, config);
    expect(await b.done).toMatchObject({ status: 'ok', exit: 0, stdout: 'from stdin\n' });
  });

  it('keeps bounded tails with a cut notice', () => {
    const t = new Tail(100);
    for (let i = 0; i < 1000; i++) t.push('0123456789');
    const v = t.value();
    expect(v.length).toBe(100);
    expect(v).toMatch(/^\[… 9900 characters cut …\]\n/);
  });

  it('refuses runAs beyond the agent ceiling, and without root, before anything runs', () => {
    expect(() => runAsUser(job({ runAs: 'bob' }), { runAs: 'alice' })).toThrow(/only as alice/);
    if (process.getuid?.() !== 0) expect(() => runAsUser(job({ runAs: 'bob' }), { runAs: undefined })).toThrow(/needs the agent to run as root/);
    expect(runAsUser(job(), { runAs: undefined })).toBeUndefined();
  });

  it('refuses a command the agent policy refuses', async () => {
    await expect(startRun(job(), { command: 'rm -rf /', env: {} }, { runAs: undefined, refuseCommands: ['rm -rf'] })).rejects.toThrow(/refused pattern/);
  });

  it('kill() ends the whole group with status killed', async () => {
    const r = await startRun(job(), { command: 'sleep 30 & echo $!; sleep 30', env: {} }, config);
    setTimeout(() => r.kill(), 300);
    const done = await r.done;
    expect(done).toMatchObject({ status: 'killed', signal: 'SIGTERM' });
    // The background child is gone too (or a zombie waiting for init to reap it).
    const state = () =>
      readFile(`/proc/${Number(done.stdout)}/stat`, 'utf8').then(
        (s) => s.split(' ')[2],
        () => 'gone',
      );
    expect(['gone', 'Z']).toContain(await state());
  });
});
