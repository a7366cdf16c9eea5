// A failing test must not leave its temporary directories behind in /tmp.
import { expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tree.js';

it('a test that fails before removing its temporary directory still leaves nothing in /tmp', () => {
  const report = tempDir();
  const file = join(report.path, 'leaked-path');
  const r = spawnSync(
    process.execPath,
    [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run', '--config', join(REPO, 'test/fixtures/temp-leak/vitest.config.ts')],
    {
      cwd: REPO,
      env: { ...process.env, LEAK_REPORT: file },
      encoding: 'utf8',
    },
  );
  expect(r.status).toBe(1); // the fixture fails on purpose
  const leaked = readFileSync(file, 'utf8');
  expect(leaked).toMatch(/dib-ts-test-/);
  expect(existsSync(leaked)).toBe(false);
  report.remove();
}, 60_000);
