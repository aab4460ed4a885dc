// The real stack for browser tests: a signaling server serving the built PWA, agents as child
// processes, and Debian's Chromium through playwright-core with a fresh profile. Everything a
// test starts is cleaned up by `stop()`, also when the test failed.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, killAll, procOf, removeDir, startProc, startSignal, tempDir, type Proc } from '../harness.ts';
import type { Permission, Role } from '../../shared/identity/certs.ts';
import { exportIdentity, importSigningKeys } from '../../shared/identity/crypto.ts';
import { addDevice, type DeviceIdentity } from '../../shared/identity/fleet.ts';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
export const SCREENS = join(ROOT, 'test-results', 'screens');

/** The flags every test browser is launched with (README: no sandbox, no GPU, nothing off the machine). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** One test file's stack. */
export interface Stack {
  url: string;
  signal: Proc & { url: string; port: number };
  context: BrowserContext;
  page: Page;
  agents: (Proc & { id: string })[];
  /**
   * Starts an agent that joins with `token`; `name` becomes its $HOSTNAME and, as root, its
   * hostname (its own UTS namespace). With `mounts` (root only), the agent runs in its own mount
   * namespace with each `source` bind-mounted on `target`: agents on one machine then see
   * different files at the same path, as separate hosts would.
   */
  startAgent(token: string, name: string, flags?: string[], mounts?: Mount[]): Promise<Proc & { id: string }>;
  /** Opens another browser on its own fresh profile (another device); stop() closes it. */
  newBrowser(): Promise<Page>;
  /** Logs of every process, for a failing test's message. */
  logs(): string;
  stop(): Promise<void>;
}

/** A bind mount for an agent's private view of the file system. */
export interface Mount {
  source: string;
  target: string;
}

/**
 * `node bin/flotilla-agent.js args…` under `unshare -u` with `hostname` set to `name` (its facts
 * then name it as a separate machine would), and with `mounts`, also `-m` with the bind mounts
 * made first. Root only.
 */
