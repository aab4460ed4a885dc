// Alerts on the agent (docs/alerts.md): the rules, channels and silences the mailbox read from the
// store are evaluated on every metrics sample, with no controller connected. Each state change
// and notification goes to the alert store (state.json, journal.jsonl); notifications go out on
// the rule's channels (notify.ts) unless a silence covers the alert; and each rule's state is
// stored, a moment after it changes, as an `alertstate` document for the fleet's devices.
// With no rule for this host the engine does not even listen to the sampler.

import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { AlertEvent, AlertRuleDoc, AlertStateDoc, ChannelDoc, SilenceDoc } from '../../../shared/alerts/documents.ts';
import { silenceApplies } from '../../../shared/alerts/documents.ts';
import { evaluate, initialState, type Notification } from '../../../shared/alerts/evaluate.ts';
import { matchesSelector, parseSelector, type SelectableHost } from '../../../shared/controller/selector.ts';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import type { Logger } from '../../../node/log.ts';
import type { MetricsService } from '../../../capabilities/metrics/service.ts';
import type { Sample } from '../../../capabilities/metrics/spec.ts';
import type { AuditLog } from '../audit.ts';
import type { KeptDoc, Mailbox } from '../mailbox.ts';
import type { AgentState } from '../state.ts';
import { openAlertStore, type AlertStore, type RuleEntry } from './journal.ts';
import { deliver, type AlertMessage, type RetryPolicy } from './notify.ts';
import { createPushSender } from './push.ts';
import { deliverViaServer } from './server-mail.ts';
import { seriesValue } from './series.ts';

export interface AlertsOptions {
  mailbox: Pick<Mailbox, 'documents' | 'self' | 'putForDevices'> & Partial<Pick<Mailbox, 'relayPush' | 'relayMail'>>;
  metrics: Pick<MetricsService, 'subscribe'>;
  state: Pick<AgentState, 'dir' | 'revocation'>;
  log: Logger;
  audit: Pick<AuditLog, 'write'>;
  now?: () => number;
  retry?: RetryPolicy;
  /** How long changes gather before the state documents are stored (ms). */
  publishDelayMs?: number;
}

export interface Alerts {
  /** Reads the kept documents again (the mailbox calls it after a sync that changed them). */
  reload(): Promise<void>;
  /** Rules this host evaluates now. */
  readonly active: number;
  /** Resolves when every notification under way has ended (tests, stop). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startAlerts(o: AlertsOptions): Promise<Alerts> {
  const now = o.now ?? Date.now;
  const store: AlertStore = await openAlertStore(o.state.dir, (what) => o.log('warn', 'alerts-state-reset', { what }));
  let rules = new Map<string, AlertRuleDoc>();
  let channels = new Map<string, ChannelDoc>();
  let silences: { doc: SilenceDoc; hostMatches: boolean }[] = [];
  let self: { id: string; hostname: string } = { id: '', hostname: osHostname() };
  let unsubscribe: (() => void) | undefined;
  const sending = new Set<Promise<void>>();
  const refusedSeen = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let retryAt = 0;
  let stopped = false;
  let reloading: Promise<void> = Promise.resolve();
  const relay = o.mailbox.relayPush?.bind(o.mailbox);
  const mailRelay = o.mailbox.relayMail?.bind(o.mailbox);
  const push = createPushSender({
    subscriptions: () => o.mailbox.documents('pushsub'),
    ...(relay ? { relay } : {}),
    log: o.log,
    trusted: (d) => trusted(d),
    goneFile: join(o.state.dir, 'alerts', 'push-gone.json'),
  });

  /** Documents signed by a device revoked since they were read count no more (the mailbox refuses new ones). */
  function trusted(doc: KeptDoc): boolean {
    if (!o.state.revocation?.body.revoked.includes(doc.signer.id)) return true;
    const key = `${doc.rid}@${doc.version}`;
    if (!refusedSeen.has(key)) {
      refusedSeen.add(key);
      o.log('warn', 'alert-doc-refused', { rid: doc.rid, signer: doc.signer.id.slice(0, 8), reason: 'cert-revoked' });
      o.audit.write({
        device: doc.signer.id,
        deviceName: doc.signer.name,
        role: doc.signer.role,
        request: doc.payload.type,
        rid: doc.rid,
        outcome: 'refused',
        code: 'cert-revoked',
        detail: 'its signer was revoked',
        via: 'store',
      });
    }
    return false;
  }

