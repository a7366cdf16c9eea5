// Hostile and broken element input: rejected with exit 2 before anything is created.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { UsageError, ValidationErrors } from '../../../src/core/errors.js';
import { planBuild, selectElements } from '../../../src/elements/plan.js';
import { DEFAULT_RUN_PARTS_REGEX } from '../../../src/elements/hooks.js';
import { el, tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir();
afterAll(() => dir.remove());
let n = 0;
function plan(extra: Record<string, unknown>): UsageError | ValidationErrors | undefined {
  const root = join(dir.path, `t${n++}`);
  writeTree(root, { os: el([], ['operating-system']), bad: extra as never });
  try {
    planBuild(selectElements(['os', 'bad'], { elementsPath: root, builtinDir: null }), {
      env: {},
      runPartsRegex: DEFAULT_RUN_PARTS_REGEX,
      installType: 'source',
    });
  } catch (e) {
    if (e instanceof UsageError || e instanceof ValidationErrors) return e;
    throw e;
  }
  return undefined;
}

describe('hostile element content', () => {
  it('malformed pkg-map JSON names the file', () => {
    const e = plan({ 'pkg-map': '{"default": {' });
    expect(e?.exitCode).toBe(2);
    expect(e?.message).toMatch(/bad\/pkg-map: not valid JSON/);
  });
  it('malformed package-installs.json names the file', () =>
    expect(plan({ 'package-installs.json': '{"a": [}' })?.message).toMatch(/package-installs.json/));
  it('a static/ symlink climbing out of the element is rejected; absolute targets are fine', () => {
    const e = plan({
      static: { etc: { passwd: { symlink: '../../../../../etc/passwd' }, localtime: { symlink: '/usr/share/zoneinfo/UTC' } } },
    });
    expect(e?.message).toContain("static/etc/passwd in element 'bad' links outside the element");
    expect(e?.message).not.toContain('localtime');
  });
  for (const sub of ['static', 'bin', 'install.d', 'environment.d']) {
    it(`a ${sub} directory that is a symlink leaving the element is rejected before anything is read through it`, () => {
      const outside = join(dir.path, `outside-${sub}`);
      writeTree(outside, { secret: 'host file\n' });
      const e = plan({ [sub]: { symlink: outside } });
      expect(e?.exitCode).toBe(2);
      expect(e?.message).toContain(`${sub} in element 'bad' is a symbolic link leaving the element (${outside})`);
    });
  }
  it('a sub-directory linked inside the element itself is fine', () =>
    expect(plan({ 'real-bin': { tool: 'x' }, bin: { symlink: 'real-bin' } })).toBeUndefined());
  it('a hook name with control characters is rejected', () => {
    const e = plan({ 'install.d': { '10-evil\nname': '#!/bin/sh\n' } });
    expect(e?.message).toContain('control characters');
  });
  it('a clean element plans fine', () => expect(plan({ 'install.d': { '10-ok': { exec: '#!/bin/sh\n' } } })).toBeUndefined());
});

describe('hostile package-installs YAML', () => {
  it('an alias bomb is a clear exit-2 error naming the file, not a crash', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++)
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    const e = plan({ 'package-installs.yaml': `${levels.join('\n')}\n` });
    expect(e?.exitCode).toBe(2);
    expect(e?.message).toMatch(/package-installs\.yaml: aliases: .*alias/i);
  });
});
