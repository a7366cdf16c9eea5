// element-info as a user runs it: output formats, exit codes, messages without stack traces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { runCli } from '../../helpers/cli.js';
import { el, tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir();
const root = join(dir.path, 'els');
const x = (s = '#!/bin/bash\nexit 0\n') => ({ exec: s });
beforeAll(() => {
  writeTree(root, {
    myos: el([], ['operating-system'], {
      'root.d': { '10-make-root': x() },
      'environment.d': { '10-myos.bash': 'export DISTRO_NAME=myos\n' },
    }),
    app: el(['lib'], [], {
      'install.d': { '50-app': x(), '60-not-run.sh': x() },
      'package-installs.yaml': 'curl:\nbuild-essential:\n  build-only: true\n',
    }),
    lib: el([], [], { 'pre-install.d': { '10-lib': x() }, 'finalise.d': { '10-lib-final': x() } }),
    dup1: el([], [], { 'install.d': { '50-app': x() } }),
    badpkg: el([], [], { 'package-installs.yaml': 'curl: [\n' }),
    cyc1: el(['cyc2']),
    cyc2: el(['cyc1']),
  });
});
afterAll(() => dir.remove());
const info = (args: string[], extra: Record<string, string> = {}) =>
  runCli('element-info', args, { ELEMENTS_PATH: root, DIB_DEFAULT_OS_ELEMENT: '', ...extra });

describe('element-info', () => {
  it('prints the expanded set in dependency order', async () => {
    const r = await info(['app', 'myos']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('lib app myos\n');
  });

  it("--env output evaluates in bash like DIB's", async () => {
    const r = await info(['--env', 'app', 'myos']);
    expect(r.status).toBe(0);
    const script = `${r.stdout}\neval declare -A arr=($(get_image_element_array))\necho "$IMAGE_ELEMENT"\necho "\${arr[app]}"\necho "$IMAGE_ELEMENT_YAML"`;
    const out = execFileSync('bash', ['-c', script]).toString();
    expect(out).toBe(
      `lib app myos\n${join(root, 'app')}\napp: ${join(root, 'app')}\nlib: ${join(root, 'lib')}\nmyos: ${join(root, 'myos')}\n\n`,
    );
  });

  it('--json lists each element with path, deps, provides and who pulled it in', async () => {
    const r = await info(['--json', 'app', 'myos']);
    const data = JSON.parse(r.stdout);
    expect(data.elements).toEqual([
      { name: 'lib', path: join(root, 'lib'), deps: [], provides: [], pulledBy: 'app' },
      { name: 'app', path: join(root, 'app'), deps: ['lib'], provides: [], pulledBy: '(command line)' },
      { name: 'myos', path: join(root, 'myos'), deps: [], provides: ['operating-system'], pulledBy: '(command line)' },
    ]);
    expect(data.providedBy).toEqual({ 'operating-system': 'myos' });
  });

  it('--plan shows hooks per phase with owner and chroot, environment files and packages', async () => {
    const r = await info(['--plan', '--json', '-n', 'app', 'myos']);
    expect(r.status).toBe(0);
    const plan = JSON.parse(r.stdout);
    const phase = (name: string) => plan.phases.find((p: { phase: string }) => p.phase === name);
    expect(phase('root').hooks.map((h: { name: string; element: string }) => `${h.element}/${h.name}`)).toEqual(['myos/10-make-root']);
    expect(phase('root').inChroot).toBe(false);
    expect(phase('install').inChroot).toBe(true);
    expect(phase('install').hooks.map((h: { name: string }) => h.name)).toEqual(['50-app']);
    expect(phase('install').ignored).toEqual([{ name: '60-not-run.sh', element: 'app', reason: 'bad-name' }]);
    expect(plan.environmentFiles.map((f: { name: string; element: string }) => `${f.element}/${f.name}`)).toEqual([
      'myos/10-myos.bash',
      '(engine)/11-dib-install-type.bash',
    ]);
    expect(plan.packages.squashed['install.d']).toEqual({
      install: [
        ['curl', 'app'],
        ['build-essential', 'app'],
      ],
      uninstall: [['build-essential', 'app']],
    });
    const text = (await info(['--plan', '-n', 'app', 'myos'])).stdout;
    expect(text).toContain('Phase finalise (finalise.d, in chroot): 1 hook');
    expect(text).toMatch(/10-lib-final\s+lib/);
  });

  it('--plan adds base (from the shipped elements) unless -n', async () => {
    const withBase = JSON.parse((await info(['--plan', '--json', 'app', 'myos'])).stdout);
    expect(withBase.elements.find((e: { name: string }) => e.name === 'base').pulledBy).toBe('(command line)');
    const without = JSON.parse((await info(['--plan', '--json', '-n', 'app', 'myos'])).stdout);
    expect(without.elements.map((e: { name: string }) => e.name)).not.toContain('base');
  });

  const bad: Array<[string, string[], Record<string, string>, RegExp]> = [
    ['missing element', ['nope', 'myos'], {}, /Element 'nope' not found[\s\S]*hint: searched: /],
    [
      'non-directory path entry',
      ['myos'],
      { ELEMENTS_PATH: `${root}:/etc/passwd` },
      /ELEMENTS_PATH entry '\/etc\/passwd' is not a directory/,
    ],
    ['empty path entry', ['myos'], { ELEMENTS_PATH: `${root}::` }, /entry 2 is empty/],
    ['no OS element', ['app'], {}, /Please include an operating system element/],
    [
      'duplicate hook names',
      ['--plan', '-n', 'app', 'dup1', 'myos'],
      {},
      /duplicate hook 'install.d\/50-app' in elements '(app|dup1)' and '(app|dup1)'/,
    ],
    ['malformed package-installs.yaml', ['--plan', '-n', 'badpkg', 'myos'], {}, /badpkg\/package-installs.yaml: line \d+ column \d+/],
    ['element name with /', ['../etc', 'myos'], {}, /'..\/etc' is a path, not an element name/],
    ['element name with ..', ['..', 'myos'], {}, /is a path/],
    ['unknown option', ['--bogus', 'myos'], {}, /Unknown argument: bogus/],
    ['no element', [], {}, /at least one element is required/],
  ];
  for (const [what, args, env, message] of bad) {
    it(`rejects ${what}: exit 2, a message and a hint, no stack trace, nothing written`, async () => {
      const before = readdirSync(dir.path).sort();
      const r = await info(args, env);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^error: /m);
      expect(r.stderr).toMatch(/^hint: /m);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(readdirSync(dir.path).sort()).toEqual(before);
    });
  }

  it('cycles are fine', async () => expect((await info(['cyc1', 'myos'])).stdout).toBe('cyc1 cyc2 myos\n'));

  it('an unreadable element-deps is exit 2 naming the file', async () => {
    const t = tempDir();
    writeTree(t.path, { os: el([], ['operating-system']), broken: { 'element-deps': { 'not-a-file': '' } } });
    const r = await runCli('element-info', ['broken', 'os'], { ELEMENTS_PATH: t.path });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(join(t.path, 'broken', 'element-deps'));
    t.remove();
  });

  it('the shipped elements resolve with the default OS', async () => {
    expect(existsSync(join(import.meta.dirname, '..', '..', '..', 'elements', 'base'))).toBe(true);
    const r = await runCli('element-info', ['base', 'vm', 'block-device-mbr'], { ELEMENTS_PATH: '' });
    expect(r.stderr).toContain("adding the default 'debian'");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split(' ')).toEqual(
      expect.arrayContaining(['debian', 'debian-minimal', 'cloud-init', 'openssh-server', 'growroot']),
    );
    const plan = await runCli('element-info', ['--plan', '--json', 'vm'], { ELEMENTS_PATH: '' });
    expect(JSON.parse(plan.stdout).elements.find((e: { name: string }) => e.name === 'block-device-mbr').pulledBy).toBe(
      '(default block device for vm)',
    );
  });
});

