// host.cert: an admin accepts this agent into the fleet by handing it a fleet-signed host
// certificate for its own keys; the one-time join secret is dropped.
import { FlotillaError } from '../../shared/wire/errors.ts';
import { verifyHostCert } from '../../shared/identity/certs.ts';
import type { Handler } from '../../agent/src/task-context.ts';
import type { spec } from './spec.ts';

export const handler: Handler<typeof spec> = async (request, ctx) => {
  const enrollment = ctx.state.enrollment;
  if (!enrollment) throw new FlotillaError('bad-config', 'this agent is not enrolled');
  const fleetPub = ctx.session.peer.fleetPub;
  if (!fleetPub) throw new FlotillaError('not-in-fleet', 'no fleet key in the handshake');
  const body = await verifyHostCert(request.cert, fleetPub, enrollment.fleet, ctx.state.identity.pub);
  if (body.id !== ctx.state.identity.id) throw new FlotillaError('key-mismatch', 'host certificate names another id');
  const { join: _join, ...rest } = enrollment;
  await ctx.state.saveEnrollment({ ...rest, hostCert: { body, sig: String(request.cert['sig']) } });
  return { status: 'ok', data: { accepted: true } };
};
