// The job API's request handler: token, scope and rate limit first, then the route, every answer
// JSON, every call one line in the audit log. The fleet work itself is behind ApiBackend
// (serve-command.ts gives the real one: the CLI's home, fleet connection and fleet state).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { isObj, obj, optBool, optInt, optStr, str } from '../../../shared/wire/validate.ts';
import { jobFromFile, JOB_NAME, type JobDoc } from '../../../shared/jobs/job.ts';
import type { JobRunsDoc } from '../../../shared/jobs/runs.ts';
import { checkInvocation, findJob, newInvocationId, type HostRun, type Invocation, type InvokeOptions } from '../jobs/invoke.ts';
import { ApiError, apiErrorOf, readJsonBody, sendError, sendJson } from './http.ts';
import { OPENAPI } from './openapi.ts';
import { scopeAllows, type Scope, type TokenRecord, type TokenStore } from './tokens.ts';
import type { AuditLog } from './audit.ts';
import { checkWebhookUrl, deliverWebhook, type Delivery } from './webhook.ts';

/** What the API asks of the fleet. */
export interface ApiBackend {
  /** Runs a CLI command as `flotilla <argv>` would (with --json), in this process's home and fleet. */
  cli(argv: string[]): Promise<{ code: number; stdout: string }>;
  /** The fleet's jobs, after a sync with the store (deleted ones left out). */
  jobs(): Promise<Map<string, JobDoc & { by: string }>>;
  /** The host × job documents of a job. */
  jobRuns(name: string): Promise<JobRunsDoc[]>;
  /** Writes a job document; false when it could not reach the store (said in the message). */
  writeJob(doc: JobDoc): Promise<void>;
  /** Invokes a job on its hosts. */
  invoke(job: JobDoc, options: InvokeOptions): Promise<Invocation>;
}

/** An invocation the API keeps for GET /invocations/{id}. */
interface Kept extends Omit<Invocation, 'endedAt' | 'ok'> {
  endedAt?: number;
  ok?: boolean;
  token: string;
  webhook?: Delivery | { url: string; delivered: false; tries: 0 };
}

/** Invocations kept (the oldest dropped past this). */
const KEEP_INVOCATIONS = 1000;

export interface ApiOptions {
  tokens: TokenStore;
  audit: AuditLog;
  backend: ApiBackend;
  /** Answers 0 when a call may go, else the seconds to wait. */
  rateLimit: (key: string) => number;
  log?: (event: string, fields?: Record<string, unknown>) => void;
  /** Webhook delivery (tests pass a faster backoff). */
  webhook?: Parameters<typeof deliverWebhook>[3];
}

type Route = { scope: Scope | undefined; run: (ctx: Call) => Promise<Answer> };
type Answer = { status: number; body: unknown; invocation?: string };
interface Call {
  req: IncomingMessage;
  token: TokenRecord | undefined;
  params: string[];
  query: URLSearchParams;
}

const json = (status: number, body: unknown): Answer => ({ status, body });

/** A 400 from a FlotillaError that names a field, with `body.` in front so the caller knows where. */
function badRequest(error: unknown): never {
  if (error instanceof FlotillaError && (error.code === 'bad-message' || error.code === 'usage'))
    throw new ApiError(400, error.detail ?? error.message, 'bad-request');
  throw error;
}

/** The CLI's JSON answer, or its error as an ApiError. */
function cliAnswer(result: { code: number; stdout: string }): unknown {
  // One JSON document (some commands print it over several lines), else the last line (after progress lines).
  const text = result.stdout.trim();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  try {
    value ??= JSON.parse(text.split('\n').pop() ?? '');
  } catch {
    throw new ApiError(500, `the command printed no JSON (exit status ${result.code})`, 'internal');
  }
  if (isObj(value) && isObj(value['error']) && Object.keys(value).length === 1) {
    const e = value['error'];
    const code = typeof e['code'] === 'string' ? e['code'] : 'internal';
    const message = typeof e['message'] === 'string' ? e['message'] : 'failed';
    throw apiErrorOf(new FlotillaError(code as never, message));
  }
  return value;
}

