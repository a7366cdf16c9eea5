// Root-only: inject faults at every step and check that nothing is left behind and the host is unchanged.
// CI runs a representative subset of the matrix; FAULTS_FULL=1 (npm run test:faults) runs all of it: a failing
// hook in every phase, every failing host tool, SIGINT and SIGTERM before and after every phase.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runCli, spawnUntil } from '../helpers/cli.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { writeTree } from '../helpers/tree.js';
import { ensureCachedBaseTree, tinyOsElement } from '../helpers/tiny-os.js';

const CACHE = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const FULL = process.env.FAULTS_FULL === '1';
const root = `/var/tmp/dib-ts-faults-${process.pid}`;
const tmp = join(root, 'tmp');
const out = join(root, 'out');
const elements = join(root, 'elements');
const env = { TMP_DIR: tmp, ELEMENTS_PATH: elements, DIB_AVOID_PACKAGES_UPDATE: '1' };
const x = (body: string) => ({ exec: `#!/bin/bash\nset -eu\n${body}\n` });
const PHASES = [
  'root',
  'extra-data',
  'pre-install',
  'install',
  'post-install',
  'post-root',
  'block-device',
  'pre-finalise',
  'finalise',
  'cleanup',
];
const DIRS: Record<string, string> = Object.fromEntries(PHASES.map((p) => [p, `${p}.d`]));

/** Host state that a build must never change. */
function hostState() {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter(Boolean);
  return {
    dev: readdirSync('/dev')
      .filter((n) => !/^loop\d+(p\d+)?$/.test(n))
      .sort()
      .join(' '),
    resolv: existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : '',
    procSys: mounts
      .filter((m) => m === '/proc' || m === '/sys' || m === '/dev')
      .sort()
      .join(' '),
  };
}
let before: ReturnType<typeof hostState>;

beforeAll(async () => {
  mkdirSync(tmp, { recursive: true });
  mkdirSync(out, { recursive: true });
  // tiny-os: the cached debootstrap tree, nothing installed: a chroot-able root in seconds.
  const spec: Record<string, unknown> = {
    'tiny-os': tinyOsElement(),
    'bg-process': {
      'install.d': { '10-leave-a-daemon': x('setsid sleep 1000 >/dev/null 2>&1 < /dev/null &\necho left a background process') },
    },
    'mounts-inside': { 'install.d': { '10-mount-something': x('mkdir -p /mnt/inner\nmount -t tmpfs tmpfs /mnt/inner\necho mounted') } },
    // Shipped infrastructure elements, each checked by a hook that fails the build if it stopped working.
    contracts: {
      'element-deps': 'install-types\ninstall-static\ninstall-bin\nmanifests\nsysprep\ndib-init-system\nenable-serial-console\n',
      'install.d': { '70-contracts-source-install': { '70-contracts-typed': x('touch /etc/contracts-install-type-source') } },
      static: { etc: { 'contracts-static': 'from static/\n' } },
      bin: { 'contracts-tool': x('echo tool') },
      'init-scripts': { systemd: { 'contracts.service': '[Unit]\nDescription=contracts\n' } },
      'post-install.d': {
        '90-check-contracts': x(
          [
            'test -f /etc/contracts-install-type-source   # install-types linked the source variant',
            'grep -q "from static" /etc/contracts-static   # install-static',
            'test -x /usr/local/bin/contracts-tool         # install-bin',
            'test -f /usr/lib/systemd/system/contracts.service  # dib-init-system',
            'test -f /etc/udev/rules.d/99-serial-console.rules  # enable-serial-console',
          ].join('\n'),
        ),
      },
      'cleanup.d': {
        '90-check-contracts-late': x(
          [
            'grep -qx contracts "$TARGET_ROOT/etc/dib-manifests/dib-element-manifest"   # manifests',
            'grep -qx uninitialized "$TARGET_ROOT/etc/machine-id"                      # sysprep',
          ].join('\n'),
        ),
      },
    },
    'check-devuser-nocloud': {
      'element-deps': 'devuser\ncloud-init-nocloud\n',
      'cleanup.d': {
        '90-check-devuser-nocloud': x(
          [
            'grep -q "^devuser:" "$TARGET_ROOT/etc/passwd"                               # devuser',
            'test "$(stat -c %a "$TARGET_ROOT/etc/sudoers.d/devuser")" = 440',
            'test -f "$TARGET_ROOT/var/lib/cloud/seed/nocloud/meta-data"                 # cloud-init-nocloud',
            'grep -q "NoCloud, None" "$TARGET_ROOT/etc/cloud/cloud.cfg.d/91-dib-cloud-init-datasources.cfg"',
          ].join('\n'),
        ),
      },
    },
    'slow-hook': { 'install.d': { '10-wait': x('sleep 1000 &\necho READY-FOR-SIGNAL\nsleep 1000') } },
  };
  for (const p of PHASES) spec[`fail-${p}`] = { [DIRS[p]]: { '00-fail-here': x(`echo "failing in ${p} on purpose"\nexit 7`) } };
  writeTree(elements, spec as never);
  mkdirSync(CACHE, { recursive: true });
  await ensureCachedBaseTree(CACHE, env, out);
  before = hostState();
});
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

