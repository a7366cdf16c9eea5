// DIB's engine contract as prepared before anything runs: the layout variables hooks see from root.d on,
// the block-device params file, block-device.d's IMAGE_BLOCK_DEVICE= override, and the README table kept
// in step with ENGINE_VARIABLES.
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ENGINE_VARIABLES, blockDeviceOverride, blockDeviceParams, blockDeviceParamsTail } from '../../../src/build/dib-contract.js';
import { prepareBuild } from '../../../src/build/prepare.js';
import { type FlagValues, makeConfig } from '../../../src/config/settings.js';
import { REPO } from '../../helpers/cli.js';
import { el, tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir('dib-ts-contract-');
afterAll(() => dir.remove());
const elements = join(dir.path, 'elements');
const apt = join(dir.path, 'apt');
writeTree(apt, { 'sources.list': 'deb http://deb.example.org/debian bookworm main\n' });
writeTree(elements, {
  'my-os': el([], ['operating-system']),
});

const LAYOUT = `
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: mbr
    partitions:
      - name: boot
        size: 200MiB
        mkfs:
          type: ext2
          label: my-boot
          mount:
            mount_point: /boot
            fstab: { options: defaults, fsck-passno: 2 }
      - name: root
        size: 100%
        mkfs:
          name: mkfs_root
          mount:
            mount_point: /
            fstab: { options: defaults, fsck-passno: 1 }
`;

function prepare(names: string[], env: Record<string, string> = {}, flags: FlagValues = {}) {
  const full = { ELEMENTS_PATH: elements, PATH: process.env.PATH, ...env };
  const config = makeConfig(names, { skipBase: true, ...flags }, full);
  return prepareBuild(config, { argv: names, env: full, aptRoot: apt });
}

describe('layout variables: set before root.d, as DIB exports them after choosing the layout', () => {
  it('a layout with /boot: root label and type, boot label, mount points in document order joined by |', () => {
    const p = prepare(['my-os'], { DIB_BLOCK_DEVICE_CONFIG: LAYOUT, FS_TYPE: 'xfs' });
    expect({
      DIB_ROOT_LABEL: p.hookEnv.DIB_ROOT_LABEL,
      DIB_ROOT_FSTYPE: p.hookEnv.DIB_ROOT_FSTYPE,
      DIB_BOOT_LABEL: p.hookEnv.DIB_BOOT_LABEL,
      DIB_MOUNTPOINTS: p.hookEnv.DIB_MOUNTPOINTS,
    }).toEqual({ DIB_ROOT_LABEL: 'img-rootfs', DIB_ROOT_FSTYPE: 'xfs', DIB_BOOT_LABEL: 'my-boot', DIB_MOUNTPOINTS: '/boot|/' });
    expect(p.layoutText).toBe(LAYOUT);
  });
  it('the default layout: cloudimg-rootfs, ext4, no boot label, "/"; --root-label wins', () => {
    const p = prepare(['my-os']);
    expect([p.hookEnv.DIB_ROOT_LABEL, p.hookEnv.DIB_ROOT_FSTYPE, p.hookEnv.DIB_BOOT_LABEL, p.hookEnv.DIB_MOUNTPOINTS]).toEqual([
      'cloudimg-rootfs',
      'ext4',
      '',
      '/',
    ]);
    expect(prepare(['my-os'], {}, { rootLabel: 'mine' }).hookEnv.DIB_ROOT_LABEL).toBe('mine');
  });
});

describe("DIB's block-device params file", () => {
  it('has the keys DIB writes before root.d, and image-size/root-fs-opts appended before the disk is made', () => {
    const head = blockDeviceParams({
      configFile: '/w/block-device/config.yaml',
      imageDir: '/w/image',
      fsType: 'ext4',
      rootLabel: '',
      mountBase: '/w/mnt',
      buildDir: '/w',
    });
    const doc = parse(head + blockDeviceParamsTail(1048576, '-i 4096 -J size=64')) as Record<string, string>;
    expect(doc).toEqual({
      config: '/w/block-device/config.yaml',
      'image-dir': '/w/image',
      'root-fs-type': 'ext4',
      'root-label': '',
      'mount-base': '/w/mnt',
      'build-dir': '/w',
      'image-size': '1048576KiB',
      'root-fs-opts': '-i 4096 -J size=64',
    });
    expect(parse(blockDeviceParamsTail(64, ''))).toEqual({ 'image-size': '64KiB' });
  });
});

describe('block-device.d output: IMAGE_BLOCK_DEVICE= lines (DIB evals them)', () => {
  it('reads plain, exported and quoted assignments; the last wins; other output is ignored', () => {
    expect(blockDeviceOverride('making a disk\nIMAGE_BLOCK_DEVICE=/dev/loop3\n')).toEqual({ device: '/dev/loop3', bad: [] });
    expect(blockDeviceOverride('export IMAGE_BLOCK_DEVICE=\'/dev/loop4\'\nIMAGE_BLOCK_DEVICE="/dev/loop5"\n')).toEqual({
      device: '/dev/loop5',
      bad: [],
    });
    expect(blockDeviceOverride('IMAGE_BLOCK_DEVICES=[image0]=/dev/loop1\nnothing here\n')).toEqual({ device: undefined, bad: [] });
    expect(blockDeviceOverride('IMAGE_BLOCK_DEVICE=\n').device).toBe('');
  });
  it('a line that would need a shell to evaluate is reported, not guessed', () => {
    expect(blockDeviceOverride('IMAGE_BLOCK_DEVICE=$(losetup -f)\n').bad).toEqual(['IMAGE_BLOCK_DEVICE=$(losetup -f)']);
    expect(blockDeviceOverride('echo x; IMAGE_BLOCK_DEVICE=/dev/loop0\n').bad).toHaveLength(1);
  });
});

describe("README's hook environment table", () => {
  it('has one row per engine variable, with the phase it is set from', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const rows = new Map(
      [...readme.matchAll(/^\| `([A-Za-z_]+)` \| ([^|]+) \|/gm)]
        .map((m) => [m[1], m[2].trim()] as const)
        .filter(([, from]) => /^`/.test(from)),
    );
    for (const v of ENGINE_VARIABLES) {
      const from = v.only ? v.only.map((p) => `\`${p}\``).join(', ') + ' only' : `\`${v.from}\``;
      expect({ name: v.name, from: rows.get(v.name) }).toEqual({ name: v.name, from });
    }
  });
});
