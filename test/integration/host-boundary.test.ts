// Root-only, written as the attacks: nothing an element, a layout, a planted file or another local user
// supplies makes a build touch the host outside its own directories. Each case checks the host side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { REPO, runCli } from '../helpers/cli.js';
import { readHostMirrors } from '../../src/config/host-apt.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { ensureCachedBaseTree, hookScript as x, tinyOsElement } from '../helpers/tiny-os.js';
import { writeTree } from '../helpers/tree.js';

const CACHE = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const root = `/var/tmp/dib-ts-boundary-${process.pid}`;
const tmp = join(root, 'tmp');
const out = join(root, 'out');
const elements = join(root, 'elements');
const victim = join(root, 'victim');
const env = { TMP_DIR: tmp, ELEMENTS_PATH: elements, DIB_AVOID_PACKAGES_UPDATE: '1' };

/** Victim files on the host: their content and mode must never change. */
function victimState(): string {
  return execFileSync('find', [victim, '-printf', '%p %m %s\\n']).toString().split('\n').sort().join('\n');
}

beforeAll(async () => {
  for (const d of [tmp, out, join(victim, 'log'), join(victim, 'root'), join(victim, 'manifests'), join(victim, 'tmp')])
    mkdirSync(d, { recursive: true });
  writeFileSync(join(victim, 'log', 'host.log'), 'host log line\n', { mode: 0o640 });
  writeFileSync(join(victim, 'root', 'notes.log'), 'host root notes\n', { mode: 0o600 });
  writeFileSync(join(victim, 'manifests', 'keep'), 'host manifests\n', { mode: 0o600 });
  writeFileSync(join(victim, 'secret'), 'root-only\n', { mode: 0o600 });
  writeTree(elements, {
    'tiny-os': tinyOsElement(),
    relink: {
      // Legitimate inside an image (/var/log -> /run/log style), deadly if followed on the host.
      'post-install.d': {
        '90-relink-dirs': x([`rm -rf /var/log /root`, `ln -s ${victim}/log /var/log`, `ln -s ${victim}/root /root`].join('\n')),
      },
    },
    'relink-manifests': {
      'element-deps': 'manifests\n',
      'post-install.d': { '90-relink-manifests': x(`rm -rf /etc/dib-manifests\nln -s ${victim}/manifests /etc/dib-manifests`) },
    },
    'relink-tmp': {
      'post-root.d': { '90-relink-tmp': x(`rm -rf "$TMP_MOUNT_PATH/tmp"\nln -s ${victim}/tmp "$TMP_MOUNT_PATH/tmp"`) },
      'finalise.d': { '10-needs-the-hooks': x('true') },
    },
    'env-secret': {
      'environment.d': { '20-app-password.bash': 'export DIB_APP_PASSWORD=Env-D-Secret-9931\n' },
      'install.d': { '50-leak-it': x('echo "password=$DIB_APP_PASSWORD" > /etc/app.conf') },
    },
    'weak-env-secret': {
      'environment.d': { '20-weak.bash': 'export DIB_APP_PASSWORD=root\n' },
      'root.d': { '99-marker': x('echo ROOT-HOOK-RAN') },
    },
  });
  await ensureCachedBaseTree(CACHE, env, out);
});
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

const build = (name: string, extra: string[], args: string[] = [], extraEnv: Record<string, string> = {}) =>
  runCli(
    'disk-image-create',
    ['--image-cache', CACHE, '-n', '-u', ...args, '-o', join(out, name), 'tiny-os', 'block-device-mbr', ...extra],
    { ...env, ...extraEnv },
    {
      timeout: 900_000,
    },
  );