function build(name: string, extraElements: string[], extraEnv: Record<string, string> = {}) {
  return runCli(
    'disk-image-create',
    ['--image-cache', CACHE, '-n', '-u', '-o', join(out, name), 'tiny-os', 'block-device-mbr', ...extraElements],
    { ...env, ...extraEnv },
    { timeout: 900_000 },
  );
}
function expectCleanAfter(name: string) {
  expect(findLeaks(root)).toEqual(NO_LEAKS);
  expect(readdirSync(out).filter((f) => f.startsWith(`${name}.`) && f.includes('partial'))).toEqual([]);
  expect(hostState()).toEqual(before);
}

describe('fault injection', () => {
  it('the fault-free tiny build succeeds (the baseline the faults are injected into); infrastructure elements keep their contracts', async () => {
    const r = await build('ok', ['contracts']);
    expect(r.stderr.slice(-1500)).toContain('Build completed successfully');
    expect(existsSync(join(out, 'ok.qcow2'))).toBe(true);
    expectCleanAfter('ok');
  });

  // CI runs a representative subset (outside the image, in the chroot, at the disk, at the end);
  // npm run test:faults runs every phase, tool and signal point.
  for (const phase of FULL ? PHASES : ['root', 'install', 'block-device', 'cleanup']) {
    it(`a failing hook in ${phase}.d: exit 1 naming it, nothing left`, async () => {
      const r = await build(`fail-${phase}`, [`fail-${phase}`]);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`hook ${phase}.d/00-fail-here of element 'fail-${phase}' failed with exit status 7`);
      expect(r.stderr).toContain(`failing in ${phase} on purpose`);
      expect(existsSync(join(out, `fail-${phase}.qcow2`))).toBe(false);
      expectCleanAfter(`fail-${phase}`);
    });
  }

  for (const tool of FULL ? ['losetup', 'sfdisk', 'partx', 'mkfs', 'mount', 'qemu-img'] : ['losetup', 'mkfs', 'qemu-img']) {
    it(`${tool} failing: exit 1 with the command, nothing left`, async () => {
      const r = await build(`tool-${tool}`, [], { DIB_TS_FAULT_COMMAND: tool });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`error: command failed \\(exit 1\\): ${tool === 'mkfs' ? 'mkfs\\.ext4' : tool}`));
      expect(r.stderr).toContain('injected fault');
      expectCleanAfter(`tool-${tool}`);
    });
  }

  it('grub-install failing (called by the bootloader hook in the chroot): exit 1 naming the hook, nothing left', async () => {
    const r = await runCli(
      'disk-image-create',
      ['--image-cache', CACHE, '-n', '-o', join(out, 'tool-grub'), 'debian-minimal', 'vm'],
      { ...env, DIB_TS_FAULT_COMMAND: 'grub-install' },
      { timeout: 1_800_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("hook finalise.d/50-bootloader of element 'bootloader' failed");
    expect(r.stderr).toContain('grub-install: injected fault');
    expectCleanAfter('tool-grub');
  });

  const signalPoints = (FULL ? PHASES : ['install', 'block-device', 'finalise', 'cleanup'])
    .map((p) => ['SIGINT', `before-${p}`])
    .concat(
      FULL
        ? PHASES.flatMap((p) => [
            ['SIGTERM', `before-${p}`],
            ['SIGTERM', `after-${p}`],
            ['SIGINT', `after-${p}`],
          ])
        : [
            ['SIGTERM', 'after-install'],
            ['SIGTERM', 'before-finalise'],
            ['SIGTERM', 'after-cleanup'],
          ],
    );
  for (const [signal, point] of signalPoints) {
    it(`${signal} at ${point}: exit 130, nothing left`, async () => {
      const r = await build(`sig-${signal}-${point}`, ['bg-process'], { DIB_TS_FAULT_SIGNAL: `${signal}@${point}` });
      expect(r.stderr).toContain(`interrupted by ${signal}, cleaning up`);
      expect(r.status).toBe(130);
      expect(existsSync(join(out, `sig-${signal}-${point}.qcow2`))).toBe(false);
      expectCleanAfter(`sig-${signal}-${point}`);
    });
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} in the middle of a hook (with a background process in the chroot): exit 130, nothing left`, async () => {
      const { child, exited } = await spawnUntil(
        'disk-image-create',
        ['--image-cache', CACHE, '-n', '-o', join(out, `mid-${signal}`), 'tiny-os', 'block-device-mbr', 'slow-hook'],
        env,
        'READY-FOR-SIGNAL',
      );
      child.kill(signal);
      const status = await exited;
      expect(status).toBe(130);
      expectCleanAfter(`mid-${signal}`);
    });
  }

  it('a hook that leaves a daemon and one that mounts inside the target: the build succeeds and cleans both up', async () => {
    const r = await build('bg-and-mount', ['bg-process', 'mounts-inside']);
    expect(r.stderr.slice(-1500)).toContain('Build completed successfully');
    expect(r.stderr).toMatch(/killing process \d+ left running in the image/);
    expectCleanAfter('bg-and-mount');
  });

  it('killed outright (SIGKILL): the leftovers are released by --cleanup-stale, exactly as the ledger names them', async () => {
    const { child, exited } = await spawnUntil(
      'disk-image-create',
      ['--image-cache', CACHE, '-n', '-o', join(out, 'killed'), 'tiny-os', 'block-device-mbr', 'slow-hook'],
      env,
      'READY-FOR-SIGNAL',
      { detached: true },
    );
    process.kill(-child.pid!, 'SIGKILL'); // the whole process group, like an OOM kill or power loss
    await exited;
    expect(findLeaks(root).mounts.length).toBeGreaterThan(0);
    const r = await runCli('disk-image-create', ['--cleanup-stale'], env);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/released: unmounted .*\/mnt\/proc/);
    expect(r.stdout).toMatch(/released: removed .*dib_build\./);
    expectCleanAfter('killed');
    expect((await runCli('disk-image-create', ['--cleanup-stale'], env)).stdout).toBe('nothing to release\n');
  });
});

describe('break points', () => {
  it('break=after-root runs break_cmd on the host and the build goes on', async () => {
    const marker = join(root, 'break-marker');
    const r = await build('break', [], { break: 'after-root', break_cmd: `echo "at $TMP_BUILD_DIR" > ${marker}` });
    expect(r.stderr).toContain('At stage after-root');
    expect(r.stderr.slice(-1500)).toContain('Build completed successfully');
    expect(readFileSync(marker, 'utf8')).toMatch(/^at .*dib_build\./);
    expectCleanAfter('break');
  });
});

describe('concurrent builds', () => {
  it('three builds at once with different outputs all succeed', async () => {
    const run = (name: string) =>
      new Promise<number | null>((resolve) => {
        const c = spawn(
          join(REPO, 'bin', 'disk-image-create'),
          ['--image-cache', CACHE, '-n', '-u', '-o', join(out, name), 'tiny-os', 'block-device-mbr'],
          { env: { ...process.env, ...env }, stdio: 'ignore' },
        );
        c.once('exit', resolve);
      });
    expect(await Promise.all(['c1', 'c2', 'c3'].map(run))).toEqual([0, 0, 0]);
    for (const n of ['c1', 'c2', 'c3']) expect(existsSync(join(out, `${n}.qcow2`))).toBe(true);
    expectCleanAfter('c1');
  });

  it('a second build writing the same output fails cleanly while the first goes on', async () => {
    const { child: first, exited } = await spawnUntil(
      'disk-image-create',
      ['--image-cache', CACHE, '-n', '-o', join(out, 'same'), 'tiny-os', 'block-device-mbr', 'slow-hook'],
      env,
      'READY-FOR-SIGNAL',
    );
    const second = await build('same', []);
    expect(second.status).toBe(2);
    expect(second.stderr).toMatch(/another build \(pid \d+\) is writing .*\/same/);
    first.kill('SIGINT');
    expect(await exited).toBe(130);
    expectCleanAfter('same');
  });
});

describe('secrets', () => {
  it('DIB_DEV_USER_PASSWORD appears nowhere: logs, events, manifests, image', async () => {
    const secret = 'Sup3r-S3cret-Value-4711';
    const logfile = join(out, 'secret.log');
    const events = join(out, 'secret.events');
    const r = await runCli(
      'disk-image-create',
      [
        '--image-cache',
        CACHE,
        '-n',
        '--logfile',
        logfile,
        '--events',
        events,
        '-t',
        'raw',
        '-o',
        join(out, 'secret'),
        'debian-minimal',
        'block-device-mbr',
        'check-devuser-nocloud',
      ],
      { ...env, DIB_DEV_USER_PASSWORD: secret, DIB_DEV_USER_PWDLESS_SUDO: '1', DIB_QUIET: '0' },
      { timeout: 1_800_000 },
    );
    expect(r.stderr.slice(-1500)).toContain('Build completed successfully');
    expect(r.stderr).not.toContain(secret);
    expect(readFileSync(logfile, 'utf8')).not.toContain(secret);
    expect(readFileSync(events, 'utf8')).not.toContain(secret);
    expect(readFileSync(join(out, 'secret.d', 'dib-manifests', 'dib_environment'), 'utf8')).toContain('DIB_DEV_USER_PASSWORD="***"');
    expect(spawnSync('grep', ['-rF', secret, join(out, 'secret.d')]).status).toBe(1);
    expect(
      spawnSync('grep', ['-c', '-a', '-F', secret, join(out, 'secret.raw')])
        .stdout.toString()
        .trim(),
    ).toBe('0');
    expectCleanAfter('secret');
  });
});
