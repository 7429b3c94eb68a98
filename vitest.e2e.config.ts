// End-to-end tests: __tests__/e2e/** and __tests__/**/*.e2e.test.ts. They skip unless PCB_E2E=1 (set by .ci/run once dockerd,
// buildkitd and the registry are up). One file at a time: they share the Docker engine.
import { defineConfig } from 'vitest/config';

const junitDir = process.env.PCB_JUNIT_DIR;

export default defineConfig({
  test: {
    include: ['__tests__/e2e/**/*.test.ts', '__tests__/**/*.e2e.test.ts'],
    reporters: junitDir ? ['default', 'junit'] : ['default'],
    outputFile: junitDir ? { junit: `${junitDir}/vitest-e2e.xml` } : undefined,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
