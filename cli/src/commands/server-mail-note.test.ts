// The note `flotilla alerts save` prints for `via: server` mail channels, asked of a real
// signaling server with mail off and on.

import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelDoc } from '../../../shared/alerts/documents.ts';
import { cleanUp, start } from '../../../signaling/src/test-support.ts';
import { serverMailNote } from './server-mail-note.ts';

const viaServer: ChannelDoc = { type: 'channel', name: 'oncall', kind: 'email', email: { via: 'server', to: ['a@example.org'] }, deleted: false, at: 1 };
const hook: ChannelDoc = {
  type: 'channel',
  name: 'hook',
  kind: 'webhook',
  webhook: { url: 'https://h.example.org/x', format: 'generic' },
  deleted: false,
  at: 1,
};

afterEach(cleanUp);

describe('serverMailNote', () => {
  it('says why a server without mail will not send the channel', async () => {
    const { server } = await start();
    expect(await serverMailNote(server.url, [viaServer, hook])).toBe(
      'Note: this signaling server sends no mail (its operator has not set --smtp); channel oncall will fail until it is turned on (docs/alerts.md, "Mail from the server").',
    );
    expect(await serverMailNote(server.url, [hook])).toBeUndefined();
  });

  it('says nothing when the server sends mail', async () => {
    const { server } = await start({ mail: { smtp: { host: '127.0.0.1', port: 25, secure: false }, from: 'f@example.org', allow: ['example.org'] } });
    expect(await serverMailNote(server.url, [viaServer])).toBeUndefined();
  });
});
