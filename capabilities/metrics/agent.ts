// metrics on the agent: history queries answered from the store the service keeps, and live
// subscriptions that send every new sample as a `metrics.point` event until cancelled.

import { FlotillaError } from '../../shared/wire/errors.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import { seriesMatch, type Sample, type spec } from './spec.ts';
import { metricsService } from './service.ts';

const HOUR = 3_600_000;
/** Live points not yet taken by a slow controller: more are dropped rather than queued. */
const MAX_UNSENT = 8;
/** A history answer's JSON stays under this (a message's header is at most 256 KiB). */
const MAX_ANSWER_CHARS = 200_000;
/** The coarsest step an answer may have (the spec allows 31 days). */
const MAX_STEP = 30 * 86_400_000;

function filtered(sample: Sample, series: readonly string[] | undefined): Sample {
  if (!series?.length) return sample;
  const pick = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([k]) => seriesMatch(k, series)));
  return { t: sample.t, values: pick(sample.values), totals: pick(sample.totals) };
}

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const service = metricsService();
  if (!service) throw new FlotillaError('unsupported', 'metrics sampling is not running on this agent');
  if (request.action === 'query') {
    const until = request.until ?? Date.now();
    const since = request.since ?? until - HOUR;
    if (since > until) throw new FlotillaError('bad-message', 'since is later than until');
    const latest = service.latest();
    const extra = latest ? { latest: filtered(latest, request.series) } : {};
    // Long series names can make even MAX_CELLS points too large for one message: coarser then.
    let resolution = request.resolution;
    for (;;) {
      const answer = service.history.query({ since, until, ...(resolution ? { resolution } : {}), ...(request.series ? { series: request.series } : {}) });
      const data = { kind: 'history' as const, interval: service.interval, ...answer, ...extra };
      if (JSON.stringify(data).length <= MAX_ANSWER_CHARS || answer.step >= until - since || answer.step * 2 > MAX_STEP) return { status: 'ok', data };
      resolution = answer.step * 2;
    }
  }
  let points = 0;
  let unsent = 0;
  const send = (sample: Sample) => {
    if (unsent >= MAX_UNSENT) return;
    unsent++;
    points++;
    void ctx.send({ type: 'metrics.point', id: request.id, ...filtered(sample, request.series) }).finally(() => unsent--);
  };
  await new Promise<void>((resolve) => {
    // The newest sample at once: a live view has something to show before the next interval.
    const latest = service.latest();
    if (latest) send(latest);
    const unsubscribe = service.subscribe(send);
    const end = () => {
      unsubscribe();
      resolve();
    };
    if (ctx.signal.aborted || ctx.session.closed) return end();
    ctx.signal.addEventListener('abort', end, { once: true });
    ctx.session.onClose(end);
  });
  return { status: ctx.signal.aborted ? 'cancelled' : 'ok', data: { kind: 'live', points } };
};
