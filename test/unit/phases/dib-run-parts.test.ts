// Our dib-run-parts (written into every hooks tree): DIB's name filter, `sort -n` order, environment
// files sourced first (the plan's list in a hooks tree, else ../environment.d), first failure stops it.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DIB_RUN_PARTS_SCRIPT } from '../../../src/phases/dib-run-parts.js';
import { type TreeSpec, tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir('dib-ts-runparts-');
afterAll(() => dir.remove());
let n = 0;
const say = (name: string) => ({ exec: `#!/bin/bash\necho "${name} \${PROBE:-unset}"\n` });

function run(spec: TreeSpec, args: (root: string) => string[], env: Record<string, string> = {}) {
  const root = join(dir.path, `t${n++}`);
  writeTree(root, { ...spec, 'dib-run-parts': { exec: DIB_RUN_PARTS_SCRIPT } });
  const r = spawnSync('bash', [join(root, 'dib-run-parts'), ...args(root)], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, root };
}

const ORDER = ['-5neg', '00-a', 'UPPER', 'foo', '01-x', '9-bar', '10-a', '10-foo', '10_b', '100-baz'];

describe('dib-run-parts', () => {
  it('runs executable files with conforming names in `sort -n` order (DIB order for a mixed set)', () => {
    const scripts: TreeSpec = Object.fromEntries([...ORDER].reverse().map((name) => [name, say(name)]));
    const r = run(
      { 'x.d': { ...scripts, '10-dotted.sh': say('dotted'), '20-data': 'not executable\n', 'sub-dir': { '30-deep': say('deep') } } },
      (root) => [join(root, 'x.d')],
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(ORDER.map((name) => `${name} unset`));
    expect(r.stderr).toContain('dib-run-parts Running');
  });

  it('--list prints DIR/NAME in run order and runs nothing', () => {
    const r = run({ 'x.d': { '20-b': say('b'), '3-a': say('a') } }, (root) => ['--list', join(root, 'x.d')]);
    expect(r.status).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('/').slice(-2).join('/')),
    ).toEqual(['x.d/3-a', 'x.d/20-b']);
  });

  it("in a hooks tree: sources the plan's environment list, in its order, before the scripts", () => {
    const r = run(
      {
        'environment-files': '20-second\n10-first\n',
        'environment.d': { '10-first': 'export PROBE="$PROBE+first"\n', '20-second': 'export PROBE=second\n', '30-unlisted': 'exit 9\n' },
        'install.d': { '10-a': say('a') },
      },
      (root) => [join(root, 'install.d')],
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('a second+first');
  });

  it('elsewhere: sources ../environment.d files with DIB names in byte order; RUN_PARTS_REGEX is honoured', () => {
    const r = run(
      {
        'environment.d': { '9-late': 'export PROBE="$PROBE+9"\n', '10-early.bash': 'export PROBE=10\n', 'bad name': 'exit 9\n' },
        'configure.d': { '10-a': say('a'), '10-b.sh': say('b') },
      },
      (root) => [join(root, 'configure.d')],
      { RUN_PARTS_REGEX: '^[0-9a-z.-]+$' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['a 10+9', 'b 10+9']);
  });

  it('stops at the first failure with its exit status; nothing after it runs', () => {
    const r = run({ 'x.d': { '10-a': say('a'), '20-fail': { exec: '#!/bin/bash\nexit 3\n' }, '30-c': say('c') } }, (root) => [
      join(root, 'x.d'),
    ]);
    expect(r.status).toBe(3);
    expect(r.stdout.trim()).toBe('a unset');
  });

  it('a missing directory or no argument: usage, exit 1', () => {
    const missing = run({}, (root) => [join(root, 'nope')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/must exist and be a directory[\s\S]*usage:/);
    expect(run({}, () => []).status).toBe(1);
  });
});
