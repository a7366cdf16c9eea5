// Root-only, no builds: `image-verify --offline` against tiny crafted images, each test written as the attack
// (links out of the image, qcow2 backing and data files, VMDK extents, device nodes, FIFOs, an nbd:// backing
// file, a file name that looks like a flag). The host side must stay untouched: the victim files keep their
// content and mode, no secret reaches the output, no connection is made, nothing stays mounted or attached.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { runCli, spawnUntil } from '../helpers/cli.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { type TreeSpec, writeTree } from '../helpers/tree.js';

const root = `/var/tmp/dib-ts-verify-hostile-${process.pid}`;
const tmp = join(root, 'tmp');
const env = { TMP_DIR: tmp };
const SECRET = `VICTIM-SECRET-${process.pid}`;
/** Host files an attack aims at; each test checks they are unchanged and that none of them leaks out. */
const victim = join(root, 'victim');
const hostDir = join(root, 'host-dir');
const guarded = ['/etc/shadow', victim, hostDir, join(hostDir, `secret-${process.pid}.deb`), join(hostDir, 'ssh_host_secret_key')];
const shadowLines = () =>
  readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .filter((l) => l.length >= 6);

/** The clean image: passes every offline check (a merged-usr /sbin link and a relative resolv.conf link included). */
const BASE: TreeSpec = {
  etc: {
    fstab: 'LABEL=cloudimg-rootfs / ext4 defaults 0 1\n',
    'machine-id': 'uninitialized\n',
    'resolv.conf': { symlink: '../run/systemd/resolve/stub-resolv.conf' },
    network: { interfaces: 'auto lo\niface lo inet loopback\n' },
  },
  boot: { grub: { 'grub.cfg': 'linux /vmlinuz root=LABEL=cloudimg-rootfs ro console=ttyS0\n' }, 'vmlinuz-6.1': '', 'initrd.img-6.1': '' },
  usr: { sbin: { 'start-stop-daemon': '\x7fELF not really' } },
  sbin: { symlink: 'usr/sbin' },
  tmp: {},
  run: {},
};

/** Write BASE, let `edit` plant the attack in the tree, and make a partitioned disk with mkfs.ext4 -d (no mount). */
function makeImage(name: string, edit: (tree: string) => void = () => {}, format = 'raw'): string {
  const tree = join(root, 'trees', name);
  rmSync(tree, { recursive: true, force: true });
  writeTree(tree, BASE);
  edit(tree);
  const raw = join(root, `${name}.raw`);
  execFileSync('truncate', ['-s', '40M', raw]);
  execFileSync('sfdisk', ['-q', raw], { input: 'start=2048, type=83\n' });
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, '-E', `offset=${2048 * 512}`, raw, '38M']);
  if (format === 'raw') return raw;
  const out = join(root, `${name}.${format}`);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, raw, out]);
  return out;
}

/** Replace `rel` in a tree with something hostile. */
const plant = {
  link: (tree: string, rel: string, target: string) => {
    rmSync(join(tree, rel), { recursive: true, force: true });
    symlinkSync(target, join(tree, rel));
  },
  fifo: (tree: string, rel: string) => {
    rmSync(join(tree, rel), { recursive: true, force: true });
    execFileSync('mkfifo', [join(tree, rel)]);
  },
  node: (tree: string, rel: string, type: 'b' | 'c', major: number, minor: number) => {
    rmSync(join(tree, rel), { recursive: true, force: true });
    execFileSync('mknod', [join(tree, rel), type, String(major), String(minor)]);
  },
};

const verify = (args: string[], options: { timeout?: number; cwd?: string } = {}) =>
  runCli('image-verify', ['--offline', ...args], env, { timeout: options.timeout ?? 120_000, cwd: options.cwd });

function hostState() {
  return guarded.map((p) => {
    const st = statSync(p);
    return { p, mode: st.mode, uid: st.uid, content: st.isDirectory() ? readdirSync(p).sort().join(' ') : readFileSync(p, 'base64') };
  });
}
let before: ReturnType<typeof hostState>;

/** Nothing leaked into the output, the host files are as they were, nothing is left mounted or attached. */
function expectHostUntouched(r: { stdout: string; stderr: string }): void {
  const output = r.stdout + r.stderr;
  expect(output).not.toContain(SECRET);
  for (const line of shadowLines()) expect(output).not.toContain(line);
  expect(hostState()).toEqual(before);
  expect(findLeaks(root)).toEqual(NO_LEAKS);
  expect(findLeaks(tmp)).toEqual(NO_LEAKS);
}

