// createDisk, mkfsCommand and finishDisk against fake host tools: the exact commands, their order, what the
// ledger records, and that unwinding releases everything in reverse.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LEDGER_NAME, Ledger } from '../../../src/core/ledger.js';
import { Resources } from '../../../src/core/resources.js';
import { createDisk, finishDisk, mkfsCommand } from '../../../src/disk/disk.js';
import { type Layout, parseLayout } from '../../../src/disk/layout.js';
import { unmountTree } from '../../../src/target/mounts.js';
import { type FakeBin, type FakeTool, installFakeBin } from '../../helpers/fake-bin.js';
import { fakeKernelTools, kernelState } from '../../helpers/fake-kernel.js';

const MiB = 1024 * 1024;
const params = { fsType: 'ext4', rootLabel: '', mkfsOptions: '-i 4096' };
const shipped = (element: string) =>
  readFileSync(join(import.meta.dirname, '..', '..', '..', 'elements', element, 'block-device-default.yaml'), 'utf8');
const EFI_LAYOUT = `
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: gpt
    partitions:
      - name: ESP
        type: 'EF00'
        size: 16MiB
        mkfs:
          name: mkfs_efi
          type: vfat
          label: efi
          mount:
            mount_point: /boot/efi
      - name: root
        type: '8300'
        size: 100%
        mkfs:
          name: mkfs_root
          uuid: 11111111-2222-3333-4444-555555555555
          opts: "-E lazy_itable_init=0"
          mount:
            mount_point: /
`;

let fake: FakeBin | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

