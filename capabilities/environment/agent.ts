// environment: reads /proc/<pid>/environ (the agent's own pid by default), /etc/environment and
// the names in /etc/profile.d. The kernel lets an agent that is not root read only its own
// user's processes; that refusal comes back as one sentence.

import { readdir, readFile } from 'node:fs/promises';
import type { Handler } from '../../agent/src/task-context.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { parseEnviron, parseEtcEnvironment, toVariables } from './variables.ts';
import { MAX_VARIABLES, type spec } from './spec.ts';

async function environOf(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/environ`)).toString('utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw new FlotillaError('not-found', `no process with pid ${pid} on this host`);
    if (code === 'EACCES' || code === 'EPERM')
      throw new FlotillaError('file-error', `the agent may not read the environment of pid ${pid} (another user's process)`);
    throw new FlotillaError('file-error', `cannot read the environment of pid ${pid}: ${code ?? String(error)}`);
  }
}

async function optionalText(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return null;
  }
}

async function profileScripts(): Promise<string[]> {
  try {
    return (await readdir('/etc/profile.d'))
      .filter((n) => n.endsWith('.sh'))
      .sort()
      .slice(0, 1000);
  } catch {
    return [];
  }
}

export const handler: Handler<typeof spec> = async (request) => {
  const pid = request.pid ?? process.pid;
  const show = request.showSecrets === true;
  const environ = await environOf(pid);
  const program = ((await optionalText(`/proc/${pid}/comm`)) ?? '').trim().slice(0, 64);
  const etc = await optionalText('/etc/environment');
  return {
    status: 'ok',
    data: {
      pid,
      program,
      variables: toVariables(parseEnviron(environ).slice(0, MAX_VARIABLES), show),
      etcEnvironment: etc === null ? null : toVariables(parseEtcEnvironment(etc).slice(0, MAX_VARIABLES), show),
      profileD: await profileScripts(),
      secretsShown: show,
    },
  };
};
