// Node only (agent and CLI): plugs node:crypto's SHA-256 into shared/sha256-stream.ts, which
// file checksums use; imported for its effect by the modules that hash files.

import { createHash } from 'node:crypto';
import { useNativeSha256 } from '../../shared/sha256-stream.ts';

useNativeSha256(() => {
  const hash = createHash('sha256');
  return {
    update: (bytes) => void hash.update(bytes),
    hex: () => hash.digest('hex'),
  };
});
