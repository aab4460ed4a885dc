// flotilla jobs save|list|show|logs|enable|disable|rm|analysis: jobs as fleet documents
// (shared/jobs/job.ts) that agents run on their own schedule, and the runs the hosts report
// (jobruns documents) or, with --live, their agents' job journals (the `jobs` capability).

import { stringify } from 'yaml';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { jobToFile, type JobDoc } from '../../../shared/jobs/job.ts';
import type { JobRun } from '../../../shared/jobs/runs.ts';
import { toSelectable, uniqueLabels } from '../../../shared/controller/hosts.ts';
import { matchesSelector, parseSelector, type Selector } from '../../../shared/controller/selector.ts';
import { MAX_RUNS, spec as jobsSpec } from '../../../capabilities/jobs/spec.ts';
import { openHome, type Home } from '../home.ts';
import { openFleetState, writeDocument, type FleetState } from '../fleet-state.ts';
import { callOnSelector } from '../on-selector.ts';
import { parseDuration } from '../duration.ts';
import { ago, color, duration, statusColor, table } from '../output.ts';
import { readJobFile } from '../jobs/job-file.ts';
import { analyseJobs, type JobAnalysis } from '../jobs/analysis.ts';
import { findJob, formatTime, jobDocs, nextRunsOf, nextRunText, reportsOf, runDuration, runsDocs } from '../jobs/views.ts';
import { stringFlag, type CommandContext } from './context.ts';
import { jobsRunCommand } from './jobs-run.ts';

export const JOBS_USAGE = `flotilla jobs save <job.yaml|job.json|->   save a job (a new one, or an update of the job of that name)
flotilla jobs list                          every job: schedule, target, next run, hosts reporting it
flotilla jobs show <name>                   the job file, the next five runs, each host's last run (--json: the job file)
flotilla jobs logs <name> [host] [-o wide] [--live] [--limit N]
                                            runs from the hosts' reports (-o wide: with output;
                                            --live: from the online agents' journals, full output)
flotilla jobs run <name> [--param k=v…] [--async] [--json]
                                            run it now on its online hosts with these values
                                            (checked here and on each host; exit 1 if any failed)
flotilla jobs enable|disable|rm <name>      start or stop running it, or uninstall it everywhere
flotilla jobs analysis [name] [--since 24h] per job and host: last run, failures in the window,
                                            and hosts that should run it but do not report it`;

const ONE_LINE = 'flotilla jobs save|list|show|logs|run|enable|disable|rm|analysis (flotilla jobs help)';

/** Display names of the hosts this home knows (hostname, with a short id where names repeat). */
async function hostNames(home: Home): Promise<Map<string, string>> {
  return uniqueLabels(await home.hosts.all());
}

const nameOf = (names: ReadonlyMap<string, string>, id: string, fallback?: string) => names.get(id) ?? (fallback || id.slice(0, 8));

function refuseViewer(home: Home, what: string): void {
  const role = home.device.cert.body.role;
  if (role === 'viewer') throw new FlotillaError('forbidden', `this device is a viewer: ${what} needs an operator or admin device`);
}

async function openState(ctx: CommandContext): Promise<{ home: Home; state: FleetState }> {
  const home = await openHome();
  return { home, state: await openFleetState(home, ctx.err) };
}

/** Writes a job document; false when it did not reach the store (said on stderr). */
async function writeJob(state: FleetState, job: JobDoc, ctx: CommandContext): Promise<boolean> {
  return (await writeDocument(state, job, job.name, ctx.err)) === 'written';
}

/** The accepted hosts this home knows that a target matches (by the facts and tags it last saw), with their display names. */
async function matchingHosts(home: Home, selector: Selector, ctx: CommandContext): Promise<{ id: string; label: string }[]> {
  const records = (await home.hosts.all()).filter((h) => h.status === 'accepted');
  const labels = uniqueLabels(records);
  try {
    const lookup = await home.selectors.lookup();
    return records
      .filter((r) => matchesSelector(selector, toSelectable(r, true), lookup))
      .map((r) => ({ id: r.id, label: labels.get(r.id) ?? r.id.slice(0, 8) }));
  } catch (error) {
    ctx.err(`note: cannot tell which hosts the target matches here: ${error instanceof FlotillaError ? (error.detail ?? error.message) : String(error)}`);
    return [];
  }
}

