// Root-only: real builds on loop devices, booted under qemu; every test ends with a leak check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runCli, spawnUntil } from '../helpers/cli.js';
import { bootUntil } from '../helpers/boot.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { writeTree } from '../helpers/tree.js';

const isRoot = process.getuid?.() === 0;
const CACHE = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const root = `/var/tmp/dib-ts-it-${process.pid}`;
const tmp = join(root, 'tmp');
const out = join(root, 'out');
const elements = join(root, 'elements');
const env = { TMP_DIR: tmp, ELEMENTS_PATH: elements };
const hook = (body: string) => ({ exec: `#!/bin/bash\nset -eu\n${body}\n` });

beforeAll(() => {
  mkdirSync(tmp, { recursive: true });
  mkdirSync(out, { recursive: true });
  writeTree(elements, {
    'fail-install': { 'install.d': { '00-fail-on-purpose': hook('echo "about to fail: marker-7731"\nexit 3') } },
    'slow-install': { 'install.d': { '00-wait-for-signal': hook('sleep 1000 &\necho READY-FOR-SIGNAL\nsleep 1000') } },
  });
});
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

describe('disk-image-create builds bootable images', () => {
  it('must run as root (these tests need loop devices and chroot)', () => expect(isRoot).toBe(true));

  it('base vm (default OS): a qcow2 that passes qemu-img check and boots to a login prompt on ttyS0', async () => {
    const r = await runCli('disk-image-create', ['--image-cache', CACHE, '-o', join(out, 'basevm'), 'vm'], env, { timeout: 1_800_000 });
    expect(r.stderr.slice(-3000)).toContain('Build completed successfully');
    expect(r.status).toBe(0);
    const image = join(out, 'basevm.qcow2');
    expect(execFileSync('qemu-img', ['info', '--output=json', image]).toString()).toMatch(
      /"compat": "1.1"[\s\S]*"compression-type": "zlib"|"compression-type": "zlib"[\s\S]*"compat": "1.1"/,
    );
    execFileSync('qemu-img', ['check', image]);
    expect(readdirSync(join(out, 'basevm.d', 'dib-manifests')).sort()).toEqual([
      'dib-element-manifest',
      'dib-manifest-dpkg-basevm',
      'dib_arguments',
      'dib_environment',
    ]);
    expect(readdirSync(out).filter((f) => f.includes('partial'))).toEqual([]);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
    // The kernel's package run builds the initramfs once (install-packages defers the kernel hook's copy),
    // when that step ran here rather than coming from the phase cache (a cold cache, as in CI).
    if (/01-package-installs\s+[\d.]+\s+miss/.test(r.stderr)) {
      expect(r.stderr.match(/update-initramfs: Generating \/boot\/initrd\.img-/g)).toHaveLength(1);
    }
    const boot = await bootUntil(image, root, /login:/, 400);
    expect(boot.console).toMatch(/Linux version/);
    expect(boot.matched).toBe(true);
    console.log(`base vm booted to login: in ${boot.seconds.toFixed(0)}s`);
  });

  it('-t qcow2,raw on a GPT layout from DIB_BLOCK_DEVICE_CONFIG=file://: both outputs, GPT with a BIOS boot partition, boots', async () => {
    const layout = join(root, 'gpt.yaml');
    writeFileSync(layout, readFileSync(join(REPO, 'elements', 'block-device-gpt', 'block-device-default.yaml')));
    const r = await runCli(
      'disk-image-create',
      ['--image-cache', CACHE, '--uncompressed', '-t', 'qcow2,raw', '-o', join(out, 'gpt'), 'vm', 'block-device-gpt'],
      { ...env, DIB_BLOCK_DEVICE_CONFIG: `file://${layout}`, DIB_AVOID_PACKAGES_UPDATE: '1' },
      { timeout: 1_800_000 },
    );
    expect(r.stderr.slice(-3000)).toContain('Build completed successfully');
    expect(r.status).toBe(0);
    execFileSync('qemu-img', ['check', join(out, 'gpt.qcow2')]);
    const table = execFileSync('sfdisk', ['-d', join(out, 'gpt.raw')]).toString();
    expect(table).toContain('label: gpt');
    expect(table).toMatch(/type=21686148-6449-6E6F-744E-656564454649, .*name="BSP"/);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
    const boot = await bootUntil(join(out, 'gpt.raw'), root, /login:/, 400);
    expect(boot.matched).toBe(true);
  });

  it('a failing install.d hook: exit 1 naming the element, hook and its last output; nothing left behind', async () => {
    const r = await runCli(
      'disk-image-create',
      ['--image-cache', CACHE, '-n', '-o', join(out, 'fail'), 'debian-minimal', 'fail-install'],
      env,
      { timeout: 900_000 },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error: hook install.d\/00-fail-on-purpose of element 'fail-install' failed with exit status 3/);
    expect(r.stderr).toContain('marker-7731');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(out, 'fail.qcow2'))).toBe(false);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });

  it('SIGINT during install.d (with a background process in the chroot): exit 130, nothing left behind', async () => {
    const {
      child,
      exited,
      stderr: output,
    } = await spawnUntil(
      'disk-image-create',
      ['--image-cache', CACHE, '-n', '-o', join(out, 'sig'), 'debian-minimal', 'slow-install'],
      env,
      'READY-FOR-SIGNAL',
    );
    child.kill('SIGINT');
    const status = await exited;
    const stderr = output();
    expect(stderr).toContain('interrupted by SIGINT, cleaning up');
    expect(status).toBe(130);
    expect(existsSync(join(out, 'sig.qcow2'))).toBe(false);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });
});
