// flotilla selector save <name> <selector> | list | rm <name>: saved selectors, used as @name.

import { FlotillaError } from '../../../shared/wire/errors.ts';
import { openHome } from '../home.ts';
import { openFleetState, writeDocument } from '../fleet-state.ts';
import { table } from '../output.ts';
import type { CommandContext } from './context.ts';

const USAGE = "usage: flotilla selector save <name> '<selector>' | list | rm <name>";

/** Saves, lists and removes saved selectors. */
export async function selectorCommand(ctx: CommandContext): Promise<number> {
  const [sub = 'list', name, ...words] = ctx.args;
  const home = await openHome();
  const { selectors } = home;
  if (sub === 'list' || sub === 'ls') {
    // Selectors saved on other devices come with the fleet state.
    await openFleetState(home, ctx.err);
    const all = await selectors.all();
    if (ctx.flags.json) ctx.out(JSON.stringify(all.map((s) => ({ name: s.name, selector: s.selector, savedAt: s.savedAt }))));
    else if (all.length === 0) ctx.out("No saved selectors. Save one with: flotilla selector save web-prod 'tag:role=web and tag:env=prod'");
    else
      ctx.out(
        table(
          ['NAME', 'SELECTOR'],
          all.map((s) => [`@${s.name}`, s.selector]),
        ),
      );
    return 0;
  }
  if (sub === 'save') {
    // Unquoted words are joined, so `save web tag:role=web and not web-3` works too.
    const text = [...words, ...ctx.rest].join(' ').trim();
    if (!name || !text) throw new FlotillaError('bad-config', `${USAGE} (save needs a name and a selector)`);
    const saved = await selectors.save(name, text);
    await writeDocument(
      await openFleetState(home, ctx.err),
      { type: 'selector', name: saved.name, expr: saved.selector, deleted: false, at: saved.savedAt },
      saved.name,
      ctx.err,
    );
    ctx.out(ctx.flags.json ? JSON.stringify(saved) : `Saved @${saved.name}: ${saved.selector}`);
    return 0;
  }
  if (sub === 'rm' || sub === 'remove') {
    if (!name || words.length > 0) throw new FlotillaError('bad-config', `${USAGE} (rm takes one name)`);
    await selectors.remove(name, ctx.flags.force ?? false);
    const bare = name.replace(/^@/, '');
    await writeDocument(await openFleetState(home, ctx.err), { type: 'selector', name: bare, expr: '', deleted: true, at: Date.now() }, bare, ctx.err);
    ctx.out(ctx.flags.json ? JSON.stringify({ removed: name.replace(/^@/, '') }) : `Removed @${name.replace(/^@/, '')}`);
    return 0;
  }
  throw new FlotillaError('bad-config', `unknown subcommand "${sub}"; ${USAGE}`);
}
