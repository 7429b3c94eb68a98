// Unit tests: __tests__/**/*.test.ts except the end-to-end suites (__tests__/e2e/, *.e2e.test.ts). With PCB_JUNIT_DIR set, a junit
// XML report is written there as well (the CI counts tests from it).
import { defineConfig } from 'vitest/config';

const junitDir = process.env.PCB_JUNIT_DIR;

export default defineConfig({
  test: {
    include: ['__tests__/**/*.test.ts'],
    exclude: ['__tests__/e2e/**', '__tests__/**/*.e2e.test.ts', 'node_modules/**'],
    reporters: junitDir ? ['default', 'junit'] : ['default'],
    outputFile: junitDir ? { junit: `${junitDir}/vitest-unit.xml` } : undefined,
    pool: 'forks',
    maxWorkers: 1,
  },
});
