import { defineConfig } from 'vitest/config';

// Three projects, run in this order by `npm test` (integration files one at a time: `--no-file-parallelism`
// in the npm script, since vitest 3 reads fileParallelism only from the root config): fast unit tests (no root), the comparison with
// upstream DIB (needs python3-diskimage-builder), and root-only integration tests (real builds, boots).
// Every project loads test/helpers/cleanup-setup.ts: temporary directories a failing test left are removed.
const setupFiles = ['test/helpers/cleanup-setup.ts'];

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000, setupFiles } },
      { test: { name: 'compat', include: ['test/compat/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 300_000, setupFiles } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 3_600_000,
          hookTimeout: 3_600_000,
          sequence: { concurrent: false },
          setupFiles,
        },
      },
      // Benchmarks (scripts/bench-*.sh), never part of npm test.
      { test: { name: 'bench', include: ['test/bench/**/*.test.ts'], testTimeout: 3_600_000, hookTimeout: 600_000, setupFiles } },
    ],
  },
});
