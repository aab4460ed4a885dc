// flotilla serve --api 127.0.0.1:8080 [--api-public] [--rate 120/m]: a headless controller for
// other systems. It is this home's device (give it a home of its own with an operator device:
// `flotilla device add api --home DIR --role operator`), holds one fleet connection and fleet
// state for its life, and answers the REST API of server.ts. Commands such as run, hosts and
// history go through the CLI's own code in a control scope (as warm mode does), so the API
// reaches agents exactly as `flotilla run` does and the agents still enforce the device's role.

import { createServer } from 'node:http';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { JobDoc } from '../../../shared/jobs/job.ts';
import type { JobRunsDoc } from '../../../shared/jobs/runs.ts';
import { createLogger } from '../../../node/log.ts';
import { openHome } from '../home.ts';
import { openFleet } from '../fleet.ts';
import { openFleetState, syncFleetState, writeDocument } from '../fleet-state.ts';
import { runInScope, type ControlScope } from '../control/scope.ts';
import { invokeJob, jobsOf } from '../jobs/invoke.ts';
import type { CommandContext } from '../commands/context.ts';
import { createApiHandler, type ApiBackend } from './server.ts';
import { ApiError } from './http.ts';
import { createTokenStore } from './tokens.ts';
import { createAuditLog } from './audit.ts';
import { createRateLimiter, DEFAULT_RATE, parseRate } from './rate-limit.ts';

/** A listening address: host and port. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080` or `:8080` (loopback). */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535)
    throw new FlotillaError('usage', `--api ${JSON.stringify(text)} must be host:port, as in --api 127.0.0.1:8080 (or [::1]:8080)`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  return { host, port };
}

/** True for an address only this machine reaches. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** `flotilla serve --api ADDR`: serves until SIGINT or SIGTERM. */
export async function serveCommand(ctx: CommandContext, main: (argv: string[]) => Promise<number>): Promise<number> {
  const api = typeof ctx.flags['api'] === 'string' ? ctx.flags['api'] : undefined;
  if (!api) throw new FlotillaError('usage', 'flotilla serve needs --api host:port, as in: flotilla serve --api 127.0.0.1:8080');
  const address = parseListen(api);
  if (!isLoopback(address.host) && ctx.flags['api-public'] !== true)
    throw new FlotillaError(
      'usage',
      `refusing to listen on ${address.host}, which is not a loopback address: the API carries tokens and runs commands on the fleet, so put TLS in front of it and pass --api-public to mean it`,
    );
  const rate = typeof ctx.flags['rate'] === 'string' ? parseRate(ctx.flags['rate']) : DEFAULT_RATE;
  const log = createLogger('api', ctx.flags.verbose ? 'debug' : 'info');
  // --home: this server's own home (device, tokens, audit log), else $FLOTILLA_HOME. Set for the
  // whole process: the CLI commands it runs in its scope find their home through the variable.
  if (ctx.flags.home) process.env['FLOTILLA_HOME'] = resolve(ctx.cwd, ctx.flags.home);
  const home = await openHome();
  const state = await openFleetState(home, ctx.err, { quiet: true });
  const fleet = await openFleet(home, { ...ctx.fleetOptions, forks: ctx.fleetOptions.forks ?? 32 });
  const tokens = createTokenStore(home.dir);
  const audit = createAuditLog(home.dir, { onError: (error) => log('warn', 'api-audit-failed', { error: String(error) }) });

  // One sync at a time, and at most one a second: a busy API reads the cache in between.
  let syncing: Promise<void> | undefined;
  let syncedAt = 0;
  const fresh = async () => {
    if (Date.now() - syncedAt < 1000) return;
    syncing ??= syncFleetState(state, (line) => log('warn', 'api-store', { line }), true)
      .then((live) => {
        if (live) syncedAt = Date.now();
      })
      .finally(() => (syncing = undefined));
    await syncing;
  };
  let writes: Promise<unknown> = Promise.resolve();

  const backend: ApiBackend = {
    async cli(argv) {
      await home.sync();
      fleet.presence().catch((error: unknown) => log('warn', 'presence-failed', { error: (error as Error).message }));
      let stdout = '';
      const scope: ControlScope = {
        home,
        fleet,
        cwd: home.dir,
        signal: new AbortController().signal,
        color: false,
        write: (stream, text) => {
          if (stream === 'stdout') stdout += text;
          else log('debug', 'api-cli-stderr', { argv: argv[0], text: text.slice(0, 1000) });
        },
        drained: () => Promise.resolve(),
        progress: () => undefined,
      };
      const code = await runInScope(scope, () => main(argv));
      return { code, stdout };
    },
    async jobs() {
      await fresh();
      return jobsOf(state.sync.docsOf('job'));
    },
    async jobRuns(name) {
      await fresh();
      return state.sync
        .docsOf('jobruns')
        .map((d) => d.payload)
        .filter((p): p is JobRunsDoc => p.type === 'jobruns' && p.job === name);
    },
    writeJob(doc: JobDoc) {
      const write = writes.then(async () => {
        const problems: string[] = [];
        const outcome = await writeDocument(state, doc, doc.name, (line) => problems.push(line));
        if (outcome === 'lost') throw new ApiError(409, `another device changed the job ${doc.name} more recently; its change stands`, 'conflict');
        if (outcome === 'failed') throw new ApiError(502, problems.join(' ') || 'the fleet store could not be reached', 'store-unreachable');
      });
      writes = write.catch(() => undefined);
      return write;
    },
    async invoke(job, options) {
      await home.sync();
      fleet.presence().catch((error: unknown) => log('warn', 'presence-failed', { error: (error as Error).message }));
      return invokeJob(fleet, job, options);
    },
  };

  const limiter = createRateLimiter(rate);
  const handler = createApiHandler({
    tokens,
    audit,
    backend,
    rateLimit: (key) => limiter.take(key),
    log: (event, fields) => log(event.includes('error') || event.includes('failed') ? 'warn' : 'info', event, fields),
  });
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000 }, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new FlotillaError('bad-config', `cannot listen on ${api}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`)),
    );
    server.listen(address.port, address.host, () => resolve());
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound ? bound.port : address.port;
  const url = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}/`;
  const count = (await tokens.list()).length;
  ctx.out(
    ctx.flags.json
      ? JSON.stringify({ listening: url, device: home.device.id, tokens: count })
      : `Flotilla API on ${url} as device ${home.device.id.slice(0, 12)} (${home.device.cert.body.name}, ${home.device.cert.body.role}); ${count} API token${count === 1 ? '' : 's'} in ${tokens.path}${count ? '' : ': make one with flotilla api-token create --scope read|invoke|admin'}`,
  );
  log('info', 'api-listening', { url, rate });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    ctx.signal?.addEventListener('abort', stop, { once: true });
  });
  log('info', 'api-stopping', {});
  server.close();
  server.closeAllConnections();
  await fleet.close();
  return 0;
}