function nextLines(job: JobDoc, now: number, count: number): string[] {
  const next = nextRunsOf(job, now, count);
  if (next.kind === 'times') return next.times.map((t) => formatTime(t, job.timezone));
  if (next.kind === 'host-side') return [`${job.schedule}: counted on each host from when it installed the job (see jobs show, NEXT per host)`];
  return [nextRunText(next)];
}

function nextJson(job: JobDoc, now: number, count: number): number[] {
  const next = nextRunsOf(job, now, count);
  return next.kind === 'times' ? next.times : [];
}

async function saveJob(ctx: CommandContext, path: string | undefined): Promise<number> {
  if (!path || ctx.args.length > 2) throw new FlotillaError('usage', 'flotilla jobs save takes one job file (JSON or YAML), or - for standard input');
  const now = Date.now();
  const job = await readJobFile(path, ctx.cwd, now);
  // A target the agents could not parse would be saved and run nowhere: refused here, naming the field.
  let selector: Selector;
  try {
    selector = parseSelector(job.target);
  } catch (error) {
    throw new FlotillaError(
      'usage',
      `${path === '-' ? 'standard input' : path}: target: ${error instanceof FlotillaError ? (error.detail ?? error.message) : String(error)}`,
    );
  }
  const { home, state } = await openState(ctx);
  refuseViewer(home, 'saving a job');
  const matching = await matchingHosts(home, selector, ctx);
  const previous = jobDocs(state.sync).find((j) => j.name === job.name);
  if (!(await writeJob(state, job, ctx))) return 1;
  const updated = previous !== undefined && !previous.deleted;
  if (ctx.flags.json) {
    ctx.out(JSON.stringify({ saved: job.name, updated, job: jobToFile(job), nextRuns: nextJson(job, now, 5), matching: matching.map((h) => h.id) }));
    return 0;
  }
  ctx.out(
    `${updated ? 'Updated' : 'Saved'} job ${job.name}: ${job.schedule}${job.timezone ? ` (${job.timezone})` : ''} on ${job.target}${job.enabled ? '' : ', disabled'}`,
  );
  const shown = matching.slice(0, 10).map((h) => h.label);
  ctx.out(
    matching.length === 0
      ? 'No host this device knows matches the target yet; hosts that match later install the job.'
      : `Matches ${matching.length} known host${matching.length === 1 ? '' : 's'}: ${shown.join(', ')}${matching.length > 10 ? ', …' : ''}`,
  );
  ctx.out(
    `Next runs:\n${nextLines(job, now, 5)
      .map((l) => `  ${l}`)
      .join('\n')}`,
  );
  return 0;
}

async function listJobs(ctx: CommandContext): Promise<number> {
  const { home, state } = await openState(ctx);
  const names = await hostNames(home);
  const now = Date.now();
  const reports = runsDocs(state.sync);
  const jobs = jobDocs(state.sync).filter((j) => !j.deleted);
  const rows = jobs.map((job) => {
    const hosts = reportsOf(reports, job.name)
      .filter((r) => r.installed)
      .map((r) => {
        const last = r.runs.at(-1);
        return {
          id: r.host,
          hostname: nameOf(names, r.host, r.hostname),
          lastStatus: last?.status ?? null,
          lastRunAt: last ? (last.endedAt ?? last.startedAt ?? last.planned) : null,
          nextRun: r.nextRun ?? null,
          // The version of the job the host runs (the document's `at`): equal to the job's once it applied the last change.
          jobAt: r.jobAt,
        };
      })
      .sort((a, b) => a.hostname.localeCompare(b.hostname));
    return { job, hosts, next: nextRunsOf(job, now, 1) };
  });
  if (ctx.flags.json) {
    ctx.out(
      JSON.stringify(
        rows.map(({ job, hosts, next }) => ({
          name: job.name,
          schedule: job.schedule,
          timezone: job.timezone ?? null,
          enabled: job.enabled,
          target: job.target,
          at: job.at,
          nextRun: next.kind === 'times' ? next.times[0] : null,
          next: nextRunText(next, job.timezone),
          hosts,
        })),
      ),
    );
    return 0;
  }
  if (rows.length === 0) {
    ctx.out('No jobs. Save one with: flotilla jobs save job.yaml (docs/jobs.md has the format)');
    return 0;
  }
  ctx.out(
    table(
      ['NAME', 'SCHEDULE', 'ENABLED', 'TARGET', 'NEXT', 'HOSTS'],
      rows.map(({ job, hosts, next }) => [
        job.name,
        job.schedule + (job.timezone ? ` ${job.timezone}` : ''),
        job.enabled ? 'yes' : color(33, 'no'),
        job.target,
        nextRunText(next, job.timezone),
        hosts.length === 0 ? '-' : hosts.map((h) => `${h.hostname}:${h.lastStatus ? statusColor(h.lastStatus) : '-'}`).join(' '),
      ]),
    ),
  );
  return 0;
}

