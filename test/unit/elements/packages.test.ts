// package-installs parsing and squash: the upstream test cases, DIB bugs fixed, and bad input.
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { UsageError, ValidationErrors } from '../../../src/core/errors.js';
import { readPackageInstalls, squashPackages } from '../../../src/elements/packages.js';
import { tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir();
afterAll(() => dir.remove());
let n = 0;
function element(yaml: string, name = 'test_element') {
  const root = join(dir.path, `e${n++}`);
  writeTree(root, { [name]: { 'package-installs.yaml': yaml } });
  return readPackageInstalls({ name, path: join(root, name) }).entries;
}
function warnings(yaml: string) {
  const root = join(dir.path, `e${n++}`);
  writeTree(root, { test_element: { 'package-installs.yaml': yaml } });
  return readPackageInstalls({ name: 'test_element', path: join(root, 'test_element') }).warnings.map((w) => w.message);
}
const installs = (yaml: string, env: Record<string, string> = {}) =>
  (squashPackages(element(yaml), env)['install.d']?.install ?? []).map(([p]) => p);

const kernelYaml = `
linux-image-generic:
  - not-arch: arm64
    when: DIB_UBUNTU_KERNEL = linux-image-generic
  - arch: arm64
    when:
      - DIB_RELEASE != xenial
      - DIB_UBUNTU_KERNEL = linux-image-generic
linux-generic-hwe-16.04:
  arch: arm64
  when:
    - DIB_RELEASE = xenial
    - DIB_UBUNTU_KERNEL = linux-image-generic
`;

describe('upstream squash cases', () => {
  it('simple', () => expect(installs('test_package:\n')).toEqual(['test_package']));
  it('arch', () =>
    expect(installs('test_package:\ntest_arm64_package:\n  arch: arm64\ndo_not_install:\n  not-arch: arm64\n', { ARCH: 'arm64' })).toEqual([
      'test_package',
      'test_arm64_package',
    ]));
  it('param_list_x86', () =>
    expect(installs(kernelYaml, { ARCH: 'x86_64', DIB_RELEASE: 'focal', DIB_UBUNTU_KERNEL: 'linux-image-generic' })).toEqual([
      'linux-image-generic',
    ]));
  it('param_list_arm64_xenial', () =>
    expect(installs(kernelYaml, { ARCH: 'arm64', DIB_RELEASE: 'xenial', DIB_UBUNTU_KERNEL: 'linux-image-generic' })).toEqual([
      'linux-generic-hwe-16.04',
    ]));
  it('param_list_arm64_focal', () =>
    expect(installs(kernelYaml, { ARCH: 'arm64', DIB_RELEASE: 'focal', DIB_UBUNTU_KERNEL: 'linux-image-generic' })).toEqual([
      'linux-image-generic',
    ]));
  it('skip_when', () =>
    expect(
      installs(
        'skipped_package:\n  when: DIB_FEATURE=0\nnot_skipped_package:\n  when: DIB_FEATURE=1\nnot_equal_package:\n  when: DIB_FEATURE!=0\nnot_equal_skipped_package:\n  when: DIB_FEATURE!=1\n',
        { DIB_FEATURE: '1' },
      ),
    ).toEqual(['not_skipped_package', 'not_equal_package']));
  it('skip_when_list', () =>
    expect(installs('p1:\n  when: [A=1, B=1, C=1]\np2:\n  when: [A=1, B=0, C=1]\n', { A: '1', B: '1', C: '1' })).toEqual(['p1']));
  it('install overrides uninstall (install first)', () => {
    const entries = [...element('test_package:\n', 'element1'), ...element("test_package:\n  build-only: 'true'\n", 'element2')];
    const s = squashPackages(entries, {})['install.d'];
    expect(s.install).toEqual([
      ['test_package', 'element1'],
      ['test_package', 'element2'],
    ]);
    expect(s.uninstall).toEqual([]);
  });
  it('install overrides uninstall (uninstall first)', () => {
    const entries = [...element("test_package:\n  build-only: 'true'\n", 'element1'), ...element('test_package:\n', 'element2')];
    const s = squashPackages(entries, {})['install.d'];
    expect(s.install).toEqual([
      ['test_package', 'element1'],
      ['test_package', 'element2'],
    ]);
    expect(s.uninstall).toEqual([]);
  });
});

describe('DIB bugs fixed', () => {
  it('uninstall: false does not uninstall', () =>
    expect(squashPackages(element('p:\n  uninstall: false\n'), {})['install.d'].uninstall).toEqual([]));
  it('arch lists are trimmed', () => expect(installs('p:\n  arch: "ppc64, ppc64le"\n', { ARCH: 'ppc64le' })).toEqual(['p']));
  it('when on an unset variable compares with the empty string', () => expect(installs('p:\n  when: NOT_SET != 1\n')).toEqual(['p']));
  it('an empty file installs nothing', () => expect(element('')).toEqual([]));
});

describe('bad input is an exit-2 error pointing into the file', () => {
  const problem = (yaml: string) => {
    try {
      element(yaml);
    } catch (e) {
      return e as UsageError | ValidationErrors;
    }
    throw new Error('expected an error');
  };
  it('YAML syntax errors give line and column', () => {
    const e = problem('p:\n  phase: [install.d\n');
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/package-installs\.yaml: line \d+ column \d+/);
  });
  it('arch with not-arch, malformed when (DIB fails on these too)', () => {
    const e = problem('a:\n  phase: finalise.d\nb:\n  colour: red\nc:\n  arch: x\n  not-arch: y\nd:\n  when: nonsense\n');
    expect(e).toBeInstanceOf(ValidationErrors);
    const text = e.message;
    expect(text).toContain('arch and not-arch');
    expect(text).toContain("malformed condition 'nonsense'");
    expect(text).not.toContain("'a'.phase");
    expect(text).not.toContain('colour');
  });
  it('a top-level list is rejected', () => expect(problem('- a\n- b\n').message).toContain('must be a mapping'));
});

describe('where DIB is lenient, a warning (and the entry is harmless)', () => {
  it('an unknown key is a warning; the package is still installed', () => {
    expect(warnings('p:\n  colour: red\n')).toEqual([expect.stringMatching(/'p'\.colour: unknown key, ignored as DIB does/)]);
    expect(installs('p:\n  colour: red\n')).toEqual(['p']);
  });
  it('an unknown phase is a warning; the package is never installed in a package phase', () => {
    expect(warnings('p:\n  phase: finalise.d\n')).toEqual([
      expect.stringMatching(/'p'\.phase: 'finalise\.d' is not one of .*never installed/),
    ]);
    const squashed = squashPackages(element('p:\n  phase: finalise.d\nq:\n'), {});
    expect(Object.keys(squashed).sort()).toEqual(['finalise.d', 'install.d']);
    expect(squashed['install.d'].install).toEqual([['q', 'test_element']]);
  });
  it('a file without such problems has no warnings', () => expect(warnings('p:\n  phase: pre-install.d\n')).toEqual([]));
});