describe('the host boundary, attacked', () => {
  it('a ledger planted by nobody in a world-writable TMP_DIR is reported and never acted on: the victim file and mount survive', async () => {
    const shared = join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const mnt = join(victim, 'mnt');
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt]);
    try {
      const evil = join(shared, 'dib_build.evil');
      const ledger = [
        { owner: { pid: 999999, start: 'x' }, workDir: '/', created: '' },
        { id: 0, kind: 'file', path: join(victim, 'secret') },
        { id: 1, kind: 'mount', path: mnt },
        { id: 2, kind: 'dir', path: victim },
      ]
        .map((o) => JSON.stringify(o))
        .join('\n');
      execFileSync('runuser', ['-u', 'nobody', '--', 'sh', '-c', `mkdir "${evil}" && cat > "${evil}/ledger.jsonl"`], {
        input: ledger + '\n',
      });
      const before = victimState();
      const r = await runCli('disk-image-create', ['--cleanup-stale'], { TMP_DIR: shared });
      expect(r.status).toBe(0);
      expect(r.stdout).toBe('nothing to release\n');
      expect(r.stderr).toContain(`not acting on ${evil}/ledger.jsonl: its work directory is owned by uid`);
      expect(victimState()).toBe(before);
      expect(readFileSync(join(victim, 'secret'), 'utf8')).toBe('root-only\n');
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(` ${mnt} `);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('an element relinking /var/log and /root to host paths: the build succeeds, its scrubbing never follows them; host files unchanged', async () => {
    const before = victimState();
    const r = await build('relink', ['relink']);
    expect(r.stderr.slice(-2000)).toContain('Build completed successfully');
    expect(victimState()).toBe(before);
    expect(readFileSync(join(victim, 'log', 'host.log'), 'utf8')).toBe('host log line\n');
    expect(readFileSync(join(victim, 'root', 'notes.log'), 'utf8')).toBe('host root notes\n');
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });

  it('an element relinking /etc/dib-manifests to a host directory: the manifests hook works inside the chroot and fails closed; nothing written or chmod-ed on the host', async () => {
    const before = victimState();
    const r = await build('relinkmanifests', ['relink-manifests']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/hook cleanup\.d\/01-copy-manifests-dir of element 'manifests' failed/);
    expect(victimState()).toBe(before);
    expect(readdirSync(join(victim, 'manifests'))).toEqual(['keep']);
    expect(statSync(join(victim, 'manifests')).mode & 0o777).toBe(0o755);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });

  it('an image whose /tmp became a link to a host directory: the build stops with a clear message before mounting there; nothing mounted or created on the host', async () => {
    const r = await build('relinktmp', ['relink-tmp']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("the image's /tmp is a symbolic link");
    expect(readdirSync(join(victim, 'tmp'))).toEqual([]);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });

  it('symlinks planted at the output name, its checksums and NAME.d: refused before anything is created, the victim untouched', async () => {
    const before = victimState();
    for (const name of ['planted.qcow2', 'planted.qcow2.md5']) symlinkSync(join(victim, 'secret'), join(out, name));
    symlinkSync(join(victim, 'manifests'), join(out, 'planted.d'));
    const r = await build('planted', [], ['--checksum', '-t', 'qcow2']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(out, 'planted.qcow2')} exists and is not a regular file (a symbolic link)`);
    expect(r.stderr).toContain(`${join(out, 'planted.qcow2.md5')} exists and is not a regular file (a symbolic link)`);
    expect(r.stderr).toContain(`${join(out, 'planted.d')} exists and is not a directory (a symbolic link)`);
    expect(r.stderr).not.toContain('Building in');
    expect(victimState()).toBe(before);
    for (const name of ['planted.qcow2', 'planted.qcow2.md5', 'planted.d']) rmSync(join(out, name));
  });

  it('a secret exported by environment.d, traced with -xx and written into the image: the build fails on the scan, and the value is in no log, event or message', async () => {
    const logfile = join(out, 'envsecret.log');
    const events = join(out, 'envsecret.events');
    const r = await build('envsecret', ['env-secret'], ['-x', '-x', '--logfile', logfile, '--events', events], { DIB_QUIET: '0' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('a secret value was found in 1 file of the image or its manifests');
    expect(r.stderr).toContain('***');
    for (const text of [r.stderr, r.stdout, readFileSync(logfile, 'utf8'), readFileSync(events, 'utf8')])
      expect(text).not.toContain('Env-D-Secret-9931');
    expect(existsSync(join(out, 'envsecret.qcow2'))).toBe(false);
    expect(existsSync(join(out, 'envsecret.d'))).toBe(false); // a failed build leaves no new NAME.d
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });

  it('a weak secret exported by environment.d is refused before any hook runs', async () => {
    const r = await build('weaksecret', ['weak-env-secret']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('DIB_APP_PASSWORD (exported by environment.d) is a secret variable with a value too short or too common');
    expect(r.stderr).not.toContain('ROOT-HOOK-RAN');
    expect(findLeaks(root)).toEqual(NO_LEAKS);
    expect(lstatSync(tmp).isDirectory()).toBe(true);
  });

  it('a same-size corrupted .deb in the package cache: install-packages removes it, fetches it again once and installs (real apt and dpkg in a chroot)', async () => {
    const mirror = readHostMirrors().mirror;
    expect(mirror).toBeTruthy();
    const tree = join(root, 'apt-tree');
    mkdirSync(tree);
    const tar = readdirSync(CACHE).find((n) => /^debootstrap-debian-bookworm-amd64-.*\.tar$/.test(n))!;
    execFileSync('tar', ['-C', tree, '--numeric-owner', '-xf', join(CACHE, tar)]);
    writeFileSync(join(tree, 'etc/apt/sources.list'), `deb ${mirror} bookworm main\n`);
    writeFileSync(join(tree, 'etc/resolv.conf'), readFileSync('/etc/resolv.conf'));
    execFileSync('install', ['-m', '0755', join(REPO, 'elements/dpkg/bin/install-packages'), join(tree, 'usr/local/bin/install-packages')]);
    const inTree = (cmd: string) =>
      spawnSync('chroot', [tree, '/bin/bash', '-c', cmd], {
        env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', LC_ALL: 'C' },
        encoding: 'utf8',
      });
    expect(inTree('apt-get -q -o Acquire::Languages=none update').status).toBe(0);
    expect(inTree('install-packages jq').status).toBe(0);
    expect(inTree('apt-get -y -q purge jq').status).toBe(0);
    const archives = join(tree, 'var/cache/apt/archives');
    const deb = readdirSync(archives).find((n) => /^jq_.*\.deb$/.test(n))!;
    const size = statSync(join(archives, deb)).size;
    const fd = openSync(join(archives, deb), 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x41), 0, 4096, Math.floor(size / 2)); // same size, broken content
    closeSync(fd);
    const again = inTree('install-packages jq');
    expect(again.stderr).toContain(
      `dpkg could not unpack /var/cache/apt/archives/${deb} from the shared package cache; removing and fetching again`,
    );
    expect(again.status).toBe(0);
    expect(inTree('jq --version').status).toBe(0);
    expect(statSync(join(archives, deb)).size).toBe(size);
  });
});