async function showJob(ctx: CommandContext, name: string | undefined): Promise<number> {
  const { home, state } = await openState(ctx);
  const job = findJob(jobDocs(state.sync), name, 'flotilla jobs show <name>');
  // The job file alone, so that `jobs show x --json > x.json; jobs save x.json` round-trips.
  if (ctx.flags.json) {
    ctx.out(JSON.stringify(jobToFile(job), null, 2));
    return 0;
  }
  const names = await hostNames(home);
  const now = Date.now();
  ctx.out(`# saved ${new Date(job.at).toISOString()}${job.enabled ? '' : ' (disabled)'}`);
  ctx.write(stringify(jobToFile(job), { lineWidth: 0 }));
  ctx.out(`\nNext runs${job.timezone ? '' : " (no time zone: each host uses its own; shown in this machine's)"}:`);
  for (const line of nextLines(job, now, 5)) ctx.out(`  ${line}`);
  const reports = reportsOf(runsDocs(state.sync), job.name);
  if (reports.length === 0) {
    ctx.out('\nNo host has reported this job yet.');
    return 0;
  }
  ctx.out('');
  ctx.out(
    table(
      ['HOST', 'INSTALLED', 'LAST RUN', 'STATUS', 'EXIT', 'RUNS', 'FAILED', 'NEXT'],
      reports
        .map((r) => ({ r, host: nameOf(names, r.host, r.hostname), last: r.runs.at(-1) }))
        .sort((a, b) => a.host.localeCompare(b.host))
        .map(({ r, host, last }) => [
          host,
          r.installed ? (r.jobAt < job.at ? 'older version' : 'yes') : 'no',
          last ? ago(last.endedAt ?? last.startedAt ?? last.planned, now) : '-',
          last ? statusColor(last.status) : '-',
          last?.exit === undefined ? '-' : String(last.exit),
          String(r.total),
          String(r.failures),
          r.nextRun === undefined ? '-' : formatTime(r.nextRun, job.timezone),
        ]),
    ),
  );
  return 0;
}

/** A run with the host it ran on. */
type HostRun = JobRun & { host: string; hostname: string };

function printRuns(ctx: CommandContext, runs: HostRun[], wide: boolean, timezone: string | undefined): void {
  if (ctx.flags.json) {
    ctx.out(JSON.stringify(runs));
    return;
  }
  if (runs.length === 0) {
    ctx.out('No runs reported yet.');
    return;
  }
  const header = ['HOST', 'PLANNED', 'STATUS', 'EXIT', 'DURATION', 'TRIGGER'];
  const row = (r: HostRun) => {
    const took = runDuration(r);
    return [
      r.hostname,
      formatTime(r.planned, timezone),
      statusColor(r.status),
      r.exit === undefined ? (r.signal ?? '-') : String(r.exit),
      took === undefined ? '-' : duration(took),
      r.trigger + (r.attempt > 0 ? ` #${r.attempt}` : ''),
    ];
  };
  if (!wide) {
    ctx.out(table(header, runs.map(row)));
    return;
  }
  // Wide: each run's line, then its output indented (stderr lines marked with !).
  for (const r of runs) {
    ctx.out(table(header, [row(r)]).split('\n')[1]!);
    const indent = (text: string, mark: string) =>
      text
        .replace(/\n$/, '')
        .split('\n')
        .map((l) => `    ${mark}${l}`)
        .join('\n');
    if (r.error) ctx.out(`    error: ${r.error}`);
    if (r.stdout) ctx.out(indent(r.stdout, ''));
    if (r.stderr) ctx.out(indent(r.stderr, color(31, '! ')));
  }
}