  function matches(selector: string, host: SelectableHost, saved: Map<string, string>, what: string): boolean {
    try {
      return matchesSelector(parseSelector(selector), host, saved);
    } catch (error) {
      o.log('warn', 'alert-selector-unresolved', { what, error: error instanceof FlotillaError ? error.detail : String(error) });
      return false;
    }
  }

  async function load(): Promise<void> {
    const seen = await o.mailbox.self();
    const next = new Map<string, AlertRuleDoc>();
    if (seen) {
      self = { id: seen.host.id, hostname: seen.host.hostname };
      for (const d of o.mailbox.documents('alert')) {
        const r = d.payload;
        if (r.deleted || !r.enabled || !trusted(d)) continue;
        if (matches(r.target, seen.host, seen.selectors, `rule ${r.name}`)) next.set(r.name, r);
      }
      channels = new Map(
        o.mailbox
          .documents('channel')
          .filter((d) => !d.payload.deleted && trusted(d))
          .map((d) => [d.payload.name, d.payload]),
      );
      silences = o.mailbox
        .documents('silence')
        .filter((d) => d.payload.until > now() && trusted(d))
        .map((d) => ({
          doc: d.payload,
          hostMatches: d.payload.host === undefined || matches(d.payload.host, seen.host, seen.selectors, `silence ${d.payload.id}`),
        }));
    }
    const t = now();
    // Rules gone (deleted, disabled, no longer for this host): their state ends without a notification.
    for (const [name, entry] of store.entries) {
      if (next.has(name) || !entry.installed) continue;
      entry.installed = false;
      if (entry.state.state === 'pending' || entry.state.state === 'firing') {
        const from = entry.state.state;
        entry.state = initialState(t);
        store.record(name, { at: t, kind: 'state', from, to: 'inactive' });
      }
      entry.published = false;
    }
    for (const [name, r] of next) {
      const entry = store.entries.get(name);
      if (!entry)
        store.entries.set(name, { state: initialState(t), severity: r.severity, metric: r.metric, installed: true, events: [], version: 0, published: false });
      else if (!entry.installed || entry.metric !== r.metric || entry.severity !== r.severity) {
        Object.assign(entry, { installed: true, metric: r.metric, severity: r.severity, published: false });
      }
    }
    rules = next;
    if (rules.size > 0 && !unsubscribe) unsubscribe = o.metrics.subscribe((sample) => onSample(sample));
    if (rules.size === 0 && unsubscribe) {
      unsubscribe();
      unsubscribe = undefined;
    }
    o.log('info', 'alerts-loaded', { rules: rules.size, channels: channels.size, silences: silences.length });
    schedule();
  }

  let revocationSeen = o.state.revocation?.body.version;

  function onSample(sample: Sample): void {
    // A device revoked since the rules were read: its documents count no more (trusted()).
    if (o.state.revocation?.body.version !== revocationSeen) {
      revocationSeen = o.state.revocation?.body.version;
      void alerts.reload();
    }
    for (const [name, rule] of rules) {
      const entry = store.entries.get(name);
      if (!entry) continue;
      const value = seriesValue(sample.values, rule.metric);
      const step = evaluate(rule, entry.state, value, sample.t);
      entry.state = step.next;
      if (step.change) {
        store.record(name, { at: sample.t, kind: 'state', ...step.change, ...(value === undefined ? {} : { value }) });
        o.log('info', 'alert-state', { rule: name, from: step.change.from, to: step.change.to, value });
        schedule();
      }
      if (step.notify) notify(rule, entry, step.notify, value, sample.t);
    }
  }

