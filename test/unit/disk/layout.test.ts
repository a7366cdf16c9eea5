// Block-device YAML: tree notation, defaults, validation messages that point into the document.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, ValidationErrors } from '../../../src/core/errors.js';
import { parseLayout, renderFstab, rootFilesystem } from '../../../src/disk/layout.js';
import { planPartitions } from '../../../src/disk/partition.js';
import { parseSize } from '../../../src/disk/size.js';

const params = { fsType: 'ext4', rootLabel: '', mkfsOptions: '-i 4096' };
const shipped = (el: string) =>
  readFileSync(join(import.meta.dirname, '..', '..', '..', 'elements', el, 'block-device-default.yaml'), 'utf8');
const fails = (yaml: string, p = params) => {
  try {
    parseLayout(yaml, 'test.yaml', p);
  } catch (e) {
    expect(e instanceof UsageError || e instanceof ValidationErrors).toBe(true);
    expect((e as UsageError).exitCode).toBe(2);
    return (e as Error).message;
  }
  throw new Error('expected an error');
};

describe('size grammar', () => {
  it('parses DIB units', () => {
    expect(parseSize('1GiB')).toEqual({ bytes: 1024 ** 3 });
    expect(parseSize('1G')).toEqual({ bytes: 1e9 });
    expect(parseSize('1.5MiB')).toEqual({ bytes: 1.5 * 1024 * 1024 });
    expect(parseSize('512')).toEqual({ bytes: 512 });
    expect(parseSize('MiB')).toEqual({ bytes: 1024 * 1024 });
    expect(parseSize('50%')).toEqual({ percent: 50 });
    expect(parseSize('50%', false)).toBeNull();
    expect(parseSize('lots')).toBeNull();
  });
});

describe('shipped layouts', () => {
  it('block-device-mbr: one bootable root partition, root label and fs type merged into mkfs_root', () => {
    const l = parseLayout(shipped('block-device-mbr'), 'mbr', params);
    expect(l.partitionings[0].label).toBe('mbr');
    expect(l.partitionings[0].partitions.map((p) => [p.name, p.flags])).toEqual([['root', ['boot', 'primary']]]);
    expect(rootFilesystem(l)).toMatchObject({ name: 'mkfs_root', base: 'root', type: 'ext4', label: 'cloudimg-rootfs', opts: '-i 4096' });
    expect(renderFstab(l)).toBe('LABEL=cloudimg-rootfs / ext4 defaults 0 1\n');
  });
  it('xfs gets img-rootfs; --root-label wins', () => {
    expect(rootFilesystem(parseLayout(shipped('block-device-mbr'), 'mbr', { ...params, fsType: 'xfs' })).label).toBe('img-rootfs');
    expect(rootFilesystem(parseLayout(shipped('block-device-mbr'), 'mbr', { ...params, rootLabel: 'myroot' })).label).toBe('myroot');
  });
  it('block-device-gpt: BIOS boot partition then root', () => {
    const l = parseLayout(shipped('block-device-gpt'), 'gpt', params);
    const plan = planPartitions(l.partitionings[0], 2 * 1024 ** 3);
    expect(plan.script).toContain('label: gpt');
    expect(plan.script).toContain('size=16384, type=21686148-6449-6E6F-744E-656564454649, name="BSP"');
    expect(plan.script).toMatch(/type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\n$/);
    expect(plan.partitions).toEqual([
      { name: 'BSP', number: 1 },
      { name: 'root', number: 2 },
    ]);
  });
});

