import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { DEFAULT_POLICY, jobToFile } from '../../../shared/jobs/job.ts';
import { parseJobText, readJobFile } from './job-file.ts';

const AT = 1_700_000_000_000;

/** The sentence of the usage error `f` throws. */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(FlotillaError);
    expect((error as FlotillaError).code).toBe('usage');
    return (error as FlotillaError).detail ?? '';
  }
  throw new Error('accepted');
}

const YAML = `# nightly backup of the web hosts
name: backup
command: tar czf /var/backups/www-{day}.tgz /var/www
target: tag:role=web and not web-3
schedule: "0 30 2 * * *"
timezone: Europe/Berlin
params:
  - name: day
    type: enum
    values: [mon, tue]
    default: mon
timeoutSec: 600
policy:
  overlap: queue
`;

describe('job files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-jobfile-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads YAML with comments, top-level and nested policy fields, and fills the defaults', () => {
    const job = parseJobText(YAML, 'backup.yaml', AT);
    expect(job).toMatchObject({
      type: 'job',
      name: 'backup',
      target: 'tag:role=web and not web-3',
      schedule: '0 30 2 * * *',
      timezone: 'Europe/Berlin',
      enabled: true,
      deleted: false,
      at: AT,
      params: [{ name: 'day', type: 'enum', values: ['mon', 'tue'], default: 'mon', required: false }],
    });
    expect(job.policy).toEqual({ ...DEFAULT_POLICY, timeoutSec: 600, overlap: 'queue' });
  });

  it('reads JSON, and what jobs show --json prints reads back to the same document', () => {
    const fromYaml = parseJobText(YAML, 'backup.yaml', AT);
    const again = parseJobText(JSON.stringify(jobToFile(fromYaml), null, 2), 'backup.json', AT);
    expect(again).toEqual(fromYaml);
    const minimal = parseJobText('{"name":"tick","command":"date","target":"*","schedule":"@every 30s"}', 'tick.json', AT);
    expect(minimal).toMatchObject({ name: 'tick', schedule: '@every 30s', params: [], policy: DEFAULT_POLICY, enabled: true });
  });

  it('names the file and the field in every refusal', () => {
    expect(refusal(() => parseJobText('name: x\ncommand: "true"\ntarget: "*"\n', 'x.yaml', AT))).toMatch(/^x\.yaml: .*schedule/);
    expect(refusal(() => parseJobText('name: x\ncommand: "true"\ntarget: "*"\nschedule: "61 * * * *"\n', 'x.yaml', AT))).toMatch(
      /^x\.yaml: schedule "61 \* \* \* \*"/,
    );
    expect(refusal(() => parseJobText('name: x\ncommand: "true"\ntarget: "*"\nschedule: once\ntimeoutSec: soon\n', 'x.yaml', AT))).toMatch(
      /^x\.yaml: .*timeoutSec/,
    );
    expect(refusal(() => parseJobText('name: x\ncommand: "true"\ntarget: "*"\nschedule: once\nshedule: once\n', 'x.yaml', AT))).toMatch(
      /^x\.yaml: unknown field "shedule"/,
    );
    expect(refusal(() => parseJobText('name: x\ncommand: "true"\ntarget: "*"\nschedule: once\ntimezone: Mars/Olympus\n', 'x.yaml', AT))).toMatch(
      /^x\.yaml: timezone "Mars\/Olympus"/,
    );
    expect(refusal(() => parseJobText('name: x\ncommand: echo "{who}"\ntarget: "*"\nschedule: once\nparams: [{name: who}]\n', 'x.yaml', AT))).toMatch(
      /^x\.yaml: command: \{who\} inside double quotes/,
    );
    expect(refusal(() => parseJobText('name: bad name\ncommand: "true"\ntarget: "*"\nschedule: once\n', 'x.json', AT))).toMatch(/^x\.json: name "bad name"/);
  });

  it('says to quote a command YAML reads as a boolean or a number', () => {
    expect(refusal(() => parseJobText('name: x\ncommand: true\ntarget: "*"\nschedule: once\n', 'x.yaml', AT))).toBe(
      'x.yaml: command: expected a string (YAML read true as a boolean; quote it: command: "true")',
    );
  });

  it('says to quote a schedule YAML reads as an alias or a reserved character', () => {
    for (const schedule of ['*/5 * * * *', '@every 30s'])
      expect(refusal(() => parseJobText(`name: x\ncommand: date\ntarget: web\nschedule: ${schedule}\n`, 'x.yaml', AT))).toMatch(
        /^x\.yaml: not a JSON or YAML job file: .*\d; quote a value that starts with \* or @, as in schedule: "\*\/5 \* \* \* \*"$/,
      );
  });

  it('refuses text that is not YAML or JSON, a field given twice, and an empty file, in one line', () => {
    const broken = refusal(() => parseJobText('{"name": "x", "command": ', 'x.json', AT));
    expect(broken).toMatch(/^x\.json: not a JSON or YAML job file: /);
    expect(broken).not.toContain('\n');
    expect(refusal(() => parseJobText('name: a\nname: b\n', 'x.yaml', AT))).toMatch(/^x\.yaml: not a JSON or YAML job file: .*unique/i);
    expect(refusal(() => parseJobText('', 'x.yaml', AT))).toMatch(/^x\.yaml: expected an object with at least name, command, target and schedule/);
    expect(refusal(() => parseJobText('- a\n- b\n', 'x.yaml', AT))).toMatch(/^x\.yaml: expected an object/);
  });

  it('reads a path relative to the working directory, or standard input for -', async () => {
    await writeFile(join(dir, 'job.yaml'), YAML);
    expect((await readJobFile('job.yaml', dir, AT)).name).toBe('backup');
    expect((await readJobFile('-', dir, AT, Readable.from([Buffer.from(YAML)]))).name).toBe('backup');
  });

  it('says when the file is missing or a directory', async () => {
    await mkdir(join(dir, 'sub'), { recursive: true });
    await expect(readJobFile('nope.yaml', dir, AT)).rejects.toThrow(/nope\.yaml: cannot read the job file \(no such file\)/);
    await expect(readJobFile('sub', dir, AT)).rejects.toThrow(/sub: not a file/);
  });
});
