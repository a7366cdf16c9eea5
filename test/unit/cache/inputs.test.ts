// What the phase cache keys beyond hooks: element files (not hooks, not environment.d) and the declared
// inputs of cache-inputs; malformed declarations are exit-2 errors naming the file and line.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { expandVariables, isShareable, isUncacheable, readCacheInputs } from '../../../src/cache/inputs.js';
import { DEFAULT_RUN_PARTS_REGEX } from '../../../src/elements/hooks.js';
import { planBuild, selectElements } from '../../../src/elements/plan.js';
import { el, tempDir, writeTree } from '../../helpers/tree.js';

function plan(spec: Parameters<typeof writeTree>[1], requested = ['my-os']) {
  const t = tempDir();
  writeTree(t.path, spec);
  const selection = selectElements(requested, {
    elementsPath: t.path,
    builtinDir: null,
    defaultOsElement: 'my-os',
    defaultBlockDevice: 'none',
  });
  return {
    root: t.path,
    plan: planBuild(selection, { env: { ARCH: 'amd64' }, runPartsRegex: DEFAULT_RUN_PARTS_REGEX, installType: 'source' }),
  };
}

const os = (extra = {}) =>
  el([], ['operating-system'], {
    'root.d': { '10-fill': { exec: '#!/bin/bash\n' } },
    'install.d': { '60-app': { exec: '#!/bin/bash\n' }, 'app.conf': 'setting=1\n' },
    'environment.d': { '10-os.bash': 'export X=1\n' },
    static: { etc: { motd: 'hi\n' } },
    'package-installs.yaml': 'vim:\n',
    'README.rst': 'docs\n',
    ...extra,
  });

describe('cache inputs', () => {
  it('element data: static files, package lists and non-hook files are keyed; hooks, environment.d and READMEs are not', () => {
    const { elementData } = readCacheInputs(plan({ 'my-os': os() }).plan);
    expect(Object.keys(elementData).sort()).toEqual([
      'data my-os/element-deps',
      'data my-os/element-provides',
      'data my-os/install.d/app.conf',
      'data my-os/package-installs.yaml',
      'data my-os/static/etc/motd',
    ]);
  });

  it('editing a static file changes its digest', () => {
    const a = readCacheInputs(plan({ 'my-os': os() }).plan).elementData;
    const b = readCacheInputs(plan({ 'my-os': os({ static: { etc: { motd: 'changed\n' } } }) }).plan).elementData;
    expect(a['data my-os/static/etc/motd']).not.toBe(b['data my-os/static/etc/motd']);
  });

  it('declarations: env, path, apt-suite, uncacheable (one hook, or the whole element)', () => {
    const spec = {
      'my-os': os({
        'cache-inputs':
          '# comment\nenv MY_URL\npath /etc/my.conf\napt-suite ${DIB_MIRROR} ${DIB_RELEASE}-updates\nuncacheable install.d/60-app\n',
      }),
      other: el([], [], { 'cache-inputs': 'uncacheable\n' }),
    };
    const inputs = readCacheInputs(plan(spec, ['my-os', 'other']).plan);
    expect(inputs.env).toEqual(['MY_URL']);
    expect(inputs.paths).toEqual(['/etc/my.conf']);
    expect(inputs.aptSuites).toEqual([{ element: 'my-os', mirror: '${DIB_MIRROR}', suite: '${DIB_RELEASE}-updates' }]);
    expect(isUncacheable(inputs, 'my-os', 'install.d', '60-app')).toBe(true);
    expect(isUncacheable(inputs, 'my-os', 'root.d', '10-fill')).toBe(false);
    expect(isUncacheable(inputs, 'other', 'finalise.d', 'anything')).toBe(true);
  });

  it("shareable: an element's own hook; each element's env and path declarations kept apart", () => {
    const spec = {
      'my-os': os({ 'cache-inputs': 'shareable root.d/10-fill\nenv OS_MIRROR\npath /etc/os.conf\n' }),
      other: el([], [], { 'cache-inputs': 'env OTHER_SETTING\nshareable root.d/10-fill\n' }),
    };
    const inputs = readCacheInputs(plan(spec, ['my-os', 'other']).plan);
    expect(isShareable(inputs, 'my-os', 'root.d', '10-fill')).toBe(true);
    // Declared by another element: that element cannot make my-os's hook shareable.
    expect(inputs.shareable).toEqual(['my-os root.d/10-fill', 'other root.d/10-fill']);
    expect(isShareable(inputs, 'my-os', 'install.d', '60-app')).toBe(false);
    expect(inputs.byElement['my-os']).toEqual({ env: ['OS_MIRROR'], paths: ['/etc/os.conf'] });
    expect(inputs.byElement.other).toEqual({ env: ['OTHER_SETTING'], paths: [] });
    expect(inputs.env).toEqual(['OS_MIRROR', 'OTHER_SETTING']);
  });

  it('a malformed shareable line (no hook, or a phase that does not exist) is an exit-2 error naming the line', () => {
    const { root, plan: p } = plan({ 'my-os': os({ 'cache-inputs': 'shareable\nshareable nosuch.d/x\n' }) });
    expect(() => readCacheInputs(p)).toThrow(`${join(root, 'my-os', 'cache-inputs')}:1: cannot read "shareable"`);
    expect(() => readCacheInputs(p)).toThrow(`${join(root, 'my-os', 'cache-inputs')}:2: cannot read "shareable nosuch.d/x"`);
  });

  it('a malformed declaration is an exit-2 error naming the file, the line and the syntax', () => {
    const { root, plan: p } = plan({ 'my-os': os({ 'cache-inputs': 'env MY_URL\npath relative/path\nuncacheable nosuch.d/x\n' }) });
    let error: unknown;
    try {
      readCacheInputs(p);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ exitCode: 2 });
    const text = String((error as Error).message);
    expect(text).toContain(`${join(root, 'my-os', 'cache-inputs')}:2: cannot read "path relative/path"`);
    expect(text).toContain(`${join(root, 'my-os', 'cache-inputs')}:3: cannot read "uncacheable nosuch.d/x"`);
  });

  it('${VAR} and $VAR expand from the given environment only; nothing else is interpreted', () => {
    expect(expandVariables('${M}/x $R-updates $(id) `id`', { M: 'http://m', R: 'bookworm' })).toBe(
      'http://m/x bookworm-updates $(id) `id`',
    );
  });
});