describe('tree notation and planning', () => {
  const twoParts = `
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: mbr
    partitions:
      - name: bootp
        flags: [boot, primary]
        size: 512MiB
        mkfs: {type: ext4, mount: {mount_point: /boot, fstab: {options: "defaults", fsck-passno: 2}}}
      - name: rootp
        flags: [primary]
        size: 100%
        mkfs:
          name: mkfs_root
          mount: {mount_point: /, fstab: {options: "defaults", fsck-passno: 1}}
      - name: logical
        size: 10%
`;
  it('names children <plugin>_<base> and orders fstab by mount point', () => {
    const l = parseLayout(twoParts.replace(/\n {6}- name: logical\n {8}size: 10%\n/, '\n'), 'x', params);
    expect(l.filesystems.map((f) => f.name)).toEqual(['mkfs_bootp', 'mkfs_root']);
    expect(l.mounts.map((m) => m.name)).toEqual(['mount_mkfs_bootp', 'mount_mkfs_root']);
    expect(renderFstab(l)).toBe('LABEL=cloudimg-rootfs / ext4 defaults 0 1\nLABEL=mkfs_bootp /boot ext4 defaults 0 2\n');
  });
  it('MBR logical partitions get an extended entry and numbers from 5', () => {
    const l = parseLayout(twoParts.replace('size: 100%', 'size: 50%'), 'x', params);
    const plan = planPartitions(l.partitionings[0], 4 * 1024 ** 3);
    expect(plan.partitions).toEqual([
      { name: 'bootp', number: 1 },
      { name: 'rootp', number: 2 },
      { name: 'logical', number: 5 },
    ]);
    expect(plan.script).toContain('type=5\n');
    expect(plan.script).toContain('size=1048576, type=83, bootable');
  });
  it('a layout that does not fit the image fails before anything is made, with the size that would fit', () => {
    const l = parseLayout(twoParts.replace('size: 100%', 'size: 50%'), 'x', params);
    let error: UsageError | undefined;
    try {
      planPartitions(l.partitionings[0], 100 * 1024 * 1024);
    } catch (e) {
      error = e as UsageError;
    }
    expect(error?.kind).toBe('image-too-small');
    expect(error?.hint).toMatch(/at least [\d.]+ GiB/);
  });
});

describe('validation points into the document', () => {
  it('syntax errors give line and column', () =>
    expect(fails('- local_loop:\n    name: [image0\n')).toMatch(/test.yaml: at line \d+ column \d+/));
  it('unknown node type', () => expect(fails('- local_loops:\n    name: image0\n')).toContain("at [0]: 'local_loops' is not a node type"));
  it('two keys in one entry', () => expect(fails('- local_loop: {name: image0}\n  mkfs: {}\n')).toContain('exactly one key'));
  it('unknown key, bad size, bad flag, bad label, missing base all at once', () => {
    const msg = fails(`
- local_loop:
    name: image0
    colour: red
- partitioning:
    base: image0
    label: bsd
    partitions:
      - name: root
        size: huge
        flags: [bootable]
        mkfs: {label: this-label-is-far-too-long, mount: {mount_point: /}}
- mkfs:
    name: orphan
    base: nothere
    type: ext4
`);
    expect(msg).toContain('[0].local_loop.colour: unknown key');
    expect(msg).toContain('[1].partitioning.label: must be mbr or gpt');
    expect(msg).toContain("[1].partitioning.partitions[0].size: 'huge' is not a size");
    expect(msg).toContain("unknown flag 'bootable'");
    expect(msg).toContain(
      "[1].partitioning.partitions[0].mkfs.label: label 'this-label-is-far-too-long' is 26 bytes; ext4 allows 16 bytes",
    );
    expect(msg).toContain("[2].mkfs.base: 'nothere' is not a partition or local_loop node");
  });
  it('duplicate names and mount points', () => {
    const msg = fails('- local_loop: {name: image0}\n- local_loop: {name: image0}\n');
    expect(msg).toContain("duplicate node name 'image0'");
  });
  it('no root filesystem', () =>
    expect(fails('- local_loop:\n    name: image0\n    mkfs: {type: ext4, mount: {mount_point: /data}}\n')).toContain(
      'no filesystem is mounted at /',
    ));
  it('LVM is refused early with a clear error, whatever the host has', () =>
    expect(fails('- local_loop: {name: image0}\n- lvm: {name: lvm, base: image0, pvs: [], vgs: [], lvs: []}\n')).toContain(
      'dib-ts does not build LVM layouts',
    ));
  it('primary flag on GPT is an error', () =>
    expect(
      fails(
        '- local_loop: {name: image0}\n- partitioning: {base: image0, label: gpt, partitions: [{name: root, size: 100%, flags: [primary], mkfs: {name: mkfs_root, mount: {mount_point: /}}}]}\n',
      ),
    ).toContain("'primary' is an MBR flag"));
});
