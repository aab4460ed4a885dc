// services: lists systemd's service units and runs systemctl actions on one, with the unit name
// passed as an argument (never through a shell) after `--`.

import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { FlotillaError } from '../../shared/wire/errors.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import { actionFailure, mergeServices, parseUnitFilesJson, parseUnitFilesPlain, parseUnitsJson, parseUnitsPlain } from './parse.ts';
import { MAX_TEXT, type spec } from './spec.ts';

/** systemd creates this directory when it boots as PID 1 (what sd_booted() checks). */
const SYSTEMD_RUNTIME = '/run/systemd/system';
/** A start or stop waits for the unit's job; systemd's own default job timeout is 90 s. */
const ACTION_TIMEOUT_MS = 100_000;
const LIST_TIMEOUT_MS = 20_000;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs systemctl with `args` (no shell, no pager, no colours); never rejects for a non-zero exit. */
function systemctl(args: readonly string[], timeoutMs: number, signal: AbortSignal): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(
      'systemctl',
      [...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, signal, env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', LC_ALL: 'C' } },
      (error, stdout, stderr) => {
        const code = (error as { code?: unknown } | null)?.code;
        if (error && typeof code !== 'number') {
          if (signal.aborted) reject(new FlotillaError('cancelled'));
          else if (code === 'ENOENT') reject(new FlotillaError('unsupported', 'systemctl is not installed on this host'));
          else
            reject(new FlotillaError('file-error', `systemctl ${args.join(' ')}: ${error.killed ? `no answer within ${timeoutMs / 1000} s` : error.message}`));
          return;
        }
        resolve({ code: typeof code === 'number' ? code : 0, stdout, stderr });
      },
    );
  });
}

/** Refuses with one sentence on a host that did not boot systemd (containers, CI, other inits). */
async function requireSystemd(): Promise<void> {
  const running = await stat(SYSTEMD_RUNTIME).then(
    (info) => info.isDirectory(),
    () => false,
  );
  if (!running) throw new FlotillaError('unsupported', `this host does not run systemd (no ${SYSTEMD_RUNTIME}), so it has no services to list or control`);
}

/** The service units with their state: JSON where systemctl prints it (systemd ≥ 246), the plain table otherwise. */
async function listServices(signal: AbortSignal) {
  const base = ['--type=service', '--all', '--no-pager'];
  const json = await systemctl(['list-units', ...base, '--output=json'], LIST_TIMEOUT_MS, signal);
  let loaded = json.code === 0 ? parseUnitsJson(json.stdout) : undefined;
  if (!loaded) {
    const plain = await systemctl(['list-units', ...base, '--plain', '--no-legend'], LIST_TIMEOUT_MS, signal);
    if (plain.code !== 0) throw new FlotillaError('file-error', `systemctl list-units exited ${plain.code}: ${firstLines(plain.stderr)}`);
    loaded = parseUnitsPlain(plain.stdout);
  }
  const filesJson = await systemctl(['list-unit-files', '--type=service', '--no-pager', '--output=json'], LIST_TIMEOUT_MS, signal);
  let files = filesJson.code === 0 ? parseUnitFilesJson(filesJson.stdout) : undefined;
  if (!files) {
    const plain = await systemctl(['list-unit-files', '--type=service', '--no-pager', '--plain', '--no-legend'], LIST_TIMEOUT_MS, signal);
    // Without the files' states the list still says what runs; enabled shows as unknown.
    files = plain.code === 0 ? parseUnitFilesPlain(plain.stdout) : new Map<string, string>();
  }
  return mergeServices(loaded, files);
}

/** The first lines of systemctl's complaint, for an error's detail. */
function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 3).join(' ').slice(0, 500) || 'no message';
}

/** stdout then stderr, cut to what a result carries. */
function combined(ran: Ran): string {
  const text = [ran.stdout.trimEnd(), ran.stderr.trimEnd()].filter(Boolean).join('\n');
  return text.length > MAX_TEXT ? text.slice(0, MAX_TEXT - 20) + '\n… (cut)' : text;
}

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const startedAt = Date.now();
  await requireSystemd();
  const { action, unit } = request;
  const done = (data: { text?: string; units?: Awaited<ReturnType<typeof listServices>> }) => ({
    status: 'ok' as const,
    startedAt,
    durationMs: Date.now() - startedAt,
    data: { action, ...(unit ? { unit } : {}), ...data },
  });
  if (action === 'list' || !unit) return done({ units: await listServices(ctx.signal) });
  if (action === 'status') {
    // Exit 3 is "not running", still a status; 4 is "no such unit".
    const ran = await systemctl(['status', '--no-pager', '--lines=20', '--', unit], LIST_TIMEOUT_MS, ctx.signal);
    if (ran.code === 4 || (ran.code !== 0 && !ran.stdout.trim()))
      throw new FlotillaError(ran.code === 4 ? 'not-found' : 'file-error', `systemctl status ${unit}: ${firstLines(ran.stderr)}`);
    return done({ text: combined(ran) });
  }
  const ran = await systemctl([action, '--', unit], ACTION_TIMEOUT_MS, ctx.signal);
  if (ran.code !== 0) {
    return {
      status: 'failed',
      exitCode: ran.code,
      startedAt,
      durationMs: Date.now() - startedAt,
      error: actionFailure(action, unit, ran.code, firstLines(ran.stderr)),
    };
  }
  ctx.log('info', 'service-action', { action, unit, device: ctx.device.id.slice(0, 8) });
  return done({ text: combined(ran) });
};
