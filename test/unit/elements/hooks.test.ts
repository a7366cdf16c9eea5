// Hook merge (duplicates across elements), selection (name, executable, regular file) and order.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { UsageError, ValidationErrors } from '../../../src/core/errors.js';
import { compareRunParts, mergeHooksTree, selectEnvironmentFiles, selectHooks } from '../../../src/elements/hooks.js';
import { compareBytes } from '../../../src/elements/element.js';
import { tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir();
afterAll(() => dir.remove());
const x = (body = '#!/bin/sh\nexit 0\n') => ({ exec: body });

describe('dib-run-parts order', () => {
  it('matches sort -n with a byte-order tie break (upstream verified order)', () => {
    const expected = ['-5neg', '00-a', 'UPPER', 'foo', '01-x', '9-bar', '10-a', '10-foo', '10_b', '100-baz'];
    const shuffled = [...expected].reverse();
    expect(shuffled.sort(compareRunParts)).toEqual(expected);
  });
  it('environment.d order is plain byte order', () => {
    const names = ['a-x', '9-a', '50-y.bash', '100-q', '10-b'];
    expect(names.sort(compareBytes)).toEqual(['10-b', '100-q', '50-y.bash', '9-a', 'a-x']);
  });
});

describe('merging and selecting hooks', () => {
  it('selects executable regular files with conforming names, in order', () => {
    const root = join(dir.path, 'sel');
    writeTree(root, {
      one: {
        'install.d': {
          '10-foo': x(),
          '9-bar': x(),
          '10-foo.sh': x(),
          README: 'data',
          '20-dir': { inner: x() },
          '30-link': { symlink: '10-foo' },
          '40-dangling': { symlink: 'nope' },
          '.hidden': x(),
        },
      },
    });
    const tree = mergeHooksTree([{ name: 'one', path: join(root, 'one') }]);
    const { runs, ignored } = selectHooks(tree.dirs.get('install.d')!.values());
    expect(runs.map((h) => h.name)).toEqual(['9-bar', '10-foo', '30-link']);
    expect(Object.fromEntries(ignored.map((i) => [i.entry.name, i.reason]))).toEqual({
      '10-foo.sh': 'bad-name',
      README: 'not-executable',
      '20-dir': 'not-a-file',
      '40-dangling': 'not-a-file',
    });
  });
  it('honours RUN_PARTS_REGEX', () => {
    const root = join(dir.path, 'regex');
    writeTree(root, { one: { 'install.d': { '10-foo.sh': x(), '20-bar': x() } } });
    const tree = mergeHooksTree([{ name: 'one', path: join(root, 'one') }]);
    expect(selectHooks(tree.dirs.get('install.d')!.values(), '^[0-9A-Za-z_.-]+$').runs.map((h) => h.name)).toEqual(['10-foo.sh', '20-bar']);
  });
  it('merges phase directories from several elements and records the owner', () => {
    const root = join(dir.path, 'merge');
    writeTree(root, {
      a: { 'install.d': { '10-a': x() } },
      b: { 'install.d': { '05-b': x() }, 'environment.d': { '10-b.bash': 'export B=1\n' } },
    });
    const tree = mergeHooksTree([
      { name: 'a', path: join(root, 'a') },
      { name: 'b', path: join(root, 'b') },
    ]);
    expect(selectHooks(tree.dirs.get('install.d')!.values()).runs.map((h) => `${h.element}/${h.name}`)).toEqual(['b/05-b', 'a/10-a']);
    expect(selectEnvironmentFiles(tree.dirs.get('environment.d')!.values()).map((f) => f.name)).toEqual(['10-b.bash']);
  });
  it('a duplicate hook name is an error naming both elements and the file; all are reported', () => {
    const root = join(dir.path, 'dup');
    writeTree(root, {
      a: { 'install.d': { '10-same': x() }, 'environment.d': { '10-env': '' } },
      b: { 'install.d': { '10-same': x() }, 'environment.d': { '10-env': '' } },
    });
    let error: unknown;
    try {
      mergeHooksTree([
        { name: 'a', path: join(root, 'a') },
        { name: 'b', path: join(root, 'b') },
      ]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationErrors);
    const problems = (error as ValidationErrors).problems;
    expect(problems.map((p) => p.message)).toEqual([
      "duplicate hook 'environment.d/10-env' in elements 'a' and 'b'",
      "duplicate hook 'install.d/10-same' in elements 'a' and 'b'",
    ]);
    expect(problems[0]).toBeInstanceOf(UsageError);
    expect(problems[0].exitCode).toBe(2);
  });
  it('directories of the same name merge; tests/ and __pycache__ are not merged', () => {
    const root = join(dir.path, 'dirs');
    writeTree(root, { a: { static: { etc: { a: 'a' } }, tests: { t: 'x' } }, b: { static: { etc: { b: 'b' } }, __pycache__: { c: 'x' } } });
    const tree = mergeHooksTree([
      { name: 'a', path: join(root, 'a') },
      { name: 'b', path: join(root, 'b') },
    ]);
    expect([...tree.dirs.keys()]).toEqual(['static']);
    const etc = tree.dirs.get('static')!.get('etc')!;
    expect(etc.isDirectory).toBe(true);
    expect([etc.path, ...etc.mergedFrom]).toEqual([join(root, 'a/static/etc'), join(root, 'b/static/etc')]);
  });
});
