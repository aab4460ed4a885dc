// Entry of the Flotilla PWA: mounts the app, registers the service worker, opens storage.
import { mount } from 'svelte';
import App from './App.svelte';
import { app } from './lib/state/app.svelte.ts';
import { pwa } from './lib/state/pwa.svelte.ts';
import './app.css';

mount(App, { target: document.getElementById('app')! });
pwa.register();
await app.boot();
// History and keys live only here: ask the browser not to evict them under storage pressure.
if (app.phase === 'ready') await pwa.persist();
