import { defineConfig } from 'vitest/config';

// Tiers: fast unit tests beside the sources, and integration tests in e2e/ that start
// real processes (signaling server, agents, CLI) and must run inside a private network namespace,
// and NAT tests in e2e/nat/ that build their own namespaces.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'capabilities/**/*.test.ts',
            'node/**/*.test.ts',
            'shared/**/*.test.ts',
            'agent/**/*.test.ts',
            'cli/**/*.test.ts',
            'signaling/**/*.test.ts',
            'web/src/lib/**/*.test.ts',
          ],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['e2e/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        // Real Linux NAT: network namespaces, iptables and coturn made by the tests themselves
        // (root only; elsewhere they report themselves skipped). See e2e/nat/topology.ts.
        test: {
          name: 'nat',
          include: ['e2e/nat/**/*.test.ts'],
          testTimeout: 240_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