function startAgentIsolated(args: string[], env: Record<string, string>, name: string, mounts: Mount[]): Proc {
  const script = [`hostname "$1"`, ...mounts.map((_, i) => `mount --bind "$${2 * i + 2}" "$${2 * i + 3}"`), `shift ${1 + 2 * mounts.length}`, 'exec "$@"'].join(
    ' && ',
  );
  const child = spawn(
    'unshare',
    [
      ...(mounts.length ? ['-m'] : []),
      '-u',
      'sh',
      '-c',
      script,
      'sh',
      name,
      ...mounts.flatMap((m) => [m.source, m.target]),
      process.execPath,
      join(ROOT, 'bin/flotilla-agent.js'),
      ...args,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return procOf(child, `output of flotilla-agent ${name}`);
}

/** Starts the signaling server (serving dist/web) and a browser on a fresh profile. */
export async function startStack(options: { browserArgs?: string[] } = {}): Promise<Stack> {
  if (!existsSync(join(ROOT, 'dist/web/index.html'))) throw new Error('dist/web is missing: run `npm run build:web` first');
  const dirs: string[] = [];
  const made = async (prefix: string) => {
    const dir = await tempDir(prefix);
    dirs.push(dir);
    return dir;
  };
  const signal = await startSignal(await made('signal'));
  const launch = async () =>
    chromium.launchPersistentContext(await made('chromium'), {
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, ...(options.browserArgs ?? [])],
      viewport: { width: 1280, height: 800 },
      serviceWorkers: 'allow',
    });
  const others: BrowserContext[] = [];
  let context: BrowserContext;
  try {
    context = await launch();
  } catch (error) {
    await signal.stop();
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const browserLog: string[] = [];
  page.on('console', (m) => browserLog.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => browserLog.push(`[pageerror] ${e.message}`));
  const agents: (Proc & { id: string })[] = [];

  return {
    url: signal.url,
    signal,
    context,
    page,
    agents,
    async startAgent(token, name, flags = [], mounts = []) {
      const args = ['join', token, '--state-dir', await made('agent'), ...flags];
      const env = { HOSTNAME: name, FLOTILLA_LOG_LEVEL: process.env['FLOTILLA_LOG_LEVEL'] ?? 'info' };
      // As root (always in CI), each agent gets its own hostname; otherwise it has the machine's.
      const proc = process.getuid?.() === 0 ? startAgentIsolated(args, env, name, mounts) : startProc('flotilla-agent', args, env);
      let match: RegExpMatchArray;
      try {
        match = await proc.waitFor(/Enrolled as ([a-z2-7]{52})/);
        await proc.waitFor(/"event":"signaling-open"/);
      } catch (error) {
        await proc.stop();
        throw error;
      }
      const agent = Object.assign(proc, { id: match[1]! });
      agents.push(agent);
      return agent;
    },
    async newBrowser() {
      const other = await launch();
      others.push(other);
      const page = other.pages()[0] ?? (await other.newPage());
      page.on('console', (m) => browserLog.push(`[other ${others.length}] [${m.type()}] ${m.text()}`));
      return page;
    },
    logs() {
      const tail = (text: string) => text.split('\n').slice(-40).join('\n');
      return [
        `--- browser\n${tail(browserLog.join('\n'))}`,
        `--- signal\n${tail(signal.output())}`,
        ...agents.map((a) => `--- agent ${a.id.slice(0, 8)}\n${tail(a.output())}`),
      ].join('\n');
    },
    async stop() {
      await Promise.all([context, ...others].map((c) => c.close().catch(() => undefined)));
      await Promise.all(agents.map((a) => a.stop()));
      await signal.stop();
      await killAll();
      await Promise.all(dirs.map((d) => removeDir(d)));
    },
  };
}

/** Saves a screenshot under test-results/screens/: what the viewport shows, or the whole page. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  await mkdir(SCREENS, { recursive: true });
  await page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage });
}

/** Creates the fleet through the first-run screen and waits for the dashboard. */
export async function createFleetInUi(page: Page, url: string, deviceName = 'e2e browser'): Promise<void> {
  await page.goto(url);
  await page.getByLabel('Name this device').fill(deviceName);
  await page.getByRole('button', { name: 'Create fleet' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
}

/** Makes a join token on the Hosts page and returns it (from the install command shown). */
export async function makeTokenInUi(page: Page, uses = 1): Promise<{ token: string; install: string }> {
  await page.locator('[data-nav="hosts"]').click();
  await page.getByTestId('token-uses').selectOption(String(uses));
  const shown = page.getByTestId('install-command');
  const before = (await shown.count()) ? await shown.getAttribute('data-token-id') : null;
  await page.getByTestId('add-host').click();
  // The new token's command, not the one shown before the click.
  const made = page.locator(`[data-testid="install-command"]${before ? `:not([data-token-id="${before}"])` : ''}`);
  await made.waitFor();
  const install = (await made.textContent()) ?? '';
  const token = /join (flt1\.\S+)/.exec(install)?.[1];
  if (!token) throw new Error(`no token in the install command: ${install}`);
  return { token, install };
}

/**
 * Opens another browser whose device holds a certificate of this fleet with `role` (and `deny`
 * permissions), signed with the fleet key taken from the admin browser's storage (extractable
 * there, for backups). The page is left on the app with that identity stored: reload or
 * navigate to start the app as that device.
 */
export async function browserAs(stack: Stack, name: string, role: Role, deny?: Permission[]): Promise<Page> {
  const fleet = await stack.page.evaluate(async () => {
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open('flotilla');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const stored = await new Promise<{ device: { fleetId: string; fleetPub: string; fleetKeys: CryptoKeyPair } }>((resolve, reject) => {
      const get = db.transaction('identity').objectStore('identity').get('device');
      get.onsuccess = () => resolve(get.result);
      get.onerror = () => reject(get.error);
    });
    const { fleetId, fleetPub, fleetKeys } = stored.device;
    return { fleetId, fleetPub, priv: await crypto.subtle.exportKey('jwk', fleetKeys.privateKey) };
  });
  const fleetKeys = await importSigningKeys({ priv: fleet.priv, pub: fleet.fleetPub });
  const admin = { fleetId: fleet.fleetId, fleetPub: fleet.fleetPub, fleetKeys } as DeviceIdentity;
  const device = await addDevice(admin, name, role, deny ? { deny } : {});
  const keys = await exportIdentity(device.keys);
  const other = await stack.newBrowser();
  await other.goto(stack.url);
  await other.getByLabel('Name this device').waitFor();
  await other.evaluate(
    async ({ keys, device, signal }) => {
      const hashed = { hash: 'SHA-256' };
      const spki = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const [signPriv, signPub, encPriv, encPub] = await Promise.all([
        crypto.subtle.importKey('jwk', keys.signPriv, { name: 'RSA-PSS', ...hashed }, false, ['sign']),
        crypto.subtle.importKey('spki', spki(keys.signPub), { name: 'RSA-PSS', ...hashed }, true, ['verify']),
        crypto.subtle.importKey('jwk', keys.encPriv, { name: 'RSA-OAEP', ...hashed }, false, ['decrypt']),
        crypto.subtle.importKey('spki', spki(keys.encPub), { name: 'RSA-OAEP', ...hashed }, true, ['encrypt']),
      ]);
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = indexedDB.open('flotilla');
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const record = {
        device: { ...device, keys: { sign: { privateKey: signPriv, publicKey: signPub }, enc: { privateKey: encPriv, publicKey: encPub } } },
        signal,
        createdAt: Date.now(),
      };
      await new Promise<void>((resolve, reject) => {
        const tx = db.transaction('identity', 'readwrite');
        tx.objectStore('identity').put(record, 'device');
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
      });
    },
    {
      keys,
      device: { id: device.id, pub: device.pub, fleetId: device.fleetId, fleetPub: device.fleetPub, cert: device.cert },
      signal: stack.url.endsWith('/') ? stack.url : `${stack.url}/`,
    },
  );
  return other;
}

/**
 * Hands a push message to the page's service worker as a browser's push service would (Chromium
 * here has none): through CDP `ServiceWorker.deliverPushMessage`, to the registration of `scope`
 * once its worker is activated. A message handed to a worker still installing or activating (after
 * a reload or an update) can be dropped, so the registration is only taken once it is activated.
 */
export async function deliverPush(page: Page, scope: string, data: string): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const scopes = new Map<string, string>();
    const activated = new Set<string>();
    const registration = new Promise<string>((resolve) => {
      const check = () => {
        for (const [id, url] of scopes) if (url === scope && activated.has(id)) resolve(id);
      };
      cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: { registrationId: string; scopeURL: string; isDeleted: boolean }[] }) => {
        for (const r of e.registrations)
          if (r.isDeleted) scopes.delete(r.registrationId);
          else scopes.set(r.registrationId, r.scopeURL);
        check();
      });
      cdp.on('ServiceWorker.workerVersionUpdated', (e: { versions: { registrationId: string; status: string }[] }) => {
        for (const v of e.versions) if (v.status === 'activated') activated.add(v.registrationId);
        check();
      });
    });
    await cdp.send('ServiceWorker.enable');
    const registrationId = await registration;
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: scope.replace(/\/$/, ''), registrationId, data });
  } finally {
    await cdp.detach().catch(() => undefined);
  }
}
