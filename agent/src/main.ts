// flotilla-agent: enrolls this host into a fleet and runs the agent daemon.

import { parseArgs } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { realpathSync } from 'node:fs';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { parseJoinToken } from '../../shared/identity/tokens.ts';
import { loadConfig, type AgentConfig, type AgentFlags } from './config.ts';
import { openState } from './state.ts';
import { createLogger } from '../../node/log.ts';
import { startAgent } from './agent.ts';
import { startIdleGc } from './idle-gc.ts';
import { serviceUnit } from './service-unit.ts';
import { AGENT_VERSION } from './version.ts';

const USAGE = `flotilla-agent ${AGENT_VERSION}: the Flotilla agent daemon

Usage:
  flotilla-agent join <token> [options]   enroll into a fleet with a join token, then run
  flotilla-agent run [options]            run the daemon (the default command)
  flotilla-agent id [options]             print this agent's id
  flotilla-agent install-service [options] [--unit PATH] [--user USER]
                                          write a systemd unit that runs this agent

Options:
  --state-dir DIR     state directory (keys, journal, audit log)
                      default: /var/lib/flotilla-agent as root, else ~/.local/state/flotilla-agent
  --config FILE       JSON config file (default: <state-dir>/config.json)
  --signal URL        signaling server URL (default: from the join token)
  --tag KEY=VALUE     a tag (repeatable; also FLOTILLA_TAGS="k=v,k=v")
  --region NAME       region of this host
  --allow-root DIR    confine file operations to DIR (repeatable; default /)
  --ice-server URL    STUN/TURN URL (repeatable; default: asked from the signaling server)
  --log-level LEVEL   debug, info, warn or error (default info)
  --no-start          with join: enroll only, do not start the daemon
  -h, --help          this help

Environment: FLOTILLA_STATE_DIR, FLOTILLA_SIGNAL, FLOTILLA_TAGS, FLOTILLA_REGION,
FLOTILLA_ALLOWED_ROOTS, FLOTILLA_ICE_SERVERS, FLOTILLA_LOG_LEVEL, FLOTILLA_AGENT_CONFIG.`;

/**
 * Keeps the tags, region and roots given to `join` in <state>/config.json (unless one exists),
 * so the service started later by systemd with only --state-dir behaves the same.
 */
async function saveJoinFlags(path: string, config: AgentConfig): Promise<void> {
  if (existsSync(path)) return;
  const saved = {
    ...(Object.keys(config.tags).length ? { tags: config.tags } : {}),
    ...(config.region ? { region: config.region } : {}),
    ...(config.allowedRoots.join() !== '/' ? { allowedRoots: config.allowedRoots } : {}),
  };
  if (Object.keys(saved).length) await writeFile(path, JSON.stringify(saved, null, 1) + '\n', { mode: 0o600 });
}

/** Runs the agent command line. */
export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string' },
      config: { type: 'string' },
      signal: { type: 'string' },
      tag: { type: 'string', multiple: true },
      region: { type: 'string' },
      'allow-root': { type: 'string', multiple: true },
      'ice-server': { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'no-start': { type: 'boolean' },
      unit: { type: 'string' },
      user: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const [command = 'run', ...rest] = positionals;
  const flags: AgentFlags = {
    ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
    ...(values.config ? { config: values.config } : {}),
    ...(values.signal ? { signal: values.signal } : {}),
    ...(values.tag ? { tag: values.tag } : {}),
    ...(values.region ? { region: values.region } : {}),
    ...(values['allow-root'] ? { allowRoot: values['allow-root'] } : {}),
    ...(values['ice-server'] ? { iceServer: values['ice-server'] } : {}),
    ...(values['log-level'] ? { logLevel: values['log-level'] } : {}),
  };
  const config = loadConfig(flags);
  const log = createLogger('agent', config.logLevel);

  if (command === 'install-service') {
    const path = values.unit ?? '/etc/systemd/system/flotilla-agent.service';
    const script = realpathSync(process.argv[1] ?? 'flotilla-agent');
    await writeFile(path, serviceUnit({ execPath: process.execPath, script, stateDir: config.stateDir, user: values.user }));
    process.stdout.write(`Wrote ${path}\nEnable it with: systemctl daemon-reload && systemctl enable --now flotilla-agent\n`);
    return 0;
  }

  // A join token is checked before anything is written: a malformed one leaves no identity behind.
  if (command === 'join' && !rest[0])
    throw new FlotillaError('usage', 'flotilla-agent join needs a join token, as in: flotilla-agent join flt1.… (make one with flotilla token create)');
  const token = command === 'join' ? parseJoinToken(rest[0] ?? '') : undefined;
  const state = await openState(config.stateDir);
  if (command === 'id') {
    process.stdout.write(state.identity.id + '\n');
    return 0;
  }
  if (token) {
    if (state.enrollment && state.enrollment.fleet !== token.fleet) {
      throw new FlotillaError('bad-config', `already enrolled in fleet ${state.enrollment.fleet.slice(0, 8)}; use another --state-dir`);
    }
    await state.saveEnrollment({ fleet: token.fleet, signal: token.signal, join: { tid: token.tid, secret: token.secret } });
    await saveJoinFlags(join(config.stateDir, 'config.json'), config);
    process.stdout.write(`Enrolled as ${state.identity.id} in fleet ${token.fleet.slice(0, 8)} via ${token.signal}\n`);
    if (values['no-start']) return 0;
  } else if (command !== 'run') {
    throw new FlotillaError('bad-config', `unknown command "${command}"; see flotilla-agent --help`);
  }

  const agent = await startAgent(config, state, log);
  const idleGc = startIdleGc({ onCollect: (c) => log('debug', 'idle-gc', { ms: Math.round(c.ms), heapMiB: +(c.heapAfter / 2 ** 20).toFixed(1) }) });
  await new Promise<void>((resolve) => {
    const stop = () => {
      idleGc.stop();
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      agent.stop().then(resolve, (error: unknown) => {
        log('error', 'stop-failed', { error: String(error) });
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
