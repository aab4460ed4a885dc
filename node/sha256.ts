// Node only (agent and CLI): node:crypto's SHA-256 for shared/wire/sha256-stream.ts, which file
// checksums use; installed by useNodeCrypto (node/platform.ts) at each process's start.

import { createHash } from 'node:crypto';
import type { Sha256Stream } from '../shared/wire/sha256-stream.ts';

/** A streaming SHA-256 from node:crypto. */
export function nodeSha256(): Sha256Stream {
  const hash = createHash('sha256');
  return {
    update: (bytes) => void hash.update(bytes),
    hex: () => hash.digest('hex'),
  };
}