/** The runs that match a host argument: a display name, a hostname or the start of an id. */
function hostMatches(run: { host: string; hostname: string }, wanted: string | undefined): boolean {
  if (wanted === undefined) return true;
  return run.hostname === wanted || run.host.startsWith(wanted.replace(/^id:/, ''));
}

async function jobLogs(ctx: CommandContext, name: string | undefined, host: string | undefined): Promise<number> {
  const output = stringFlag(ctx, 'output');
  if (output !== undefined && output !== 'wide') throw new FlotillaError('usage', `-o ${output}: the only output format is wide (-o wide)`);
  const limitText = ctx.flags['limit'];
  const limit = typeof limitText === 'string' ? Number(limitText) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 10_000))
    throw new FlotillaError('usage', `--limit ${String(limitText)} must be a whole number from 1 to 10000`);
  const { home, state } = await openState(ctx);
  const job = findJob(jobDocs(state.sync), name, 'flotilla jobs logs <name> [host]');
  const names = await hostNames(home);
  let runs: HostRun[];
  let status = 0;
  if (ctx.flags['live'] === true) {
    // Ask the agents: the full 64 KiB tails from their journals, hosts that are online only.
    // A host argument is a display name or the start of an id: asked by id, whatever the selector grammar makes of the name.
    const named = host === undefined ? undefined : [...names].find(([id, label]) => label === host || id.startsWith(host.replace(/^id:/, '')));
    if (host !== undefined && !named) throw new FlotillaError('usage', `no host named ${JSON.stringify(host)}; see flotilla hosts`);
    const selector = named ? `id:${named[0]}` : job.target;
    const { results, names: labels } = await callOnSelector(ctx, selector, jobsSpec, { action: 'runs', job: job.name, limit: Math.min(limit ?? 20, MAX_RUNS) });
    runs = [];
    for (const r of results) {
      const hostname = labels.get(r.hostId) ?? nameOf(names, r.hostId);
      if (r.status === 'ok' && r.data?.action === 'runs') runs.push(...r.data.runs.map((run) => ({ ...run, host: r.hostId, hostname })));
      else {
        status = 1;
        ctx.err(`${hostname}: ${r.status}${r.error ? ` (${r.error.detail ?? r.error.code})` : ''}`);
      }
    }
  } else {
    runs = reportsOf(runsDocs(state.sync), job.name).flatMap((doc) =>
      doc.runs.map((run) => ({ ...run, host: doc.host, hostname: nameOf(names, doc.host, doc.hostname) })),
    );
    runs = runs.filter((r) => hostMatches(r, host));
    if (host !== undefined && runs.length === 0 && ![...names.values()].includes(host))
      throw new FlotillaError('usage', `no host named ${JSON.stringify(host)} reports job ${job.name}; see flotilla jobs show ${job.name}`);
  }
  runs.sort((a, b) => a.planned - b.planned || a.hostname.localeCompare(b.hostname));
  if (limit !== undefined) runs = runs.slice(-limit);
  printRuns(ctx, runs, output === 'wide', job.timezone);
  return status;
}

async function setJob(ctx: CommandContext, sub: 'enable' | 'disable' | 'rm', name: string | undefined): Promise<number> {
  if (ctx.args.length > 2) throw new FlotillaError('usage', `flotilla jobs ${sub} takes one job name`);
  const { home, state } = await openState(ctx);
  refuseViewer(home, `${sub === 'rm' ? 'removing' : sub === 'enable' ? 'enabling' : 'disabling'} a job`);
  const job = findJob(jobDocs(state.sync), name, `flotilla jobs ${sub} <name>`);
  const next: JobDoc = sub === 'rm' ? { ...job, deleted: true, at: Date.now() } : { ...job, enabled: sub === 'enable', at: Date.now() };
  if (!(await writeJob(state, next, ctx))) return 1;
  const said = sub === 'rm' ? 'Removed' : sub === 'enable' ? 'Enabled' : 'Disabled';
  if (ctx.flags.json) ctx.out(JSON.stringify({ job: job.name, enabled: next.enabled, deleted: next.deleted, at: next.at }));
  else ctx.out(`${said} job ${job.name}${sub === 'rm' ? ': its hosts uninstall it' : ''} (hosts apply it when they next read the fleet's documents)`);
  return 0;
}