/** Creates the handler for node:http. */
export function createApiHandler(o: ApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const invocations = new Map<string, Kept>();
  const keep = (k: Kept) => {
    invocations.set(k.invocation, k);
    if (invocations.size > KEEP_INVOCATIONS) invocations.delete(invocations.keys().next().value!);
  };

  async function jobNamed(name: string): Promise<JobDoc & { by?: string }> {
    if (!JOB_NAME.test(name)) throw new ApiError(404, `no job named ${JSON.stringify(name.slice(0, 80))}`, 'not-found');
    return findJob(await o.backend.jobs(), name);
  }

  async function setEnabled(name: string, enabled: boolean): Promise<Answer> {
    const { by: _by, ...job } = await jobNamed(name);
    const doc: JobDoc = { ...job, enabled, at: Math.max(Date.now(), job.at + 1) };
    if (job.enabled !== enabled) await o.backend.writeJob(doc);
    return json(200, job.enabled === enabled ? job : doc);
  }

  async function invoke(call: Call): Promise<Answer> {
    const body = await readJsonBody(call.req).catch(badRequest);
    let given: Record<string, string | number | boolean> = {};
    let isAsync: boolean | undefined;
    let timeoutSec: number | undefined;
    let webhook: string | undefined;
    try {
      if (body['params'] !== undefined) {
        const raw = obj(body['params'], 'params');
        for (const [k, v] of Object.entries(raw)) {
          if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
            throw new FlotillaError('bad-message', `params.${k.slice(0, 32)}: expected a string, number or boolean`);
          given[k] = v;
        }
      }
      isAsync = optBool(body, 'async');
      timeoutSec = optInt(body, 'timeoutSec', 1, 86_400);
      const hook = optStr(body, 'webhook', 2048);
      webhook = hook === undefined ? undefined : checkWebhookUrl(hook);
      for (const k of Object.keys(body))
        if (!['params', 'async', 'timeoutSec', 'webhook'].includes(k))
          throw new FlotillaError('bad-message', `${k}: not a field of an invocation (params, async, webhook, timeoutSec)`);
      if (webhook && !isAsync) throw new FlotillaError('bad-message', 'webhook: only with "async": true (a synchronous call answers with the results)');
    } catch (error) {
      badRequest(error);
    }
    const job = await jobNamed(call.params[0]!);
    // Checked here, with the parameter's name, before any host is contacted.
    let params: Record<string, string>;
    try {
      params = checkInvocation(job, given);
    } catch (error) {
      badRequest(error);
    }
    given = params;
    const options: InvokeOptions = { params: given, wait: true, ...(timeoutSec === undefined ? {} : { timeoutMs: timeoutSec * 1000 }) };
    if (!isAsync) {
      const inv = await o.backend.invoke(job, options);
      return { status: 200, body: inv, invocation: inv.invocation };
    }
    const id = newInvocationId();
    const token = call.token!;
    const kept: Kept = { invocation: id, job: job.name, params, wait: true, startedAt: Date.now(), done: false, hosts: [], token: token.name };
    if (webhook) kept.webhook = { url: webhook, delivered: false, tries: 0 };
    keep(kept);
    const onHost = (h: HostRun) => void kept.hosts.push(h);
    void (async () => {
      let result: Omit<Invocation, 'endedAt'> & { endedAt?: number };
      try {
        result = await o.backend.invoke(job, { ...options, invocation: id, onHost });
      } catch (error) {
        const e = apiErrorOf(error);
        result = { ...kept, done: true, ok: false, hosts: [], endedAt: Date.now() };
        Object.assign(kept, { error: e.message });
      }
      Object.assign(kept, { hosts: result.hosts, ok: result.ok, endedAt: result.endedAt, done: true });
      o.log?.('api-invocation-done', { invocation: id, job: job.name, ok: result.ok });
      if (webhook) {
        const { token: _t, webhook: _w, ...payload } = kept;
        kept.webhook = await deliverWebhook(webhook, payload, token.webhookSecret, o.webhook);
        o.log?.('api-webhook', { invocation: id, ...kept.webhook });
      }
    })();
    return { status: 202, body: { invocation: id, status: 'running' }, invocation: id };
  }

  const routes: { pattern: RegExp; methods: Record<string, Route> }[] = [
    { pattern: /^\/openapi\.json$/, methods: { GET: { scope: undefined, run: async () => json(200, OPENAPI) } } },
    { pattern: /^\/hosts$/, methods: { GET: { scope: 'read', run: async () => json(200, cliAnswer(await o.backend.cli(['hosts', '--json']))) } } },
    {
      pattern: /^\/run$/,
      methods: {
        POST: {
          scope: 'invoke',
          run: async (call) => {
            const body = await readJsonBody(call.req).catch(badRequest);
            let argv: string[] = [];
            try {
              const selector = str(body, 'selector', 4096, 1);
              // It becomes a word of the run command line: never an option.
              if (selector.startsWith('-')) throw new FlotillaError('bad-message', 'selector: must not start with "-"');
              const command = str(body, 'command', 64 * 1024, 1);
              const timeoutSec = optInt(body, 'timeoutSec', 1, 86_400);
              argv = ['run', selector, '--json', ...(timeoutSec ? ['--timeout', `${timeoutSec}s`] : []), '--', command];
            } catch (error) {
              badRequest(error);
            }
            return json(200, cliAnswer(await o.backend.cli(argv)));
          },
        },
      },
    },
    {
      pattern: /^\/jobs$/,
      methods: {
        GET: {
          scope: 'read',
          run: async () => {
            const jobs = [...(await o.backend.jobs()).values()].sort((a, b) => a.name.localeCompare(b.name));
            return json(200, { jobs });
          },
        },
        POST: {
          scope: 'admin',
          run: async (call) => {
            const body = await readJsonBody(call.req).catch(badRequest);
            let doc: JobDoc;
            try {
              doc = jobFromFile(body, Date.now());
            } catch (error) {
              badRequest(error);
            }
            const known = (await o.backend.jobs()).get(doc.name);
            if (known && doc.at <= known.at) doc = { ...doc, at: known.at + 1 };
            await o.backend.writeJob(doc);
            return json(201, doc);
          },
        },
      },
    },
    {
      pattern: /^\/jobs\/([^/]+)$/,
      methods: {
        GET: {
          scope: 'read',
          run: async (call) => {
            const job = await jobNamed(call.params[0]!);
            return json(200, { job, hosts: await o.backend.jobRuns(job.name) });
          },
        },
        DELETE: {
          scope: 'admin',
          run: async (call) => {
            const { by: _by, ...job } = await jobNamed(call.params[0]!);
            const doc: JobDoc = { ...job, deleted: true, at: Math.max(Date.now(), job.at + 1) };
            await o.backend.writeJob(doc);
            return json(200, doc);
          },
        },
      },
    },
    { pattern: /^\/jobs\/([^/]+)\/enable$/, methods: { POST: { scope: 'admin', run: (call) => setEnabled(call.params[0]!, true) } } },
    { pattern: /^\/jobs\/([^/]+)\/disable$/, methods: { POST: { scope: 'admin', run: (call) => setEnabled(call.params[0]!, false) } } },
    { pattern: /^\/jobs\/([^/]+)\/invoke$/, methods: { POST: { scope: 'invoke', run: invoke } } },
    {
      pattern: /^\/invocations\/([^/]+)$/,
      methods: {
        GET: {
          scope: 'read',
          run: async (call) => {
            const kept = invocations.get(call.params[0]!);
            if (!kept)
              throw new ApiError(
                404,
                `no invocation ${JSON.stringify(call.params[0]!.slice(0, 40))} (this server keeps its last ${KEEP_INVOCATIONS}, and none across a restart)`,
                'not-found',
              );
            const { token: _t, ...shown } = kept;
            return json(200, shown);
          },
        },
      },
    },
    {
      pattern: /^\/tokens$/,
      methods: {
        GET: {
          scope: 'admin',
          run: async () => {
            const list = (await o.tokens.list()).map((r) => ({
              name: r.name,
              scope: r.scope,
              createdAt: r.createdAt,
              ...(r.lastUsedAt ? { lastUsedAt: r.lastUsedAt } : {}),
            }));
            return json(200, { tokens: list });
          },
        },
      },
    },
    {
      pattern: /^\/tokens\/([^/]+)$/,
      methods: {
        DELETE: {
          scope: 'admin',
          run: async (call) => {
            const name = call.params[0]!;
            if (!(await o.tokens.revoke(name))) throw new ApiError(404, `no API token named ${JSON.stringify(name.slice(0, 80))}`, 'not-found');
            return json(200, { revoked: name });
          },
        },
      },
    },
    {
      pattern: /^\/history$/,
      methods: {
        GET: {
          scope: 'read',
          run: async (call) => {
            const argv = ['history', '--json'];
            for (const [key, flag] of [
              ['host', '--host'],
              ['status', '--status'],
              ['since', '--since'],
              ['limit', '--limit'],
            ] as const) {
              const v = call.query.get(key);
              if (v === null) continue;
              if (!v || v.length > 256 || v.startsWith('-')) throw new ApiError(400, `${key}: not a valid value`, 'bad-request');
              argv.push(flag, v);
            }
            return json(200, cliAnswer(await o.backend.cli(argv)));
          },
        },
      },
    },
  ];

  /** The token of the Authorization header; 401 when missing or unknown. */
  async function authenticate(req: IncomingMessage): Promise<TokenRecord> {
    const header = req.headers.authorization;
    const www = { 'www-authenticate': 'Bearer realm="flotilla"' };
    if (!header) throw new ApiError(401, 'no token: send Authorization: Bearer flt_… (flotilla api-token create)', 'unauthorized', www);
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const record = m ? await o.tokens.check(m[1]!) : undefined;
    if (!record) throw new ApiError(401, 'the token is not valid (unknown, revoked or mistyped)', 'unauthorized', www);
    return record;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<{ token?: string; invocation?: string }> {
    const url = new URL(req.url ?? '/', 'http://api.invalid');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : url.pathname;
    const method = req.method ?? 'GET';
    const route = routes.find((r) => r.pattern.test(path));
    if (!route) throw new ApiError(404, `no such endpoint: ${path.slice(0, 200)} (see GET /openapi.json)`, 'not-found');
    const chosen = route.methods[method];
    const allow = Object.keys(route.methods).join(', ');
    if (!chosen) throw new ApiError(405, `${method} is not allowed on ${path.slice(0, 200)}; allowed: ${allow}`, 'method-not-allowed', { allow });
    let token: TokenRecord | undefined;
    if (chosen.scope) {
      token = await authenticate(req);
      const wait = o.rateLimit(token.name);
      if (wait > 0)
        throw Object.assign(new ApiError(429, `rate limited: try again in ${wait}s`, 'rate-limited', { 'retry-after': String(wait) }), { token: token.name });
      if (!scopeAllows(token.scope, chosen.scope))
        throw Object.assign(
          new ApiError(403, `the token ${token.name} has scope ${token.scope}; ${method} ${path.slice(0, 200)} needs scope ${chosen.scope}`, 'missing-scope'),
          { token: token.name },
        );
      void o.tokens.touch(token.name).catch((error: unknown) => o.log?.('api-token-touch-failed', { error: String(error) }));
    }
    const params = (route.pattern.exec(path) ?? []).slice(1).map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        throw new ApiError(400, 'the path is not valid percent-encoding', 'bad-request');
      }
    });
    try {
      const answer = await chosen.run({ req, token, params, query: url.searchParams });
      sendJson(res, answer.status, answer.body);
      return { ...(token ? { token: token.name } : {}), ...(answer.invocation ? { invocation: answer.invocation } : {}) };
    } catch (error) {
      throw Object.assign(apiErrorOf(error), token ? { token: token.name } : {});
    }
  }

  return (req, res) => {
    const started = performance.now();
    const finish = (info: { token?: string; invocation?: string }) => {
      void o.audit.record({
        time: new Date().toISOString(),
        ...(info.token ? { token: info.token } : {}),
        method: req.method ?? '?',
        path: (req.url ?? '/').split('?')[0]!.slice(0, 512),
        status: res.statusCode,
        durationMs: Math.round(performance.now() - started),
        ...(info.invocation ? { invocation: info.invocation } : {}),
      });
    };
    handle(req, res).then(finish, (error: unknown) => {
      const e = apiErrorOf(error);
      if (e.status >= 500) o.log?.('api-error', { path: req.url, error: e.message });
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
      // Unread request bodies would otherwise hold the connection.
      if (!req.complete) req.resume();
      finish({ ...((error as { token?: string }).token ? { token: (error as { token: string }).token } : {}) });
    });
  };
}
