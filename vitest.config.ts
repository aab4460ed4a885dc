import { defineConfig } from 'vitest/config';

// Two tiers: fast unit tests beside the sources, and integration tests in e2e/ that start
// real processes (signaling server, agents, CLI) and must run inside a private network namespace.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['shared/**/*.test.ts', 'agent/**/*.test.ts', 'cli/**/*.test.ts', 'signaling/**/*.test.ts'],
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
    ],
  },
});
