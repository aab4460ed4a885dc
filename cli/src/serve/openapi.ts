// The OpenAPI 3.1 document of `flotilla serve --api`, written by hand as data and served at
// /openapi.json. server.ts routes exactly these paths; openapi.test.ts validates the document
// against the OpenAPI schema and checks that every route is described.

const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const error = (description: string) => ({ description, ...json(ref('Error')) });

const ERRORS = {
  '400': error('The request is malformed: the message names the field or parameter'),
  '401': error('No token, or not a valid one'),
  '403': error("The token's scope does not allow this: the message names the scope needed"),
  '413': error('The body is larger than 1 MiB'),
  '429': error('Rate limited: wait for Retry-After seconds'),
};
const NOT_FOUND = { '404': error('No such job or invocation') };

const nameParam = {
  name: 'name',
  in: 'path',
  required: true,
  description: 'The job name',
  schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' },
};

function op(summary: string, scope: 'read' | 'invoke' | 'admin', responses: object, extra: object = {}) {
  return { summary, description: `Scope: ${scope}.`, 'x-flotilla-scope': scope, ...extra, responses: { ...responses, ...ERRORS } };
}

/** The document. */
export const OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Flotilla job API',
    version: '1',
    description:
      'A headless Flotilla controller (`flotilla serve --api`): hosts, ad-hoc commands, jobs and their invocations. Every call but this document needs `Authorization: Bearer flt_…` (see docs/api.md).',
  },
  servers: [{ url: 'http://127.0.0.1:8080' }],
  security: [{ bearer: [] }],
  paths: {
    '/openapi.json': {
      get: { summary: 'This document', security: [], responses: { '200': { description: 'The OpenAPI document', ...json({ type: 'object' }) } } },
    },
    '/hosts': { get: op('The inventory (as flotilla hosts --json)', 'read', { '200': { description: 'Hosts', ...json({ type: 'object' }) } }) },
    '/run': {
      post: op(
        'Runs a command on the hosts a selector matches (as flotilla run --json)',
        'invoke',
        { '200': { description: "Every host's result (ok counts the hosts that succeeded)", ...json(ref('RunReport')) } },
        { requestBody: { required: true, ...json(ref('RunRequest')) } },
      ),
    },
    '/jobs': {
      get: op("The fleet's jobs with a summary of their runs", 'read', {
        '200': { description: 'Jobs', ...json({ type: 'object', properties: { jobs: { type: 'array', items: ref('Job') } } }) },
      }),
      post: op(
        'Saves a job (a job file as JSON; a new version replaces a job of that name)',
        'admin',
        { '201': { description: 'The saved job', ...json(ref('Job')) } },
        { requestBody: { required: true, ...json(ref('JobFile')) } },
      ),
    },
    '/jobs/{name}': {
      parameters: [nameParam],
      get: op('One job with the newest runs every host reported', 'read', { '200': { description: 'The job', ...json(ref('JobDetail')) }, ...NOT_FOUND }),
      delete: op('Deletes a job (agents uninstall it)', 'admin', { '200': { description: 'Deleted', ...json(ref('Job')) }, ...NOT_FOUND }),
    },
    '/jobs/{name}/enable': {
      parameters: [nameParam],
      post: op('Enables a job', 'admin', { '200': { description: 'The job', ...json(ref('Job')) }, ...NOT_FOUND }),
    },
    '/jobs/{name}/disable': {
      parameters: [nameParam],
      post: op('Disables a job (its schedule stops firing; invoking it still works)', 'admin', {
        '200': { description: 'The job', ...json(ref('Job')) },
        ...NOT_FOUND,
      }),
    },
    '/jobs/{name}/invoke': {
      parameters: [nameParam],
      post: op(
        'Runs a job now on every host of its target, with parameters',
        'invoke',
        {
          '200': { description: "Synchronous: every host's run", ...json(ref('Invocation')) },
          '202': {
            description: 'Asynchronous: poll /invocations/{id}; the webhook, if given, receives the results',
            ...json({ type: 'object', required: ['invocation'], properties: { invocation: { type: 'string' }, status: { type: 'string' } } }),
          },
          ...NOT_FOUND,
        },
        { requestBody: { required: false, ...json(ref('InvokeRequest')) } },
      ),
    },
    '/invocations/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      get: op("An invocation: running, or every host's run", 'read', { '200': { description: 'The invocation', ...json(ref('Invocation')) }, ...NOT_FOUND }),
    },
    '/tokens': {
      get: op('The API tokens: name, scope, created, last used (never the token)', 'admin', {
        '200': { description: 'Tokens', ...json({ type: 'object', properties: { tokens: { type: 'array', items: ref('Token') } } }) },
      }),
    },
    '/tokens/{name}': {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
      delete: op('Revokes a token (refused from the next request on)', 'admin', {
        '200': { description: 'Revoked', ...json({ type: 'object', properties: { revoked: { type: 'string' } } }) },
        ...NOT_FOUND,
      }),
    },
    '/history': {
      get: op(
        'Tasks run from every device of the fleet, newest first (as flotilla history --json)',
        'read',
        { '200': { description: 'History', ...json({ type: 'object' }) } },
        {
          parameters: [
            { name: 'host', in: 'query', schema: { type: 'string' } },
            { name: 'status', in: 'query', schema: { type: 'string' } },
            { name: 'since', in: 'query', description: 'A duration such as 7d', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          ],
        },
      ),
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token from flotilla api-token create (flt_…)' } },
    schemas: {
      Error: {
        type: 'object',
        required: ['status', 'message', 'cause'],
        properties: {
          status: { type: 'integer' },
          message: { type: 'string', description: 'What is wrong, naming the field, parameter or scope' },
          cause: { type: 'string', description: 'A stable code: bad-request, unauthorized, missing-scope, not-found, …' },
        },
      },
      Token: {
        type: 'object',
        required: ['name', 'scope', 'createdAt'],
        properties: { name: { type: 'string' }, scope: { enum: ['read', 'invoke', 'admin'] }, createdAt: { type: 'integer' }, lastUsedAt: { type: 'integer' } },
      },
      RunRequest: {
        type: 'object',
        required: ['selector', 'command'],
        properties: { selector: { type: 'string' }, command: { type: 'string' }, timeoutSec: { type: 'integer', minimum: 1 } },
      },
      RunReport: {
        type: 'object',
        properties: {
          task: { type: 'string' },
          selector: { type: 'string' },
          ok: { type: 'integer', description: 'Hosts that succeeded' },
          total: { type: 'integer' },
          results: { type: 'array', items: { type: 'object' } },
        },
      },
      JobParam: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string' },
          type: { enum: ['string', 'int', 'bool', 'enum'] },
          required: { type: 'boolean' },
          default: { type: ['string', 'integer', 'boolean'] },
          pattern: { type: 'string' },
          values: { type: 'array', items: { type: 'string' } },
          description: { type: 'string' },
        },
      },
      JobFile: {
        type: 'object',
        required: ['name', 'command', 'target', 'schedule'],
        description: 'A job file (docs/jobs.md); policy fields may also stand at the top level',
        properties: {
          name: { type: 'string' },
          description: { type: 'string' },
          command: { type: 'string' },
          interpreter: { type: 'string' },
          target: { type: 'string', description: 'A selector' },
          schedule: { type: 'string', description: 'cron (5 to 7 fields), @every 30s, an ISO time, once or manual' },
          timezone: { type: 'string' },
          params: { type: 'array', items: ref('JobParam') },
          policy: { type: 'object' },
          enabled: { type: 'boolean' },
        },
      },
      Job: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          command: { type: 'string' },
          target: { type: 'string' },
          schedule: { type: 'string' },
          enabled: { type: 'boolean' },
          deleted: { type: 'boolean' },
          params: { type: 'array', items: ref('JobParam') },
          policy: { type: 'object' },
          at: { type: 'integer' },
          by: { type: 'string' },
        },
      },
      JobDetail: {
        type: 'object',
        properties: { job: ref('Job'), hosts: { type: 'array', items: { type: 'object', description: 'A host × job document: its newest runs' } } },
      },
      InvokeRequest: {
        type: 'object',
        properties: {
          params: { type: 'object', additionalProperties: { type: ['string', 'integer', 'boolean'] } },
          async: { type: 'boolean' },
          webhook: { type: 'string', format: 'uri', description: 'Async only: POSTed the results, signed (X-Flotilla-Signature)' },
          timeoutSec: { type: 'integer', minimum: 1, maximum: 86400 },
        },
      },
      JobRun: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          job: { type: 'string' },
          status: { enum: ['running', 'ok', 'failed', 'timeout', 'killed', 'skipped', 'error'] },
          exit: { type: 'integer' },
          stdout: { type: 'string' },
          stderr: { type: 'string' },
          startedAt: { type: 'integer' },
          endedAt: { type: 'integer' },
        },
      },
      HostRun: {
        type: 'object',
        required: ['host', 'hostname', 'status'],
        properties: {
          host: { type: 'string' },
          hostname: { type: 'string' },
          status: { type: 'string', description: "The run's status, or offline, unreachable, refused, no-answer" },
          run: ref('JobRun'),
          error: { type: 'string' },
        },
      },
      Invocation: {
        type: 'object',
        required: ['invocation', 'job', 'done'],
        properties: {
          invocation: { type: 'string' },
          job: { type: 'string' },
          params: { type: 'object', additionalProperties: { type: 'string' } },
          startedAt: { type: 'integer' },
          endedAt: { type: 'integer' },
          done: { type: 'boolean' },
          ok: { type: 'boolean' },
          hosts: { type: 'array', items: ref('HostRun') },
          webhook: {
            type: 'object',
            properties: { url: { type: 'string' }, delivered: { type: 'boolean' }, tries: { type: 'integer' }, last: { type: 'string' } },
          },
        },
      },
    },
  },
} as const;
