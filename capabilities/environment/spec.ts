// environment: a process's environment (the agent's by default) and the system files that set
// it; values of names that look secret are masked unless an admin asks to see them.
import { defineCapability } from '../spec.ts';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { bool, int, isObj, optBool, optInt, optional, str, strArray, type Obj } from '../../shared/wire/validate.ts';
import { MAX_VALUE, type Variable } from './variables.ts';

/** Most variables one list carries. */
export const MAX_VARIABLES = 4096;

function variables(d: Obj, key: string): Variable[] {
  const list = d[key];
  if (!Array.isArray(list) || list.length > MAX_VARIABLES) throw new FlotillaError('bad-message', `${key}: expected a list of at most ${MAX_VARIABLES}`);
  return list.map((v, i) => {
    if (!isObj(v)) throw new FlotillaError('bad-message', `${key}[${i}]: expected an object`);
    return { name: str(v, 'name', 4096), value: str(v, 'value', MAX_VALUE), secret: bool(v, 'secret'), ...optional('truncated', optBool(v, 'truncated')) };
  });
}

export const spec = defineCapability({
  name: 'environment',
  doc: "a process's environment (the agent's by default), /etc/environment and the /etc/profile.d scripts; secret-looking values masked unless an admin asks",
  request: {
    type: 'env',
    parse: (o) => ({ ...optional('pid', optInt(o, 'pid', 1, 2 ** 22)), ...optional('showSecrets', optBool(o, 'showSecrets')) }),
  },
  result: (d) => {
    return {
      pid: int(d, 'pid', 1),
      program: str(d, 'program', 64),
      variables: variables(d, 'variables'),
      /** /etc/environment's assignments; null when the host has no such file. */
      etcEnvironment: d['etcEnvironment'] === null ? null : variables(d, 'etcEnvironment'),
      /** Names of the scripts in /etc/profile.d that login shells source. */
      profileD: strArray(d, 'profileD', 1000, 255),
      secretsShown: bool(d, 'secretsShown'),
    };
  },
  // Reading needs viewer; unmasking secrets needs admin.
  role: (r) => (r.showSecrets ? 'admin' : 'viewer'),
  traits: { audit: (r) => `pid ${r.pid ?? 'agent'}${r.showSecrets ? ', secrets shown' : ''}` },
  cli: [
    {
      name: 'env',
      usage: ['env <selector> [--pid N] [--show-secrets]', "a process's environment (the agent's by default) and /etc/environment; --show-secrets needs admin"],
      options: { pid: { type: 'string' }, 'show-secrets': { type: 'boolean' } },
      warm: true,
    },
  ],
  web: { hostTab: { label: 'Environment', order: 70 } },
});
