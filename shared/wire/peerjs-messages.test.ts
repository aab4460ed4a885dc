import { describe, expect, it } from 'vitest';
import { MAX_SDP_LENGTH, parsePeerjsServerMessage } from './peerjs-messages.ts';

const offer = {
  type: 'OFFER',
  src: 'browser-1',
  dst: 'agent-1',
  payload: {
    sdp: { type: 'offer', sdp: 'v=0\r\n' },
    type: 'data',
    connectionId: 'dc_abc',
    label: 'dc_abc',
    reliable: true,
    serialization: 'raw',
    metadata: { any: ['thing'] },
  },
};

const candidate = {
  type: 'CANDIDATE',
  src: 'browser-1',
  payload: {
    candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'u' },
    type: 'data',
    connectionId: 'dc_abc',
  },
};

function reason(raw: unknown): string | undefined {
  let why: string | undefined;
  expect(parsePeerjsServerMessage(raw, (r) => (why = r))).toBeNull();
  return why;
}

describe('parsePeerjsServerMessage', () => {
  it('reads the control messages', () => {
    expect(parsePeerjsServerMessage('{"type":"OPEN"}')).toEqual({ type: 'OPEN' });
    expect(parsePeerjsServerMessage({ type: 'HEARTBEAT' })).toEqual({ type: 'HEARTBEAT' });
    expect(parsePeerjsServerMessage({ type: 'ID-TAKEN', payload: { msg: 'ID is taken' } })).toEqual({
      type: 'ID-TAKEN',
      payload: { msg: 'ID is taken' },
    });
    expect(parsePeerjsServerMessage({ type: 'ERROR' })).toEqual({ type: 'ERROR', payload: { msg: '' } });
    expect(parsePeerjsServerMessage({ type: 'LEAVE', src: 'x', dst: 'y' })).toEqual({ type: 'LEAVE', src: 'x' });
    expect(parsePeerjsServerMessage({ type: 'EXPIRE', src: 'x' })).toEqual({ type: 'EXPIRE', src: 'x' });
  });

  it('reads an OFFER as peerjs 1.5.5 sends it, from text or parsed JSON', () => {
    const expected = {
      type: 'OFFER',
      src: 'browser-1',
      payload: { ...offer.payload },
    };
    expect(parsePeerjsServerMessage(offer)).toEqual(expected);
    expect(parsePeerjsServerMessage(JSON.stringify(offer))).toEqual(expected);
  });

  it('fills optional OFFER fields peerjs may leave out', () => {
    const bare = { ...offer, payload: { sdp: offer.payload.sdp, type: 'data', connectionId: 'c' } };
    expect(parsePeerjsServerMessage(bare)).toEqual({
      type: 'OFFER',
      src: 'browser-1',
      payload: {
        sdp: offer.payload.sdp,
        type: 'data',
        connectionId: 'c',
        label: undefined,
        reliable: undefined,
        serialization: undefined,
        metadata: undefined,
      },
    });
  });

  it('reads ANSWER and CANDIDATE, normalising missing candidate fields to null', () => {
    const answer = { type: 'ANSWER', src: 'a', payload: { sdp: { type: 'answer', sdp: 'v=0' }, type: 'data', connectionId: 'c' } };
    expect(parsePeerjsServerMessage(answer)).toEqual(answer);
    expect(parsePeerjsServerMessage(candidate)).toEqual(candidate);
    const sparse = { ...candidate, payload: { ...candidate.payload, candidate: { candidate: 'candidate:x', sdpMid: null } } };
    expect(parsePeerjsServerMessage(sparse)).toEqual({
      ...sparse,
      payload: { ...sparse.payload, candidate: { candidate: 'candidate:x', sdpMid: null, sdpMLineIndex: null, usernameFragment: null } },
    });
  });

  it('rejects what is not a message', () => {
    expect(reason('{not json')).toBe('not JSON');
    expect(reason('x'.repeat(200_000))).toMatch(/longer than/);
    expect(reason(null)).toMatch(/expected an object/);
    expect(reason([{ type: 'OPEN' }])).toMatch(/expected an object/);
    expect(reason({ type: 'open' })).toBe('unknown type');
    expect(reason({ type: 'GOSSIP' })).toBe('unknown type');
    expect(reason({})).toBe('unknown type');
  });

  it('rejects relayed messages without a sender', () => {
    expect(reason({ ...offer, src: undefined })).toMatch(/^src/);
    expect(reason({ ...offer, src: '' })).toMatch(/^src/);
    expect(reason({ type: 'LEAVE' })).toMatch(/^src/);
    expect(reason({ ...offer, src: 'x'.repeat(300) })).toMatch(/^src/);
  });

  it('rejects ill-shaped OFFER payloads', () => {
    const withPayload = (payload: unknown): unknown => ({ ...offer, payload });
    expect(reason(withPayload('sdp'))).toMatch(/payload/);
    expect(reason(withPayload({ ...offer.payload, sdp: 'v=0' }))).toMatch(/^sdp/);
    expect(reason(withPayload({ ...offer.payload, sdp: { type: 'answer', sdp: 'v=0' } }))).toMatch(/sdp.type/);
    expect(reason(withPayload({ ...offer.payload, sdp: { type: 'offer', sdp: '' } }))).toMatch(/^sdp/);
    expect(reason(withPayload({ ...offer.payload, sdp: { type: 'offer', sdp: 'x'.repeat(MAX_SDP_LENGTH + 1) } }))).toMatch(/longer/);
    expect(reason(withPayload({ ...offer.payload, type: 'video' }))).toMatch(/payload.type/);
    expect(reason(withPayload({ ...offer.payload, connectionId: 7 }))).toMatch(/connectionId/);
    expect(reason(withPayload({ ...offer.payload, connectionId: '' }))).toMatch(/connectionId/);
    expect(reason(withPayload({ ...offer.payload, reliable: 'yes' }))).toMatch(/reliable/);
    expect(reason(withPayload({ ...offer.payload, label: {} }))).toMatch(/label/);
  });

  it('accepts an SDP at the size limit', () => {
    const big = { ...offer, payload: { ...offer.payload, sdp: { type: 'offer', sdp: 'x'.repeat(MAX_SDP_LENGTH) } } };
    expect(parsePeerjsServerMessage(big)).not.toBeNull();
  });

  it('rejects ill-shaped CANDIDATE payloads', () => {
    const withCandidate = (c: unknown): unknown => ({ ...candidate, payload: { ...candidate.payload, candidate: c } });
    expect(reason(withCandidate('candidate:1'))).toMatch(/candidate/);
    expect(reason(withCandidate({ sdpMid: '0' }))).toMatch(/candidate/);
    expect(reason(withCandidate({ ...candidate.payload.candidate, sdpMLineIndex: -1 }))).toMatch(/sdpMLineIndex/);
    expect(reason(withCandidate({ ...candidate.payload.candidate, sdpMLineIndex: 0.5 }))).toMatch(/sdpMLineIndex/);
    expect(reason(withCandidate({ ...candidate.payload.candidate, sdpMid: 0 }))).toMatch(/sdpMid/);
    expect(reason(withCandidate({ ...candidate.payload.candidate, candidate: 'c'.repeat(5000) }))).toMatch(/longer/);
    expect(reason({ ...candidate, payload: { ...candidate.payload, connectionId: undefined } })).toMatch(/connectionId/);
  });

  it('rejects an ERROR whose payload is not {msg}', () => {
    expect(reason({ type: 'ERROR', payload: 'Invalid key' })).toMatch(/payload/);
    expect(reason({ type: 'ERROR', payload: { msg: 5 } })).toMatch(/msg/);
  });

  it('reads STORE {fleet, seq} and rejects it malformed', () => {
    const fleet = 'a'.repeat(52);
    expect(parsePeerjsServerMessage({ type: 'STORE', payload: { fleet, seq: 1764761380000001 } })).toEqual({
      type: 'STORE',
      payload: { fleet, seq: 1764761380000001 },
    });
    expect(reason({ type: 'STORE', payload: { fleet, seq: -1 } })).toMatch(/seq/);
    expect(reason({ type: 'STORE', payload: { fleet, seq: '5' } })).toMatch(/seq/);
    expect(reason({ type: 'STORE', payload: { fleet: 'short', seq: 5 } })).toMatch(/fleet/);
    expect(reason({ type: 'STORE' })).toMatch(/payload/);
  });
});