const fail = (name: string, detail: string) => new RegExp(`^\\s+FAIL\\s+offline\\s+${name}\\n\\s+${detail}`, 'm');

beforeAll(() => {
  mkdirSync(tmp, { recursive: true });
  writeFileSync(victim, `root=LABEL=cloudimg-rootfs ${SECRET}\n`.padEnd(4096, '\n'), { mode: 0o600 });
  mkdirSync(hostDir);
  writeFileSync(join(hostDir, `secret-${process.pid}.deb`), SECRET);
  writeFileSync(join(hostDir, 'ssh_host_secret_key'), SECRET, { mode: 0o600 });
  before = hostState();
});
afterEach(() => {
  expect(hostState()).toEqual(before);
});
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

describe('image-verify reads crafted images without reaching the host', () => {
  it('a clean image in every format image-verify reads passes every offline check', async () => {
    const raw = makeImage('clean');
    const images = [raw];
    for (const [format, options] of [['qcow2'], ['vmdk'], ['vmdk', 'subformat=streamOptimized'], ['vdi'], ['vhdx'], ['qed']]) {
      const out = join(root, `clean-${images.length}.${format}`);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', format, ...(options ? ['-o', options] : []), raw, out]);
      images.push(out);
    }
    for (const image of images) {
      const r = await verify([image]);
      expect(r.stdout, `${image}\n${r.stderr.slice(-2000)}`).toMatch(/^14 passed, 0 failed$/m);
      expect(r.status).toBe(0);
      expectHostUntouched(r);
    }
  });

  it('etc/machine-id -> /etc/shadow and boot/grub/grub.cfg -> a host file: findings, never their content', async () => {
    const image = makeImage('links-absolute', (t) => {
      plant.link(t, 'etc/machine-id', '/etc/shadow');
      plant.link(t, 'boot/grub/grub.cfg', victim);
    });
    const r = await verify([image]);
    expect(r.stdout).toMatch(fail('machine-id-uninitialized', '/etc/machine-id is a symlink to /etc/shadow, a path outside the image'));
    // Followed, the victim's root=LABEL= line would have made this check pass.
    expect(r.stdout).toMatch(fail('fstab-and-grub-agree-on-root', `/boot/grub/grub.cfg is a symlink to ${victim}`));
    expect(r.stdout).toMatch(/^12 passed, 2 failed$/m);
    expect(r.status).toBe(1);
    expectHostUntouched(r);
  });

  it('tmp -> /root, apt archives -> a host directory, etc/ssh climbing out with ../: findings, no host listing', async () => {
    const image = makeImage('links-dirs', (t) => {
      plant.link(t, 'tmp', '/root');
      mkdirSync(join(t, 'var/cache/apt'), { recursive: true });
      plant.link(t, 'var/cache/apt/archives', hostDir);
      plant.link(t, 'etc/ssh', `../../../../../../../../..${hostDir}`);
    });
    const r = await verify([image]);
    expect(r.stdout).toMatch(fail('tmp-empty', '/tmp is a symlink to /root, a path outside the image'));
    expect(r.stdout).toMatch(fail('no-package-cache', `/var/cache/apt/archives is a symlink to ${hostDir}`));
    expect(r.stdout).toMatch(fail('no-ssh-host-keys', '/etc/ssh is a symlink to \\.\\./.*, which leads out of the image'));
    expect(r.stdout).not.toMatch(/ssh_host_secret_key|secret-\d+\.deb|\.bashrc/);
    expect(r.stdout).toMatch(/^11 passed, 3 failed$/m);
    expectHostUntouched(r);
  });

  it('a qcow2 (and a qed) whose backing file is a host file: refused before qemu-img reads it', async () => {
    for (const format of ['qcow2', 'qed']) {
      const image = join(root, `backing.${format}`);
      execFileSync('qemu-img', ['create', '-q', '-f', format, '-F', 'raw', '-b', victim, '-u', image, '40M']);
      const r = await verify([image]);
      expect(r.stderr).toContain(`error: refusing to read ${image} (${format}): found a backing file ("${victim}")`);
      expect(r.stderr).not.toContain('qemu-img info'); // the header said it: qemu-img never ran
      expect(r.status).toBe(2);
      expectHostUntouched(r);
    }
  });

  it('a qcow2 with an external data file on the host: refused', async () => {
    const image = join(root, 'data-file.qcow2');
    const data = join(root, 'data-file-victim');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${data},data_file_raw=on`, image, '40M']);
    writeFileSync(data, `${SECRET}\n`);
    chmodSync(data, 0o600);
    const r = await verify([image]);
    expect(r.stderr).toContain(`error: refusing to read ${image} (qcow2): found an external data file`);
    expect(r.stderr).toContain(data);
    expect(r.status).toBe(2);
    expect(readFileSync(data, 'utf8')).toBe(`${SECRET}\n`);
    expectHostUntouched(r);
  });

  it('a VMDK descriptor whose extent is a host disk, and a sparse VMDK hiding one: refused', async () => {
    // The host "disk": a root filesystem whose machine-id is the secret (read, it would be printed).
    const hostDisk = makeImage('host-disk', (t) => writeFileSync(join(t, 'etc/machine-id'), `${SECRET}\n`));
    const sectors = statSync(hostDisk).size / 512;
    const descriptor = `# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n# Extent description\nRW ${sectors} FLAT "${hostDisk}" 0\n\nddb.virtualHWVersion = "4"\n`;
    const text = join(root, 'descriptor.vmdk');
    writeFileSync(text, descriptor);
    let r = await verify([text]);
    expect(r.stderr).toContain(`error: ${text} is a VMDK descriptor file naming extents in other files: "${hostDisk}"`);
    expect(r.stderr).not.toContain('qemu-img info');
    expect(r.status).toBe(2);
    expectHostUntouched(r);

    // A monolithic sparse VMDK whose header has capacity 0 and points at an embedded descriptor: qemu
    // opens the extents that descriptor names (block/vmdk.c, vmdk_open_vmdk4).
    const sparse = join(root, 'hidden-extent.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', sparse, '40M']);
    const fd = openSync(sparse, 'r+');
    try {
      const header = Buffer.alloc(512);
      readSync(fd, header, 0, 512, 0);
      header.writeBigUInt64LE(0n, 12); // capacity
      header.writeBigUInt64LE(1n, 28); // descriptor offset (sectors)
      header.writeBigUInt64LE(20n, 36); // descriptor size (sectors)
      writeSync(fd, header, 0, 512, 0);
      const desc = Buffer.alloc(20 * 512);
      desc.write(descriptor);
      writeSync(fd, desc, 0, desc.length, 512);
    } finally {
      closeSync(fd);
    }
    r = await verify([sparse]);
    expect(r.stderr).toContain(
      `error: refusing to read ${sparse} (vmdk): found a sparse header whose embedded descriptor names the extents`,
    );
    expect(r.stderr).toContain(hostDisk);
    expect(r.stderr).not.toContain('qemu-img info');
    expect(r.status).toBe(2);
    expectHostUntouched(r);
  });

  it('device nodes in the image (/dev/mem, a host block device): never opened', async () => {
    // A block device node naming a loop device the test attaches to the victim file.
    const device = execFileSync('losetup', ['--find', '--show', '--read-only', victim]).toString().trim();
    try {
      const rdev = statSync(device).rdev;
      const [major, minor] = [(rdev >> 8) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & 0xfff00)];
      const image = makeImage('devices', (t) => {
        plant.node(t, 'etc/machine-id', 'c', 1, 1);
        plant.node(t, 'boot/grub/grub.cfg', 'b', major, minor);
        plant.node(t, 'etc/network/interfaces', 'b', major, minor);
      });
      const r = await verify([image]);
      expect(r.stdout).toMatch(
        fail('machine-id-uninitialized', '/etc/machine-id is a character device, not a regular file \\(not read\\)'),
      );
      expect(r.stdout).toMatch(fail('fstab-and-grub-agree-on-root', '/boot/grub/grub.cfg is a block device, not a regular file'));
      expect(r.stdout).toMatch(/^12 passed, 2 failed$/m);
      expect(r.status).toBe(1);
      execFileSync('losetup', ['-d', device]);
      expectHostUntouched(r);
    } finally {
      if (existsSync(`/sys/block/${device.slice(5)}/loop`)) execFileSync('losetup', ['-d', device]);
    }
  });

  it('FIFOs at the checked paths: the run completes (nothing blocks on them) with findings', async () => {
    const image = makeImage('fifos', (t) => {
      for (const rel of ['etc/machine-id', 'boot/grub/grub.cfg', 'etc/network/interfaces', 'tmp']) plant.fifo(t, rel);
    });
    const r = await verify([image], { timeout: 60_000 });
    expect(r.stdout).toMatch(fail('machine-id-uninitialized', '/etc/machine-id is a FIFO, not a regular file \\(not read\\)'));
    expect(r.stdout).toMatch(fail('fstab-and-grub-agree-on-root', '/boot/grub/grub.cfg is a FIFO'));
    expect(r.stdout).toMatch(fail('tmp-empty', '/tmp is a FIFO, not a directory'));
    expect(r.stdout).toMatch(/^11 passed, 3 failed$/m);
    expect(r.status).toBe(1);
    expectHostUntouched(r);
  });

  it('an nbd:// backing file: refused, and no connection is made', async () => {
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const image = join(root, 'nbd.qcow2');
      execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', `nbd://127.0.0.1:${port}/export`, '-u', image, '40M']);
      const r = await verify([image]);
      expect(r.stderr).toContain(`found a backing file ("nbd://127.0.0.1:${port}/export")`);
      expect(r.status).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(connections).toBe(0);
      expectHostUntouched(r);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('an image named -offline.qcow2: after -- it is the image, without -- it is a bad flag', async () => {
    const image = makeImage('dash', () => {}, 'qcow2');
    rmSync(join(root, '-offline.qcow2'), { force: true });
    execFileSync('mv', ['--', image, join(root, '-offline.qcow2')]);
    let r = await verify(['--', '-offline.qcow2'], { cwd: root });
    expect(r.stdout).toContain(`image-verify ${join(root, '-offline.qcow2')}`);
    expect(r.stdout).toMatch(/^14 passed, 0 failed$/m);
    expect(r.status).toBe(0);
    expectHostUntouched(r);
    r = await verify(['-offline.qcow2'], { cwd: root });
    expect(r.stderr).toMatch(/^error: Unknown arguments?: /m);
    expect(r.status).toBe(2);
    expectHostUntouched(r);
  });

  it('killed outright while the image is mounted (ro,nodev,nosuid,noexec): --cleanup-stale releases the mount and loop device', async () => {
    const image = makeImage('killed', () => {}, 'qcow2');
    // A umount that waits: the verify is killed between its checks and its unmount, the mount in place.
    const slowBin = join(root, 'slow-bin');
    mkdirSync(slowBin, { recursive: true });
    const umount = execFileSync('sh', ['-c', 'command -v umount'], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
      .toString()
      .trim();
    writeFileSync(join(slowBin, 'umount'), `#!/bin/sh\nsleep 600\nexec ${umount} "$@"\n`, { mode: 0o755 });
    const { child, exited } = await spawnUntil(
      'image-verify',
      ['--offline', image],
      { ...env, PATH: `${slowBin}:${process.env.PATH}` },
      '+ umount ',
      { detached: true },
    );
    const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .find((f) => f[4]?.startsWith(join(tmp, 'dib_build.verify-')));
    expect(mounted?.[4]).toMatch(/\/dib_build\.verify-[^/]+\/root$/);
    expect(mounted?.[5].split(',')).toEqual(expect.arrayContaining(['ro', 'nodev', 'nosuid', 'noexec']));
    process.kill(-child.pid!, 'SIGKILL'); // the whole process group, like an OOM kill
    await exited;
    expect(findLeaks(root).loops.length).toBe(1);
    const r = await runCli('disk-image-create', ['--cleanup-stale'], env);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^released: unmounted .*\/dib_build\.verify-[^/]+\/root$/m);
    expect(r.stdout).toMatch(/^released: detached \/dev\/loop\d+ \(.*\/dib_build\.verify-[^/]+\/inspect\.raw\)$/m);
    expect(r.stdout).toMatch(/^released: removed .*\/dib_build\.verify-[^/]+$/m);
    expectHostUntouched(r);
    expect((await runCli('disk-image-create', ['--cleanup-stale'], env)).stdout).toBe('nothing to release\n');
  });
});
