// Web Push in the service worker (imported by the generated sw.js): a message from an agent's
// alert (encrypted for this subscription by the sender, decrypted by the browser) becomes a
// system notification, also while no Flotilla page is open; a click opens or focuses the app at
// the page the message names. Open pages are told, so their alert list and badge update at once.
/* eslint-env serviceworker */
'use strict';

/** The fields a notification takes from a message, bounded; anything else is ignored. */
function readMessage(data) {
  let m = {};
  try {
    m = data ? data.json() : {};
  } catch {
    m = { body: data ? data.text() : '' };
  }
  const text = (v, max) => (typeof v === 'string' ? v.slice(0, max) : undefined);
  const url = text(m.url, 512);
  return {
    title: text(m.title, 120) || 'Flotilla alert',
    body: text(m.body, 500) || '',
    tag: text(m.tag, 128),
    // Only a page of this app (a hash route), never another site.
    url: url && url.startsWith('#/') ? url : '#/',
    severity: text(m.severity, 16),
    state: text(m.state, 16),
    at: typeof m.at === 'number' ? m.at : Date.now(),
  };
}

self.addEventListener('push', (event) => {
  const m = readMessage(event.data);
  event.waitUntil(
    (async () => {
      await self.registration.showNotification(m.title, {
        body: m.body,
        icon: '/icons/icon-192.png',
        badge: '/icons/icon-192.png',
        data: { url: m.url },
        ...(m.tag ? { tag: m.tag, renotify: true } : {}),
        requireInteraction: m.severity === 'critical' && m.state !== 'resolved',
      });
      const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const page of pages) page.postMessage({ type: 'flotilla-push', message: m });
    })(),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL('/' + ((event.notification.data && event.notification.data.url) || '#/'), self.location.origin).href;
  event.waitUntil(
    (async () => {
      const pages = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      for (const page of pages) {
        if (new URL(page.url).origin !== self.location.origin) continue;
        await page.focus();
        if ('navigate' in page) await page.navigate(url).catch(() => undefined);
        return;
      }
      await self.clients.openWindow(url);
    })(),
  );
});
