import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// Integration files run in this order, one at a time within each of scripts/test-integration.sh's two
// lanes (run side by side): the first builds fill the shared test cache
// (debootstrap tree, .deb pool, the default image's phase cache steps) that the later ones reuse. Left to
// vitest (largest file first on a fresh clone), phase-cache.test.ts ran first and every one of its private
// caches downloaded the packages again (+11 min). Files not listed run after these, by name.
const INTEGRATION_ORDER = [
  'build-and-boot',
  'outputs',
  'verify',
  'host-boundary',
  'plan-is-what-runs',
  'faults',
  'verify-hostile',
  'phase-cache',
  'family',
  'dib-elements',
  'image-upload',
  'openstack-stack',
];
class IntegrationOrder extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification) => {
      const i = INTEGRATION_ORDER.findIndex((name) => f.moduleId.endsWith(`/${name}.test.ts`));
      return i < 0 ? INTEGRATION_ORDER.length : i;
    };
    return Promise.resolve([...files].sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId)));
  }
}

// Three projects, run in this order by `npm test` (integration files one at a time per lane: `--no-file-parallelism`
// in scripts/test-integration.sh, since vitest 3 reads fileParallelism only from the root config): fast unit tests (no root), the comparison with
// upstream DIB (needs python3-diskimage-builder), and root-only integration tests (real builds, boots).
// Every project loads test/helpers/cleanup-setup.ts: temporary directories a failing test left are removed.
const setupFiles = ['test/helpers/cleanup-setup.ts'];

export default defineConfig({
  test: {
    sequence: { sequencer: IntegrationOrder },
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
