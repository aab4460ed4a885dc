// Installability and storage: the service worker (precached app shell, an update prompt when a
// new version is deployed), persistent storage, and how much of it Flotilla uses.

import { registerSW } from 'virtual:pwa-register';
import { handleError } from './toasts.svelte.ts';

class Pwa {
  /** A new version is waiting; the prompt offers to reload into it. */
  needRefresh = $state(false);
  offlineReady = $state(false);
  registered = $state(false);
  persisted = $state<boolean | undefined>(undefined);
  usage = $state<number | undefined>(undefined);
  quota = $state<number | undefined>(undefined);
  #update: ((reload?: boolean) => Promise<void>) | undefined;

  register(): void {
    if (!('serviceWorker' in navigator)) return;
    this.#update = registerSW({
      immediate: true,
      onNeedRefresh: () => (this.needRefresh = true),
      onOfflineReady: () => (this.offlineReady = true),
      onRegisteredSW: () => (this.registered = true),
      onRegisterError: (error: unknown) => handleError(error, 'Offline support could not be set up'),
    });
  }

  async update(): Promise<void> {
    this.needRefresh = false;
    await this.#update?.(true);
  }

  dismiss(): void {
    this.needRefresh = false;
  }

  /** Asks the browser to keep Flotilla's data (history, keys) under storage pressure. */
  async persist(): Promise<void> {
    if (!navigator.storage?.persist) return;
    try {
      this.persisted = (await navigator.storage.persisted()) || (await navigator.storage.persist());
    } catch (error) {
      handleError(error, 'Persistent storage could not be requested');
    }
    await this.measure();
  }

  async measure(): Promise<void> {
    if (!navigator.storage?.estimate) return;
    const estimate = await navigator.storage.estimate();
    this.usage = estimate.usage;
    this.quota = estimate.quota;
  }
}

export const pwa = new Pwa();
