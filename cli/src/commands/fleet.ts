// Fleet backups: `flotilla fleet export` seals this device's fleet key under a passphrase, and
// `flotilla init --import` makes a new admin device of the fleet from such a backup.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FlotillaError } from '../../../shared/wire/errors.ts';
import { BACKUP_PREFIX, MIN_PASSPHRASE, deviceFromFleetKeys, exportFleetBackup, importFleetBackup } from '../../../shared/identity/backup.ts';
import { homeDir, openHome, saveDevice } from '../home.ts';
import type { CommandContext } from './context.ts';

/** Options only these commands read. */
export interface BackupOptions {
  /** `--import`: the backup text, or a file holding it. */
  importFrom?: string | undefined;
  /** `--passphrase-file`. */
  passphraseFile?: string | undefined;
}

/** The passphrase from --passphrase-file (one trailing newline dropped) or $FLOTILLA_PASSPHRASE. */
export async function readPassphrase(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let passphrase: string | undefined;
  if (file) {
    try {
      passphrase = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch (error) {
      throw new FlotillaError('bad-config', `the passphrase file ${file} could not be read: ${(error as Error).message}`);
    }
  } else {
    passphrase = env['FLOTILLA_PASSPHRASE'];
  }
  if (!passphrase) throw new FlotillaError('usage', 'give the backup passphrase with --passphrase-file FILE or in $FLOTILLA_PASSPHRASE');
  return passphrase;
}

/** `flotilla fleet export [--passphrase-file F]`: prints the passphrase-encrypted backup. */
export async function fleetCommand(ctx: CommandContext, options: BackupOptions): Promise<number> {
  const [sub] = ctx.args;
  if (sub !== 'export')
    throw new FlotillaError(
      'usage',
      `${sub === undefined ? 'flotilla fleet needs a command' : `"${sub}" is not a fleet command`}: use flotilla fleet export [--passphrase-file FILE] (or the passphrase in $FLOTILLA_PASSPHRASE)`,
    );
  const home = await openHome();
  const { fleetKeys, fleetPub, fleetId } = home.device;
  if (!fleetKeys) throw new FlotillaError('forbidden', 'this device does not hold the fleet key, so it has nothing to back up');
  const passphrase = await readPassphrase(options.passphraseFile);
  if (passphrase.length < MIN_PASSPHRASE) throw new FlotillaError('bad-config', `the passphrase must have at least ${MIN_PASSPHRASE} characters`);
  const backup = await exportFleetBackup(fleetKeys, fleetPub, home.signal, passphrase);
  if (ctx.flags.json) {
    ctx.out(JSON.stringify({ fleet: fleetId, signal: home.signal, backup }));
  } else {
    ctx.out(backup);
    ctx.err(
      `Backup of fleet ${fleetId}. Anyone with this text and its passphrase controls the fleet: keep them apart.\nRestore with: flotilla init --import <backup-or-file> --passphrase-file FILE`,
    );
  }
  return 0;
}

/** `flotilla init --import <backup-or-file> --passphrase-file F`: a new admin device from a backup. */
export async function importInitCommand(ctx: CommandContext, options: BackupOptions): Promise<number> {
  const source = options.importFrom?.trim();
  if (!source)
    throw new FlotillaError(
      'usage',
      'flotilla init --import needs a backup (its text or a file), as in: flotilla init --import backup.txt --passphrase-file FILE [--name N] [--signal URL]',
    );
  const dir = homeDir();
  if (existsSync(join(dir, 'device.json')) && !ctx.flags.force) {
    throw new FlotillaError('bad-config', `${dir} already holds a device; pass --force to replace it (this forgets the fleet key held there!)`);
  }
  let text = source;
  if (!source.startsWith(BACKUP_PREFIX)) {
    try {
      text = (await readFile(source, 'utf8')).trim();
    } catch (error) {
      throw new FlotillaError(
        'bad-config',
        `"${source.slice(0, 40)}" is neither a backup (${BACKUP_PREFIX}…) nor a readable file: ${(error as Error).message}`,
      );
    }
  }
  const passphrase = await readPassphrase(options.passphraseFile);
  const imported = await importFleetBackup(text, passphrase, true);
  const signal = ctx.flags.signal ?? imported.signal;
  if (!/^https?:\/\//.test(signal))
    throw new FlotillaError('usage', 'the signaling URL must start with http:// or https://, as in --signal http://127.0.0.1:9000/');
  const device = await deviceFromFleetKeys(imported.fleetKeys, imported.fleetPub, ctx.flags.name ?? `cli@${hostname()}`, true);
  await saveDevice(dir, device, signal.endsWith('/') ? signal : signal + '/');
  ctx.out(
    ctx.flags.json
      ? JSON.stringify({ fleet: device.fleetId, device: device.id, home: dir })
      : `Imported fleet ${device.fleetId}\nThis device: ${device.id} (admin, holds the fleet key)\nStored in ${dir}\nNext: flotilla hosts`,
  );
  return 0;
}