function setup(partitions: number[], extra: Record<string, FakeTool> = {}) {
  fake = installFakeBin({
    ...fakeKernelTools({ partitions }),
    sfdisk: {},
    'mkfs.ext4': {},
    'mkfs.vfat': {},
    'mkfs.xfs': {},
    sync: {},
    fstrim: {},
    ...extra,
  });
  const { runner } = fake.runner();
  const work = join(fake.dir, 'work');
  const ledgerPath = join(fake.dir, LEDGER_NAME);
  const resources = new Resources(new Ledger(ledgerPath, work));
  const ledger = () =>
    readFileSync(ledgerPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .slice(1)
      .map((l) => JSON.parse(l) as unknown);
  return { fake, runner, resources, ledger, imageDir: join(work, 'image'), mountBase: join(work, 'mnt') };
}

async function create(t: ReturnType<typeof setup>, layout: Layout) {
  return createDisk(t.runner, { layout, sizeBytes: 64 * MiB, imageDir: t.imageDir, mountBase: t.mountBase, sectorSize: 512 }, t.resources);
}

describe('createDisk', () => {
  it('MBR (block-device-mbr): losetup, sfdisk with a dos script, partx, mkfs.ext4 with label and options, mount — in that order', async () => {
    const t = setup([1]);
    const disk = await create(t, parseLayout(shipped('block-device-mbr'), 'mbr', params));
    const raw = join(t.imageDir, 'image0.raw');
    expect(t.fake.argvs()).toEqual([
      ['losetup', '--find', '--show', '--partscan', raw],
      ['sfdisk', '--no-reread', '--no-tell-kernel', '--quiet', '--wipe', 'always', '/dev/loop7'],
      ['partx', '-a', '/dev/loop7'],
      ['mkfs.ext4', '-F', '-i', '4096', '-L', 'cloudimg-rootfs', '-q', '/dev/loop7p1'],
      ['mount', '/dev/loop7p1', `${t.mountBase}/`],
    ]);
    expect(t.fake.calls('sfdisk')[0].stdin).toBe('label: dos\nunit: sectors\nfirst-lba: 2048\n\ntype=83, bootable\n');
    expect(disk.imagePath).toBe(raw);
    expect(disk.device).toBe('/dev/loop7');
    expect(Object.fromEntries(disk.devices)).toEqual({ image0: '/dev/loop7', root: '/dev/loop7p1', mkfs_root: '/dev/loop7p1' });
    expect(disk.mounts).toEqual([{ mountPoint: '/', path: `${t.mountBase}/`, fsType: 'ext4' }]);
  });

  it('GPT (block-device-gpt): the sfdisk script has the BIOS boot and root partitions; only root gets a filesystem', async () => {
    const t = setup([1, 2]);
    const disk = await create(t, parseLayout(shipped('block-device-gpt'), 'gpt', { ...params, fsType: 'xfs', mkfsOptions: '' }));
    expect(t.fake.calls('sfdisk')[0].stdin).toBe(
      'label: gpt\nunit: sectors\nfirst-lba: 2048\n\n' +
        'size=16384, type=21686148-6449-6E6F-744E-656564454649, name="BSP"\n' +
        'type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n',
    );
    expect(t.fake.argvs().slice(2)).toEqual([
      ['partx', '-a', '/dev/loop7'],
      ['mkfs.xfs', '-f', '-L', 'img-rootfs', '-q', '/dev/loop7p2'],
      ['mount', '/dev/loop7p2', `${t.mountBase}/`],
    ]);
    expect(disk.devices.get('BSP')).toBe('/dev/loop7p1');
  });

  it('GPT with an ESP: mkfs per filesystem (vfat label upper-cased, ext4 -U uuid and opts), mounts parent first', async () => {
    const t = setup([1, 2]);
    const disk = await create(t, parseLayout(EFI_LAYOUT, 'efi.yaml', params));
    expect(t.fake.argvs().slice(3)).toEqual([
      ['mkfs.vfat', '-n', 'EFI', '/dev/loop7p1'],
      [
        'mkfs.ext4',
        '-F',
        '-E',
        'lazy_itable_init=0',
        '-L',
        'cloudimg-rootfs',
        '-U',
        '11111111-2222-3333-4444-555555555555',
        '-q',
        '/dev/loop7p2',
      ],
      ['mount', '/dev/loop7p2', `${t.mountBase}/`],
      ['mount', '/dev/loop7p1', `${t.mountBase}/boot/efi`],
    ]);
    expect(disk.mounts.map((m) => m.mountPoint)).toEqual(['/', '/boot/efi']);
  });

  it('partx is not run when the partition nodes already exist (a kernel that rescanned the table itself)', async () => {
    const t = setup([1], { sfdisk: { script: ': > "$FAKE_ROOT/dev/loop7p1"' } });
    await create(t, parseLayout(shipped('block-device-mbr'), 'mbr', params));
    expect(t.fake.argvs().map((a) => a[0])).toEqual(['losetup', 'sfdisk', 'mkfs.ext4', 'mount']);
  });

  it('records loop, partitions and mount in the ledger; unwinding unmounts, removes the mappings, detaches, and marks each released', async () => {
    const t = setup([1]);
    await create(t, parseLayout(shipped('block-device-mbr'), 'mbr', params));
    const raw = join(t.imageDir, 'image0.raw');
    expect(t.ledger()).toEqual([
      { id: 0, kind: 'loop', file: raw },
      { id: 1, kind: 'partitions', file: raw },
      { id: 2, kind: 'mount', path: `${t.mountBase}/` },
    ]);
    expect(kernelState(t.fake)).toEqual({ loops: { '/dev/loop7': raw }, partitions: ['/dev/loop7p1'], mounts: [t.mountBase] });
    t.fake.clear();
    expect(await t.resources.unwind()).toEqual([]);
    expect(t.fake.argvs()).toEqual([
      ['umount', t.mountBase],
      ['partx', '-d', '/dev/loop7'],
      ['losetup', '-d', '/dev/loop7'],
    ]);
    expect(kernelState(t.fake)).toEqual({ loops: {}, partitions: [], mounts: [] });
    expect(t.ledger().slice(3)).toEqual([{ released: 2 }, { released: 1 }, { released: 0 }]);
  });

  it('a failing mkfs leaves the loop and mappings on the stack, and unwinding releases them', async () => {
    const t = setup([1], { 'mkfs.ext4': { status: 1, stderr: 'mkfs.ext4: Device size reported to be zero.' } });
    await expect(create(t, parseLayout(shipped('block-device-mbr'), 'mbr', params))).rejects.toThrow('command failed (exit 1): mkfs.ext4');
    expect(await t.resources.unwind()).toEqual([]);
    expect(kernelState(t.fake)).toEqual({ loops: {}, partitions: [], mounts: [] });
    expect(t.fake.argvs('mount')).toEqual([]);
  });
});

describe('mkfsCommand', () => {
  const uuid = '0a0b0c0d-1111-2222-3333-444455556666';
  it.each([
    [
      'ext4',
      'cloudimg-rootfs',
      '-i 4096',
      uuid,
      ['mkfs.ext4', '-F', '-i', '4096', '-L', 'cloudimg-rootfs', '-U', uuid, '-q', '/dev/loop0p1'],
    ],
    ['ext4', 'cloudimg-rootfs', '', undefined, ['mkfs.ext4', '-F', '-L', 'cloudimg-rootfs', '-q', '/dev/loop0p1']],
    ['ext3', 'r', '  -b  4096 ', undefined, ['mkfs.ext3', '-F', '-b', '4096', '-L', 'r', '-q', '/dev/loop0p1']],
    ['xfs', 'img-rootfs', '', uuid, ['mkfs.xfs', '-f', '-L', 'img-rootfs', '-m', `uuid=${uuid}`, '-q', '/dev/loop0p1']],
    ['xfs', 'img-rootfs', '-i size=512', undefined, ['mkfs.xfs', '-f', '-i', 'size=512', '-L', 'img-rootfs', '-q', '/dev/loop0p1']],
    ['vfat', 'EFI', '-F 32', uuid, ['mkfs.vfat', '-F', '32', '-n', 'EFI', '/dev/loop0p1']],
    ['fat', 'EFI', '', undefined, ['mkfs.vfat', '-n', 'EFI', '/dev/loop0p1']],
    ['swap', 'swap', '', uuid, ['mkswap', '-L', 'swap', '-U', uuid, '/dev/loop0p1']],
    ['btrfs', 'root', '', uuid, ['mkfs.btrfs', '-f', '-L', 'root', '-U', uuid, '-q', '/dev/loop0p1']],
  ])('%s label=%s opts=%j uuid=%s', (type, label, opts, id, expected) => {
    expect(mkfsCommand(type, label, opts, id, '/dev/loop0p1')).toEqual(expected);
  });
});

describe('finishDisk and unmountTree', () => {
  it('finishDisk: sync and fstrim deepest mount first (no fstrim on vfat; fstrim status 1 tolerated), then unmounts deepest first', async () => {
    const t = setup([1, 2], { fstrim: { status: 1, stderr: 'fstrim: the discard operation is not supported' } });
    const disk = await create(t, parseLayout(EFI_LAYOUT, 'efi.yaml', params));
    t.fake.clear();
    await finishDisk(t.runner, disk);
    expect(t.fake.argvs()).toEqual([
      ['sync', '-f', `${t.mountBase}/boot/efi`],
      ['sync', '-f', `${t.mountBase}/`],
      ['fstrim', `${t.mountBase}/`],
      ['umount', `${t.mountBase}/boot/efi`],
      ['umount', t.mountBase],
    ]);
    expect(kernelState(t.fake).mounts).toEqual([]);
  });

  it('finishDisk fails when fstrim fails with a status other than 1', async () => {
    const t = setup([1], { fstrim: { status: 64 } });
    const disk = await create(t, parseLayout(shipped('block-device-mbr'), 'mbr', params));
    await expect(finishDisk(t.runner, disk)).rejects.toThrow('command failed (exit 64): fstrim');
  });

  it('unmountTree: everything at or below the path, deepest first; a sibling with the same prefix and other mounts stay', async () => {
    const t = setup([]);
    const base = join(t.fake.dir, 'mnt');
    const table = [base, `${base}/proc`, `${base}/dev`, `${base}/dev/pts`, `${base}2`, '/elsewhere', `${base}/boot/efi`];
    writeFileSync(join(t.fake.root, 'proc/self/mountinfo'), table.map((m, i) => `${i + 1} 1 0:0 / ${m} rw - tmpfs none rw\n`).join(''));
    await unmountTree(t.runner, `${base}/`);
    expect(t.fake.argvs()).toEqual([
      ['umount', `${base}/boot/efi`],
      ['umount', `${base}/dev/pts`],
      ['umount', `${base}/proc`],
      ['umount', `${base}/dev`],
      ['umount', base],
    ]);
    expect(kernelState(t.fake).mounts).toEqual([`${base}2`, '/elsewhere']);
  });

  it('unmountTree retries a busy umount and succeeds on the next attempt', async () => {
    const t = setup([], { umount: { ...fakeKernelTools().umount, failFirst: 1, failStatus: 32, failStderr: 'umount: target is busy.' } });
    const base = join(t.fake.dir, 'mnt');
    writeFileSync(join(t.fake.root, 'proc/self/mountinfo'), `1 1 0:0 / ${base} rw - ext4 /dev/loop7p1 rw\n`);
    await unmountTree(t.runner, base);
    expect(t.fake.argvs()).toEqual([
      ['umount', base],
      ['umount', base],
    ]);
    expect(kernelState(t.fake).mounts).toEqual([]);
  });
});
