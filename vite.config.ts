// Builds the PWA (web/) into dist/web, which the signaling server serves at /.
import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { VitePWA } from 'vite-plugin-pwa';

export default defineConfig({
  root: '.',
  publicDir: 'web/public',
  build: { outDir: 'dist/web', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 800 },
  plugins: [
    svelte(),
    VitePWA({
      registerType: 'prompt',
      injectRegister: false,
      includeAssets: ['icons/icon.svg'],
      manifest: {
        name: 'Flotilla',
        short_name: 'Flotilla',
        description: 'Fleet control from the browser over end-to-end encrypted WebRTC.',
        theme_color: '#0f4c81',
        background_color: '#0b1220',
        display: 'standalone',
        start_url: '/',
        scope: '/',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        navigateFallback: '/index.html',
        // The signaling server's own routes are never the app shell.
        navigateFallbackDenylist: [/^\/api\//, /^\/peerjs/, /^\/agent\//, /^\/healthz/],
        cleanupOutdatedCaches: true,
        // Web Push: alerts shown as system notifications, also with no page open (web/public/push-sw.js).
        importScripts: ['push-sw.js'],
      },
    }),
  ],
});