describe('element-info --plan: outputs', () => {
  it('with baremetal the plan lists NAME.vmlinuz and NAME.initrd among the outputs, made for the baremetal element', async () => {
    const plan = await runCli('element-info', ['--plan', '--json', 'baremetal'], { ELEMENTS_PATH: '' });
    expect(plan.status).toBe(0);
    const outputs = JSON.parse(plan.stdout).outputs as Array<{ type: string; path: string; madeBy: string | null }>;
    expect(outputs.map((o) => [o.type, basename(o.path), o.madeBy])).toEqual([
      ['qcow2', 'image.qcow2', null],
      ['vmlinuz', 'image.vmlinuz', 'baremetal'],
      ['initrd', 'image.initrd', 'baremetal'],
    ]);
    const text = await runCli('element-info', ['--plan', 'baremetal'], { ELEMENTS_PATH: '' });
    expect(text.stdout).toMatch(/image\.vmlinuz \(vmlinuz, from the tree, for the baremetal element\)/);
  });
});

describe('element-info --plan and install types', () => {
  it('shows the scripts install-types will link for the chosen type', async () => {
    const t = tempDir();
    writeTree(t.path, {
      os: el([], ['operating-system']),
      'install-types': el(),
      app: el(['install-types'], [], {
        'install.d': {
          'app-source-install': { '60-from-source': { exec: '#!/bin/sh\n' } },
          'app-package-install': { '60-from-package': { exec: '#!/bin/sh\n' } },
        },
      }),
    });
    const hooks = async (extra: Record<string, string>) =>
      JSON.parse((await runCli('element-info', ['--plan', '--json', '-n', 'app', 'os'], { ELEMENTS_PATH: t.path, ...extra })).stdout)
        .phases.find((p: { phase: string }) => p.phase === 'install')
        .hooks.map((h: { name: string; element: string }) => `${h.element}/${h.name}`);
    expect(await hooks({})).toEqual(['app/60-from-source']);
    expect(await hooks({ DIB_INSTALLTYPE_app: 'package' })).toEqual(['app/60-from-package']);
    t.remove();
  });
});
