// A store double speaking the signaling server's store API through an HttpFetch, for unit
// tests of the readers and writers. It is the hostile party of those tests: `tamper` lets a test
// rewrite what it serves. Credentials are not checked here (the real server's tests do that).

import type { HttpFetch } from '../controller/signal-api.ts';
import type { StoredRecord } from './envelope.ts';

export interface TestStore {
  http: HttpFetch;
  records: Map<string, StoredRecord>;
  /** Rewrites the records a list returns (a hostile server). */
  tamper?: (record: StoredRecord) => StoredRecord;
  /** Who is asking: a test sets it before a reader's call, to filter recipients as the server does. */
  puts: number;
  /** Serves `record` again as the newest write (a replay). */
  replay(record: StoredRecord): void;
}

export function createTestStore(): TestStore {
  let seq = 0;
  const highWater = new Map<string, number>();
  const store: TestStore = {
    records: new Map(),
    puts: 0,
    replay: (record) => void store.records.set(record.rid, { ...record, seq: ++seq }),
    http: async (url, init) => {
      const u = new URL(url);
      const answer = (status: number, body: unknown) => ({ status, ok: status < 400, json: async () => body });
      const put = /^\/api\/store\/([a-z2-7]{52})\/([^/]+)$/.exec(u.pathname);
      if (init.method === 'PUT' && put) {
        const rid = decodeURIComponent(put[2] ?? '');
        const body = JSON.parse(init.body ?? '{}') as Omit<StoredRecord, 'rid'>;
        const have = highWater.get(rid) ?? 0;
        if (body.version <= have) return answer(409, { error: { code: 'conflict', message: `stored version is ${have}` } });
        highWater.set(rid, body.version);
        const record: StoredRecord = { ...body, rid, seq: ++seq, by: 'a'.repeat(52), size: body.body.length, at: Date.now() };
        store.records.set(rid, record);
        store.puts++;
        return answer(200, { seq: record.seq, version: record.version, at: record.at });
      }
      const list = /^\/api\/store\/([a-z2-7]{52})$/.exec(u.pathname);
      if (list) {
        const since = Number(u.searchParams.get('since') ?? 0);
        const limit = Number(u.searchParams.get('limit') ?? 500);
        const all = [...store.records.values()].filter((r) => (r.seq ?? 0) > since).sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
        const page = all.slice(0, limit).map((r) => (store.tamper ? store.tamper(r) : r));
        return answer(200, { records: page, next: page.at(-1)?.seq ?? since, more: all.length > limit });
      }
      return answer(404, { error: { code: 'no-match', message: 'no route' } });
    },
  };
  return store;
}
