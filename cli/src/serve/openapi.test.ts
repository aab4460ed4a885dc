import { describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { OPENAPI } from './openapi.ts';

describe('the OpenAPI document', () => {
  it('validates as OpenAPI 3.1 against the specification schema', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(OPENAPI) as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('a broken document does not validate (the check can fail)', async () => {
    const broken = structuredClone(OPENAPI) as unknown as { paths: Record<string, Record<string, unknown>> };
    // `in: body` is Swagger 2, not OpenAPI 3.
    broken.paths['/hosts']!['parameters'] = [{ name: 'x', in: 'body', schema: { type: 'string' } }];
    const result = await new Validator().validate(broken as unknown as Parameters<Validator['validate']>[0]);
    expect(result.valid).toBe(false);
  });

  it('describes every endpoint of the brief with its scope', () => {
    const ops = Object.entries(OPENAPI.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => k !== 'parameters')
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(ops.sort()).toEqual(
      [
        'GET /openapi.json',
        'GET /hosts',
        'POST /run',
        'GET /jobs',
        'POST /jobs',
        'GET /jobs/{name}',
        'DELETE /jobs/{name}',
        'POST /jobs/{name}/enable',
        'POST /jobs/{name}/disable',
        'POST /jobs/{name}/invoke',
        'GET /invocations/{id}',
        'GET /history',
        'GET /tokens',
        'DELETE /tokens/{name}',
      ].sort(),
    );
  });
});
