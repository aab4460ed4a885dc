// Hash routing: #/hosts, #/hosts/<host id>, #/run?sel=…, #/history/<task id>, #/jobs/<job name>, #/terminal/<host id>,
// #/terminal?sel=… (broadcast). Hash URLs need no server rules and
// work offline from the service worker's single cached page.

export type Page = 'dashboard' | 'hosts' | 'run' | 'jobs' | 'alerts' | 'history' | 'settings' | 'terminal';

const PAGES: readonly Page[] = ['dashboard', 'hosts', 'run', 'jobs', 'alerts', 'history', 'settings', 'terminal'];

export interface Route {
  page: Page;
  /** The path segment after the page, e.g. a task id. */
  id: string | undefined;
  params: URLSearchParams;
}

/** Parses a location hash into a route; anything unknown is the dashboard. */
export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?', 2);
  const [first = '', second] = path.split('/');
  const page = (PAGES as readonly string[]).includes(first) ? (first as Page) : 'dashboard';
  return { page, id: second ? decodeURIComponent(second) : undefined, params: new URLSearchParams(query) };
}

class Router {
  route = $state<Route>(parseRoute(location.hash));

  constructor() {
    addEventListener('hashchange', () => (this.route = parseRoute(location.hash)));
  }

  go(path: string): void {
    location.hash = path.startsWith('#') ? path : `#/${path.replace(/^\//, '')}`;
  }
}

export const router = new Router();

/** An href for a page. */
export function href(path: string): string {
  return `#/${path.replace(/^\//, '')}`;
}
