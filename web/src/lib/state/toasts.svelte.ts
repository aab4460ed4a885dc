// One place errors reach the user: handleError logs the detail and shows one toast that says
// what to do next; success notes use the same toast.

import { FlotillaError, type ErrorCode } from '../../../../shared/wire/errors.ts';

export interface Toast {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

/** What the user can do about each kind of failure. */
const NEXT_STEP: Partial<Record<ErrorCode, string>> = {
  unreachable: 'Check that the host is online, then try again.',
  'signaling-failed': 'Check that the signaling server is running and reachable, then try again.',
  'bad-selector': 'Fix the selector: for example web-*, tag:role=web or os:linux.',
  'no-match': 'Change the selector or add hosts on the Hosts page.',
  'insecure-context': 'Open Flotilla over HTTPS or on localhost.',
  'cert-revoked': 'Ask an admin of the fleet for a new device certificate.',
  'cert-expired': 'Ask an admin of the fleet for a new device certificate.',
  'version-mismatch': 'Upgrade the older side.',
  forbidden: 'Ask an admin to do this.',
};

class Toasts {
  list = $state<Toast[]>([]);
  #next = 1;

  show(kind: Toast['kind'], text: string, ms = kind === 'error' ? 8000 : 3500): void {
    const toast = { id: this.#next++, kind, text };
    // One toast at a time: a burst of failures shows the newest only.
    this.list = [toast];
    setTimeout(() => this.dismiss(toast.id), ms);
  }

  dismiss(id: number): void {
    this.list = this.list.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();

/** The sentence for any error: Flotilla's own words, plus the next step when we know one. */
export function describeError(error: unknown): string {
  if (error instanceof FlotillaError) {
    const step = NEXT_STEP[error.code];
    return step ? `${error.message} ${step}` : error.message;
  }
  if (error instanceof DOMException && error.name === 'QuotaExceededError')
    return 'The browser has no storage left for Flotilla: free some space or delete old history in Settings.';
  return error instanceof Error ? error.message : String(error);
}

/** Logs `error` with context and shows one toast: `message` (what failed) and what to do. */
export function handleError(error: unknown, message: string): void {
  console.error(`[flotilla] ${message}`, error);
  toasts.show('error', `${message}: ${describeError(error)}`);
}

export function notify(text: string): void {
  toasts.show('info', text);
}
