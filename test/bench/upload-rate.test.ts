// The upload benchmark (scripts/bench-upload.sh runs it; not part of npm test): one image file uploaded
// to a real Glance, alternating ours (image-upload) and the openstack client (`openstack image create
// --file`), REPS times each; each image deleted before the next run. Prints and writes min and median of
// the wall time and of the rate, and our median's ratio to the client's.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { runCli } from '../helpers/cli.js';
import { startOpenStack } from '../helpers/openstack.js';

const FILE = process.env.UPLOAD_BENCH_FILE ?? '';
const REPS = Number(process.env.REPS ?? 3);
const OUT = process.env.UPLOAD_BENCH_JSON ?? '';
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

describe('upload benchmark', () => {
  it(`uploads ${FILE || '(UPLOAD_BENCH_FILE unset)'} ${REPS} times with each tool`, async () => {
    expect(FILE, 'set UPLOAD_BENCH_FILE to an image file').not.toBe('');
    const size = statSync(FILE).size;
    const stack = await startOpenStack();
    const runs: Array<{ tool: string; seconds: number }> = [];
    try {
      for (let i = 0; i < REPS; i++) {
        for (const tool of ['image-upload', 'openstack'] as const) {
          const name = `bench-${tool}-${i}`;
          const t0 = process.hrtime.bigint();
          if (tool === 'image-upload') {
            const r = await runCli('image-upload', ['--name', name, FILE], stack.env(), { timeout: 1_800_000 });
            expect(r.status, r.stderr).toBe(0);
          } else {
            stack.openstack([
              'image',
              'create',
              '--disk-format',
              'qcow2',
              '--container-format',
              'bare',
              '--file',
              FILE,
              name,
              '-f',
              'value',
              '-c',
              'id',
            ]);
          }
          runs.push({ tool, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
          stack.openstack(['image', 'delete', name]);
        }
      }
    } finally {
      await stack.stop();
    }
    const summary = Object.fromEntries(
      (['image-upload', 'openstack'] as const).map((tool) => {
        const secs = runs.filter((r) => r.tool === tool).map((r) => r.seconds);
        return [tool, { min: Math.min(...secs), median: median(secs), medianMiBps: size / 2 ** 20 / median(secs) }];
      }),
    );
    const report = {
      file: FILE,
      bytes: size,
      reps: REPS,
      runs,
      summary,
      ratio: summary['image-upload'].median / summary.openstack.median,
      host: execFileSync('uname', ['-srm']).toString().trim(),
    };
    console.log(JSON.stringify(report, null, 2));
    if (OUT) writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
  });
});
