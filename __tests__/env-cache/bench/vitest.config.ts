import { defineConfig } from 'vitest/config';

// Only for scripts/bench-env-cache.sh: runs the env-cache benchmark (not a test suite).
export default defineConfig({
  test: {
    include: ['__tests__/env-cache/bench/env-cache-bench.ts'],
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    reporters: ['default'],
  },
});