  function notify(rule: AlertRuleDoc, entry: RuleEntry, event: Notification, value: number | undefined, at: number): void {
    const silence = silences.find((s) => s.hostMatches && silenceApplies(s.doc, rule.name, at, () => true));
    if (silence) {
      store.record(rule.name, { at, kind: 'notify', event, silenced: true, ...(value === undefined ? {} : { value }) });
      o.log('info', 'alert-silenced', { rule: rule.name, notification: event, silence: silence.doc.id });
      schedule();
      return;
    }
    const message: AlertMessage = { event, rule, host: self, value, since: event === 'resolved' ? at : (entry.state.activeSince ?? at), at };
    for (const name of rule.channels) {
      const channel = channels.get(name);
      const sent = !channel
        ? Promise.resolve({ ok: false, attempts: 0, error: `no channel named ${name}` })
        : channel.kind === 'push'
          ? push.deliver(channel.push ?? { devices: [] }, message, o.retry)
          : channel.email?.via === 'server'
            ? deliverViaServer(channel.email, message, mailRelay, o.retry)
            : deliver(channel, message, o.retry);
      const done = sent.then((d) => {
        const e: AlertEvent = { at: now(), kind: 'notify', event, channel: name, ok: d.ok, attempts: d.attempts, ...(d.error ? { error: d.error } : {}) };
        store.record(rule.name, e);
        o.log(d.ok ? 'info' : 'warn', d.ok ? 'alert-notified' : 'alert-notify-failed', {
          rule: rule.name,
          notification: event,
          channel: name,
          attempts: d.attempts,
          ...(d.error ? { error: d.error } : {}),
        });
        schedule();
      });
      sending.add(done);
      void done.finally(() => sending.delete(done));
    }
  }

  function schedule(delayMs = o.publishDelayMs ?? 1000): void {
    if (stopped || timer) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        void flush();
      },
      Math.max(delayMs, retryAt - now()),
    );
    timer.unref();
  }

  function docOf(name: string, entry: RuleEntry, at: number): AlertStateDoc {
    return {
      type: 'alertstate',
      rule: name,
      host: self.id,
      hostname: self.hostname.slice(0, 255),
      state: entry.state.state,
      since: entry.state.since,
      ...(entry.state.value === undefined ? {} : { value: entry.state.value }),
      severity: entry.severity,
      metric: entry.metric || '?',
      installed: entry.installed,
      events: entry.events,
      at,
    };
  }

  /** Saves the state, then stores every changed rule's document; what the store does not take is tried again later. */
  async function flush(): Promise<void> {
    try {
      await store.save();
    } catch (error) {
      o.log('error', 'alerts-save-failed', { error: (error as Error).message });
    }
    const pending = [...store.entries].filter(([, e]) => !e.published);
    if (pending.length === 0 || !self.id) return;
    for (const [name, entry] of pending) {
      const at = now();
      try {
        // Versions are times: a state directory restored from a backup still writes newer ones.
        entry.version = await o.mailbox.putForDevices(docOf(name, entry, at), `${self.id}:${name}`, Math.max(entry.version + 1, at));
        entry.published = true;
        o.log('info', 'alert-state-stored', { rule: name, state: entry.state.state, version: entry.version });
      } catch (error) {
        const limited = error instanceof FlotillaError && error.code === 'rate-limited';
        // Not accepted yet, no devices keyring yet (an admin device makes it on its next sync), the store down: later.
        o.log('warn', 'alert-state-not-stored', { rule: name, error: error instanceof FlotillaError ? `${error.code}: ${error.detail ?? ''}` : String(error) });
        retryAt = now() + (limited ? 1000 + Math.random() * 4000 : 30_000 + Math.random() * 30_000);
        schedule(0);
        break;
      }
    }
    await store.save().catch((error: unknown) => o.log('error', 'alerts-save-failed', { error: (error as Error).message }));
  }

  const alerts: Alerts = {
    reload() {
      reloading = reloading.then(load).catch((error: unknown) => o.log('error', 'alerts-load-failed', { error: (error as Error).message }));
      return reloading;
    },
    get active() {
      return rules.size;
    },
    async idle() {
      while (sending.size > 0) await Promise.allSettled([...sending]);
    },
    async stop() {
      stopped = true;
      unsubscribe?.();
      unsubscribe = undefined;
      clearTimeout(timer);
      await Promise.race([alerts.idle(), new Promise((r) => setTimeout(r, 2000).unref())]);
      await store.save().catch((error: unknown) => o.log('error', 'alerts-save-failed', { error: (error as Error).message }));
    },
  };
  return alerts;
}
