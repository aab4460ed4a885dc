// flotilla api-token create --scope read|invoke|admin [--name N] | list | revoke <name>: the API
// tokens of `flotilla serve --api` in this home (tokens.ts). A token is printed once, at create.

import { resolve } from 'node:path';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { homeDir } from '../home.ts';
import { ago, table } from '../output.ts';
import type { CommandContext } from '../commands/context.ts';
import { createTokenStore, SCOPES, type Scope } from './tokens.ts';

const USAGE = 'use flotilla api-token create --scope read|invoke|admin [--name N], api-token list, or api-token revoke <name>';

/** `flotilla api-token …`. */
export async function apiTokenCommand(ctx: CommandContext): Promise<number> {
  const [sub, arg, extra] = ctx.args;
  // The home holds the device `serve` runs as; tokens live beside it (no fleet connection needed).
  const store = createTokenStore(ctx.flags.home ? resolve(ctx.cwd, ctx.flags.home) : homeDir());
  if (sub === 'create') {
    const scope = ctx.flags['scope'];
    if (typeof scope !== 'string' || !SCOPES.includes(scope as Scope))
      throw new FlotillaError(
        'usage',
        `api-token create needs --scope read, invoke or admin${typeof scope === 'string' ? ` (not ${JSON.stringify(scope)})` : ''}`,
      );
    if (arg !== undefined) throw new FlotillaError('usage', `api-token create takes no argument (${JSON.stringify(arg)}); name it with --name`);
    const { token, record } = await store.create(scope as Scope, ctx.flags.name);
    if (ctx.flags.json)
      ctx.out(JSON.stringify({ name: record.name, scope: record.scope, token, webhookSecret: record.webhookSecret, createdAt: record.createdAt }));
    else {
      ctx.out(token);
      ctx.err(
        `API token ${record.name} (scope ${record.scope}), shown this once: only its hash is kept in ${store.path}.\nWebhook secret (async invocations are signed with it): ${record.webhookSecret}\nUse: curl -H 'Authorization: Bearer <token>' http://127.0.0.1:8080/hosts`,
      );
    }
    return 0;
  }
  if (sub === 'list') {
    const records = await store.list();
    if (ctx.flags.json)
      ctx.out(
        JSON.stringify(records.map((r) => ({ name: r.name, scope: r.scope, createdAt: r.createdAt, ...(r.lastUsedAt ? { lastUsedAt: r.lastUsedAt } : {}) }))),
      );
    else if (records.length === 0) ctx.out('No API tokens; make one with flotilla api-token create --scope read|invoke|admin');
    else
      ctx.out(
        table(
          ['NAME', 'SCOPE', 'CREATED', 'LAST USED'],
          records.map((r) => [r.name, r.scope, new Date(r.createdAt).toISOString().slice(0, 19) + 'Z', r.lastUsedAt ? ago(r.lastUsedAt) : 'never']),
        ),
      );
    return 0;
  }
  if (sub === 'revoke') {
    if (!arg || extra !== undefined) throw new FlotillaError('usage', 'api-token revoke needs one token name (see flotilla api-token list)');
    if (!(await store.revoke(arg))) throw new FlotillaError('not-found', `no API token named ${JSON.stringify(arg)} (see flotilla api-token list)`);
    ctx.out(ctx.flags.json ? JSON.stringify({ revoked: arg }) : `Revoked API token ${arg}: the server refuses it from its next request on`);
    return 0;
  }
  throw new FlotillaError('usage', `${sub === undefined ? 'flotilla api-token needs a command' : `"${sub}" is not an api-token command`}: ${USAGE}`);
}
