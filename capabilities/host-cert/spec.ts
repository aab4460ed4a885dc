// host-cert: an admin accepts the agent into the fleet by handing it a fleet-signed certificate.
import { defineCapability } from '../spec.ts';
import { bool, obj } from '../../shared/wire/validate.ts';

export const spec = defineCapability({
  name: 'host-cert',
  doc: 'accept the host: hand it a fleet-signed host certificate for its own keys',
  request: { type: 'host.cert', parse: (o) => ({ cert: obj(o['cert'], 'cert') }) },
  result: (d) => ({ accepted: bool(d, 'accepted') }),
  role: 'admin',
});
