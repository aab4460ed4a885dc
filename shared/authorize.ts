// Which role may send which request. The agent enforces this itself on every request;
// the controller only uses it to grey out what would be refused.

import type { Role } from './certs.ts';
import type { RequestType } from './protocol.ts';

const VIEWER: readonly RequestType[] = ['ping', 'facts', 'journal', 'audit'];
const OPERATOR: readonly RequestType[] = [...VIEWER, 'exec', 'cancel', 'push.begin', 'fetch', 'tags.set'];
const ADMIN: readonly RequestType[] = [...OPERATOR, 'host.cert'];

const ALLOWED: Record<Role, ReadonlySet<RequestType>> = {
  viewer: new Set(VIEWER),
  operator: new Set(OPERATOR),
  admin: new Set(ADMIN),
};

/** True when `role` may send a request of `type`. */
export function roleAllows(role: Role, type: RequestType): boolean {
  return ALLOWED[role].has(type);
}