function printAnalysis(ctx: CommandContext, analyses: JobAnalysis[], since: number, now: number): void {
  if (ctx.flags.json) {
    ctx.out(JSON.stringify({ since, jobs: analyses }));
    return;
  }
  if (analyses.length === 0) {
    ctx.out('No jobs to analyse.');
    return;
  }
  const rows: string[][] = [];
  for (const a of analyses) {
    if (a.targetProblem) rows.push([a.job, '-', '-', '-', '-', '-', `target ${a.target}: ${a.targetProblem}`]);
    if (a.hosts.length === 0 && !a.targetProblem) rows.push([a.job, '-', '-', '-', '-', '-', `no known host matches ${a.target}`]);
    for (const h of a.hosts) {
      const last = h.lastRun;
      const status = h.missing ? color(31, 'missing') : last ? statusColor(last.status) : '-';
      const note = h.missing
        ? h.why!
        : !h.expected
          ? `does not match ${a.target} as this device knows it`
          : h.partial
            ? 'counts cover the newest runs only'
            : '';
      rows.push([
        a.job,
        h.hostname,
        last ? ago(last.endedAt ?? last.startedAt ?? last.planned, now) : '-',
        status,
        String(h.failuresInWindow) + (h.partial ? '+' : ''),
        String(h.runsInWindow) + (h.partial ? '+' : ''),
        note,
      ]);
    }
  }
  ctx.out(table(['JOB', 'HOST', 'LAST RUN', 'STATUS', 'FAILED', 'RUNS', 'NOTE'], rows));
  const missing = analyses.reduce((n, a) => n + a.hosts.filter((h) => h.missing).length, 0);
  const failed = analyses.reduce((n, a) => n + a.failuresInWindow, 0);
  ctx.err(`${analyses.length} job(s) since ${new Date(since).toISOString()}: ${failed} failed run(s), ${missing} host(s) missing a job`);
}

async function analysis(ctx: CommandContext, name: string | undefined): Promise<number> {
  const sinceText = ctx.flags['since'];
  const window = parseDuration(typeof sinceText === 'string' ? sinceText : '24h');
  const { home, state } = await openState(ctx);
  const all = jobDocs(state.sync);
  const jobs = name === undefined ? all : [findJob(all, name, 'flotilla jobs analysis [name]')];
  const now = Date.now();
  const since = now - window;
  const hosts = (await home.hosts.all()).filter((h) => h.status === 'accepted').map((h) => toSelectable(h, true));
  const names = await hostNames(home);
  const analyses = analyseJobs({ jobs, reports: runsDocs(state.sync), hosts, now, since, lookup: await home.selectors.lookup() }).map((a) => ({
    ...a,
    hosts: a.hosts.map((h) => ({ ...h, hostname: names.get(h.host) ?? h.hostname })),
  }));
  printAnalysis(ctx, analyses, since, now);
  return 0;
}

/** Runs one `flotilla jobs` subcommand. */
export async function jobsCommand(ctx: CommandContext): Promise<number> {
  const [sub = 'list', name, extra] = ctx.args;
  switch (sub) {
    case 'help':
      ctx.out(JOBS_USAGE);
      return 0;
    case 'save':
      return saveJob(ctx, name);
    case 'list':
    case 'ls':
      if (name !== undefined) throw new FlotillaError('usage', `flotilla jobs list takes no arguments (to see one job: flotilla jobs show ${name})`);
      return listJobs(ctx);
    case 'show':
      return showJob(ctx, name);
    case 'logs':
      return jobLogs(ctx, name, extra);
    case 'enable':
    case 'disable':
    case 'rm':
      return setJob(ctx, sub, name);
    case 'analysis':
      return analysis(ctx, name);
    case 'run':
      return jobsRunCommand(ctx);
    default:
      throw new FlotillaError('usage', `"${sub}" is not a jobs command; ${ONE_LINE}`);
  }
}
