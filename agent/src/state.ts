// The agent's persistent state: its identity (0600), enrollment (fleet pin, signaling URL,
// join secret, host certificate), the newest revocation list, and tags set remotely.

import { chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FlotillaError } from '../../shared/wire/errors.ts';
import { exportIdentity, importIdentity, type StoredIdentity } from '../../shared/identity/crypto.ts';
import { createIdentity, type Identity } from '../../shared/identity/fleet.ts';
import { identityId } from '../../shared/identity/crypto.ts';
import { parseHostCert, parseRevocationList, type HostCert, type RevocationList } from '../../shared/identity/certs.ts';
import { isObj, obj, optStr, str, strMap } from '../../shared/wire/validate.ts';
import { expectDirectory, readJson, writeJsonAtomic } from '../../node/files.ts';

/** What joining a fleet leaves behind. */
export interface Enrollment {
  fleet: string;
  signal: string;
  join?: { tid: string; secret: string };
  hostCert?: HostCert;
  /** The fleet public key, learned from the first valid device (its fingerprint is `fleet`). */
  fleetPub?: string;
}

/** The agent's state directory. */
export interface AgentState {
  readonly dir: string;
  identity: Identity;
  enrollment: Enrollment | undefined;
  revocation: RevocationList | undefined;
  remoteTags: Record<string, string>;
  saveEnrollment(enrollment: Enrollment): Promise<void>;
  saveRevocation(list: RevocationList): Promise<void>;
  saveRemoteTags(tags: Record<string, string>): Promise<void>;
}

function parseEnrollment(raw: unknown): Enrollment {
  const o = obj(raw, 'enrollment');
  const tid = isObj(o['join']) ? optStr(o['join'], 'tid') : undefined;
  const secret = isObj(o['join']) ? optStr(o['join'], 'secret') : undefined;
  return {
    fleet: str(o, 'fleet', 52, 52),
    signal: str(o, 'signal', 512, 1),
    ...(tid && secret ? { join: { tid, secret } } : {}),
    ...(o['hostCert'] === undefined ? {} : { hostCert: parseHostCert(o['hostCert']) }),
    ...(typeof o['fleetPub'] === 'string' ? { fleetPub: o['fleetPub'] } : {}),
  };
}

/** Opens (creating if needed) the state directory and the agent's identity. */
export async function openState(dir: string): Promise<AgentState> {
  await expectDirectory(dir, "the agent's state directory");
  await chmod(dir, 0o700);
  const identityPath = join(dir, 'identity.json');
  const enrollmentPath = join(dir, 'enrollment.json');
  let identity: Identity;
  const stored = await readJson(identityPath, "the agent's identity");
  if (stored === undefined) {
    // Enrolled before, so it had an identity: a new one would be a new host to the fleet,
    // silently. Say what is missing instead.
    if (existsSync(enrollmentPath)) {
      throw new FlotillaError(
        'bad-config',
        `${identityPath} is missing, but this agent is enrolled (${enrollmentPath}): restore identity.json from a backup to keep its id, or remove enrollment.json and join again with a new token to enroll as a new host`,
      );
    }
    identity = await createIdentity(true);
    await writeJsonAtomic(identityPath, await exportIdentity(identity.keys), 0o600);
  } else {
    if (!isObj(stored)) throw new FlotillaError('bad-config', `${identityPath} is not an identity`);
    try {
      const keys = await importIdentity(stored as unknown as StoredIdentity);
      const pub = { signPub: str(stored, 'signPub', 1200), encPub: str(stored, 'encPub', 1200) };
      identity = { keys, pub, id: await identityId(pub) };
    } catch (error) {
      throw new FlotillaError('bad-config', `${identityPath} does not hold valid keys (${(error as Error).message.slice(0, 200)}): restore it from a backup`);
    }
  }
  const revocationPath = join(dir, 'revocation.json');
  const tagsPath = join(dir, 'tags.json');
  const rawEnrollment = await readJson(enrollmentPath);
  const rawRevocation = await readJson(revocationPath);
  const rawTags = await readJson(tagsPath);
  const state: AgentState = {
    dir,
    identity,
    enrollment: rawEnrollment === undefined ? undefined : parseEnrollment(rawEnrollment),
    revocation: rawRevocation === undefined ? undefined : parseRevocationList(rawRevocation),
    remoteTags: rawTags === undefined ? {} : strMap({ tags: rawTags }, 'tags'),
    async saveEnrollment(enrollment) {
      await writeJsonAtomic(enrollmentPath, enrollment);
      state.enrollment = enrollment;
    },
    async saveRevocation(list) {
      await writeJsonAtomic(revocationPath, list);
      state.revocation = list;
    },
    async saveRemoteTags(tags) {
      await writeJsonAtomic(tagsPath, tags);
      state.remoteTags = tags;
    },
  };
  return state;
}
