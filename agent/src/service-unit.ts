// The systemd unit `flotilla-agent install-service` writes: how a host starts the agent. The
// bench starts its agents from this same unit (bench/flotilla-fleet.mjs), so it measures what
// hosts run. Why the memory flag is there: docs/operations.md, "Agent memory".

/**
 * Node flags for a daemon that idles between short bursts. V8 reads them when it sets up the
 * heap, so they must be on node's command line (v8.setFlagsFromString is too late).
 * --max-semi-space-size=1: the young generation stays at 2 MiB instead of growing to 32 MiB
 * during a push and staying resident afterwards.
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The unit's environment. (MALLOC_ARENA_MAX=2 and a fixed mmap threshold were measured: no gain.) */
export const AGENT_ENVIRONMENT: Readonly<Record<string, string>> = { NODE_ENV: 'production' };

/** What goes into the unit. */
export interface UnitOptions {
  /** node's absolute path (process.execPath). */
  execPath: string;
  /** The agent bundle's absolute path. */
  script: string;
  stateDir: string;
  user?: string | undefined;
}

/** The text of flotilla-agent.service. */
export function serviceUnit(o: UnitOptions): string {
  const environment = Object.entries(AGENT_ENVIRONMENT)
    .map(([k, v]) => `Environment=${k}=${v}\n`)
    .join('');
  return `[Unit]
Description=Flotilla agent
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${[o.execPath, ...AGENT_NODE_FLAGS, o.script, 'run', '--state-dir', o.stateDir].join(' ')}
Restart=always
RestartSec=2
KillMode=mixed
TimeoutStopSec=10
${o.user ? `User=${o.user}\n` : ''}${environment}
[Install]
WantedBy=multi-user.target
`;
}
