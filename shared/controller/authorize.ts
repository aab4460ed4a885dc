// Which role may send which request: each capability's spec names the least role; cancel needs
// an operator. The agent enforces this itself on every request; the controller only uses it
// to grey out what would be refused.

import type { Role } from '../identity/certs.ts';
import type { RequestType } from '../wire/protocol.ts';
import { roleAllowsRequest } from '../../capabilities/index.ts';

/**
 * True when `role` may send a request of `type`; given the request itself, exactly that one
 * (some capabilities let a viewer read and an operator change).
 */
export function roleAllows(role: Role, type: RequestType, request?: object): boolean {
  if (type === 'cancel') return role !== 'viewer';
  return roleAllowsRequest(role, type, request);
}
