// The Node implementations the isomorphic core takes in place of Web Crypto where Node's are
// faster (sealing records, hashing files). Each process's entry installs them once, explicitly:
// the agent (agent/src/agent.ts) and the CLI (cli/src/main.ts).

import { useNativeAesGcm } from '../shared/session/seal.ts';
import { useNativeSha256 } from '../shared/wire/sha256-stream.ts';
import { nodeAesGcm } from './aes-gcm.ts';
import { nodeSha256 } from './sha256.ts';

/** Installs node:crypto's AES-256-GCM for sealed records and SHA-256 for file checksums. */
export function useNodeCrypto(): void {
  useNativeAesGcm(nodeAesGcm);
  useNativeSha256(nodeSha256);
}
