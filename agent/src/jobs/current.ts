// The running agent's job manager, for the `jobs` capability's handler (capabilities/jobs/agent.ts),
// which gets a request's context but not the agent's managers. Set by startAgent.

import type { JobManager } from './manager.ts';

export interface JobsHandle {
  manager: JobManager;
  /** Reads the store once more and installs what it brought (an invoke of a job not installed yet). */
  refresh(): Promise<void>;
}

let current: JobsHandle | undefined;

export function setJobs(handle: JobsHandle | undefined): void {
  current = handle;
}

export function currentJobs(): JobsHandle | undefined {
  return current;
}
