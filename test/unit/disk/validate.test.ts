// Hostile and impossible layouts: every one is refused with exit 2 before a file, loop device or mount exists.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, ValidationErrors } from '../../../src/core/errors.js';
import { type LayoutParams, chooseLayoutSource, parseLayout } from '../../../src/disk/layout.js';
import { planPartitions } from '../../../src/disk/partition.js';
import { minimumLayoutBytes, requestedImageBytes } from '../../../src/disk/sizing.js';
import { validateLayout } from '../../../src/disk/validate.js';

const params: LayoutParams = { fsType: 'ext4', rootLabel: '', mkfsOptions: '-i 4096' };
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** The problems thrown by `fn` (one UsageError or several); fails the test when nothing is thrown. */
function problemsOf(fn: () => unknown): UsageError[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationErrors) return e.problems;
    if (e instanceof UsageError) return [e];
    throw e;
  }
  throw new Error('expected a UsageError');
}
/** Exactly one problem, exit 2, of `kind`, at `place`; returns its message. */
function onlyProblem(fn: () => unknown, kind: string, place: string): string {
  const problems = problemsOf(fn);
  expect(problems.map((p) => p.message)).toHaveLength(1);
  expect(problems[0].exitCode).toBe(2);
  expect(problems[0].kind).toBe(kind);
  expect(problems[0].message).toContain(`block-device config test.yaml: at ${place}: `);
  return problems[0].message;
}
const parse = (yaml: string, p: LayoutParams = params) => parseLayout(yaml, 'test.yaml', p);

/** MBR: a 1 GiB root, then a data partition taking the rest and mounted at `mp`. */
const withDataMount = (mp: string) => `
- local_loop:
    name: image0
- partitioning:
    base: image0
    label: mbr
    partitions:
      - name: root
        flags: [boot, primary]
        size: 1GiB
        mkfs:
          name: mkfs_root
          mount: {mount_point: /, fstab: {fsck-passno: 1}}
      - name: data
        flags: [primary]
        size: 100%
        mkfs:
          name: mkfs_data
          type: ext4
          mount: {mount_point: '${mp}'}
`;
const DATA_MP = '[1].partitioning.partitions[1].mkfs.mount.mount_point';

/** GPT with the given partitions (YAML list items) before a 100% root. */
const gptWith = (partitions: string[]) => `
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
${partitions.map((p) => `      - ${p}\n`).join('')}      - {name: root, size: 100%, mkfs: {name: mkfs_root, mount: {mount_point: /}}}
`;

describe('mount points', () => {
  it('a mount point climbing out with .. (/../../../../var/tmp/x) is refused at its mount_point', () => {
    const msg = onlyProblem(() => parse(withDataMount('/../../../../var/tmp/x')), 'invalid-block-device', DATA_MP);
    expect(msg).toContain("'..'");
  });
  it("'/.' (the root again, under another name) is refused", () => {
    onlyProblem(() => parse(withDataMount('/.')), 'invalid-block-device', DATA_MP);
  });
  it('a relative mount point is refused', () => {
    expect(onlyProblem(() => parse(withDataMount('var/tmp')), 'invalid-block-device', DATA_MP)).toContain('not an absolute path');
  });
  it("'/boot' and '/boot/' are the same mount point: the second is refused as mounted twice", () => {
    const yaml = `
- local_loop: {name: image0}
- partitioning:
    base: image0
    label: gpt
    partitions:
      - {name: boot1, size: 100MiB, mkfs: {type: ext4, mount: {mount_point: /boot}}}
      - {name: boot2, size: 100MiB, mkfs: {type: ext4, mount: {mount_point: /boot/}}}
      - {name: root, size: 100%, mkfs: {name: mkfs_root, mount: {mount_point: /}}}
`;
    const msg = onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[1].mkfs.mount.mount_point');
    expect(msg).toContain("'/boot' is mounted twice (also at [1].partitioning.partitions[0].mkfs.mount)");
  });
  it("'/boot/' alone is kept as '/boot' (fstab and the mount use the clean path)", () => {
    const l = parse(withDataMount('/srv//data/'));
    expect(l.mounts.map((m) => m.mountPoint)).toEqual(['/', '/srv/data']);
  });
});

describe('labels', () => {
  it('16 two-byte characters as the ext4 root label (32 bytes) are refused, naming --root-label', () => {
    const label = 'é'.repeat(16);
    const msg = onlyProblem(
      () => parse(withDataMount('/data'), { ...params, rootLabel: label }),
      'invalid-block-device',
      '[1].partitioning.partitions[0].mkfs.label',
    );
    expect(msg).toContain(`label '${label}' (from --root-label) is 32 bytes; ext4 allows 16 bytes`);
  });
  it('8 two-byte characters (16 bytes) are exactly what ext4 allows', () => {
    expect(parse(withDataMount('/data'), { ...params, rootLabel: 'é'.repeat(8) }).filesystems[0].label).toBe('é'.repeat(8));
  });
  it('xfs counts 12 bytes: a 13-byte label from the document is refused', () => {
    const yaml = withDataMount('/data').replace('type: ext4', 'type: xfs\n          label: abcdefghijklm');
    expect(onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[1].mkfs.label')).toContain(
      '13 bytes; xfs allows 12 bytes',
    );
  });
  it('a label with a space is refused (fstab would split it)', () => {
    const yaml = withDataMount('/data').replace('name: mkfs_data', "name: mkfs_data\n          label: 'my data'");
    expect(onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[1].mkfs.label')).toContain('whitespace');
  });
  it('a label with a newline is refused, and shown escaped in the message', () => {
    const yaml = withDataMount('/data').replace('name: mkfs_data', 'name: mkfs_data\n          label: "data\\n/dev/sda1 / ext4"');
    const msg = onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[1].mkfs.label');
    expect(msg).toContain("label 'data\\n/dev/sda1 / ext4'");
    expect(msg).not.toContain('\n');
  });
  it('a label with # or a quote is refused (fstab comment, quoting)', () => {
    for (const label of ['"data#1"', `"it's"`]) {
      const yaml = withDataMount('/data').replace('name: mkfs_data', `name: mkfs_data\n          label: ${label}`);
      onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[1].mkfs.label');
    }
  });
  it('a vfat label with a character mkfs.fat refuses is refused', () => {
    const yaml = withDataMount('/boot/efi').replace('type: ext4', 'type: vfat\n          label: "EFI:1"');
    expect(onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[1].mkfs.label')).toContain(
      'mkfs.fat refuses',
    );
  });
});

describe('partition tables', () => {
  it('200 GPT partitions are refused at the partitions list (a GPT holds 128)', () => {
    const parts = Array.from({ length: 199 }, (_, i) => `{name: p${i}, size: 1MiB}`);
    const msg = onlyProblem(() => parse(gptWith(parts)), 'invalid-block-device', '[1].partitioning.partitions');
    expect(msg).toContain('200 partitions; a GPT holds at most 128');
  });
  it('70 MBR logical partitions are refused at the partitions list', () => {
    const logicals = Array.from({ length: 70 }, (_, i) => `      - {name: l${i}, size: 1MiB}\n`).join('');
    const yaml = `- local_loop: {name: image0}\n- partitioning:\n    base: image0\n    label: mbr\n    partitions:\n      - {name: root, flags: [primary], size: 1GiB, mkfs: {name: mkfs_root, mount: {mount_point: /}}}\n${logicals}`;
    expect(onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions')).toContain('70 logical partitions');
  });
  it('an unknown GPT type code is refused by parseLayout, at the partition type', () => {
    const msg = onlyProblem(
      () => parse(gptWith(["{name: odd, size: 8MiB, type: 'ABCD'}"])),
      'invalid-block-device',
      '[1].partitioning.partitions[0].type',
    );
    expect(msg).toContain("unknown GPT type code 'ABCD'");
  });
  it('a 5th MBR primary partition is refused at its flags', () => {
    const primaries = Array.from({ length: 4 }, (_, i) => `      - {name: p${i}, flags: [primary], size: 10MiB}\n`).join('');
    const yaml = `- local_loop: {name: image0}\n- partitioning:\n    base: image0\n    label: mbr\n    partitions:\n${primaries}      - {name: root, flags: [primary], size: 100%, mkfs: {name: mkfs_root, mount: {mount_point: /}}}\n`;
    expect(onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[4].flags')).toContain(
      'room for 4 primary partitions',
    );
  });
  it('4 MBR primaries plus a logical one are refused: the extended partition needs the 4th slot', () => {
    const primaries = Array.from({ length: 4 }, (_, i) => `      - {name: p${i}, flags: [primary], size: 10MiB}\n`).join('');
    const yaml = `- local_loop: {name: image0}\n- partitioning:\n    base: image0\n    label: mbr\n    partitions:\n${primaries}      - {name: root, size: 100%, mkfs: {name: mkfs_root, mount: {mount_point: /}}}\n`;
    expect(onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[4].flags')).toContain('extended partition');
  });
  it('a 100% partition before others can never fit: refused without any image size', () => {
    const yaml = gptWith([]).replace('{name: root, size: 100%', '{name: big, size: 100%}\n      - {name: root, size: 1GiB');
    expect(onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[0].size')).toContain('can never fit');
  });
  it('a GPT partition name that would break out of the sfdisk script is refused', () => {
    onlyProblem(
      () => parse(gptWith(['{name: "x\\", type=EF00", size: 8MiB}'])),
      'invalid-block-device',
      '[1].partitioning.partitions[0].name',
    );
  });
});

describe('sizes known before the build', () => {
  const bigData = gptWith(['{name: data, size: 2GiB, mkfs: {type: ext4, mount: {mount_point: /data}}}']);
  it('partitions that do not fit --image-size 1 are refused by validateLayout, with the size that would fit', () => {
    const layout = parse(bigData);
    const imageSizeBytes = requestedImageBytes({ imageSizeGiB: 1, hasEfi: false });
    const problems = problemsOf(() => validateLayout(layout, { imageSizeBytes }));
    expect(problems).toHaveLength(1);
    expect(problems[0].kind).toBe('image-too-small');
    expect(problems[0].exitCode).toBe(2);
    expect(problems[0].message).toContain(
      "at [1].partitioning.partitions[0].size: partition 'data' does not fit: the image is 1024 MiB and the layout needs at least 2051 MiB",
    );
    expect(problems[0].hint).toContain('at least 2.1 GiB');
  });
  it('the same layout passes with --image-size 3, and when the size is computed from the tree', () => {
    const layout = parse(bigData);
    expect(() => validateLayout(layout, { imageSizeBytes: requestedImageBytes({ imageSizeGiB: 3, hasEfi: false }) })).not.toThrow();
    expect(() => validateLayout(layout, {})).not.toThrow();
  });
  it('the EFI pad counts: --image-size just below the need fits once the 525 MiB pad is added', () => {
    const layout = parse(bigData);
    const gib = 1.9;
    expect(
      problemsOf(() => validateLayout(layout, { imageSizeBytes: requestedImageBytes({ imageSizeGiB: gib, hasEfi: false }) }))[0].kind,
    ).toBe('image-too-small');
    expect(() => validateLayout(layout, { imageSizeBytes: requestedImageBytes({ imageSizeGiB: gib, hasEfi: true }) })).not.toThrow();
  });
  it('a local_loop with its own size too small for its partitions is refused by parseLayout, at the partition', () => {
    const yaml = bigData.replace('{name: image0}', '{name: image0, size: 1GiB}');
    const msg = onlyProblem(() => parse(yaml), 'image-too-small', '[1].partitioning.partitions[0].size');
    expect(msg).toContain("the local_loop 'image0' is 1024 MiB");
  });
  it('validateLayout and planPartitions share the arithmetic: both accept the minimum and refuse one MiB less', () => {
    // A relative partition before a fixed one: the minimum is not a plain sum.
    const layout = parse(gptWith(['{name: half, size: 50%}', '{name: data, size: 1GiB}']));
    const minimum = minimumLayoutBytes(layout);
    expect(minimum).toBeGreaterThan(2 * GiB);
    expect(() => validateLayout(layout, { imageSizeBytes: minimum })).not.toThrow();
    expect(() => planPartitions(layout.partitionings[0], minimum)).not.toThrow();
    expect(problemsOf(() => validateLayout(layout, { imageSizeBytes: minimum - MiB }))[0].kind).toBe('image-too-small');
    expect(problemsOf(() => planPartitions(layout.partitionings[0], minimum - MiB))[0].kind).toBe('image-too-small');
  });
});

describe('hostile YAML and names', () => {
  it('a YAML alias bomb (billion laughs) is a UsageError naming the first alias, not a crash', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    }
    const msg = onlyProblem(
      () => parse(`- local_loop:\n    name: image0\n    bomb:\n${levels.map((l) => `      ${l}`).join('\n')}\n`),
      'invalid-block-device',
      'line 5 column 14 (*a)',
    );
    expect(msg).toContain('aliases');
  });
  it('thousands of nested [ are refused before the YAML parser recurses into them', () => {
    onlyProblem(() => parse(`- local_loop: ${'['.repeat(5000)}${']'.repeat(5000)}\n`), 'invalid-block-device', 'line 1 column 31');
  });
  it('a local_loop name with / (the raw file would land elsewhere) is refused', () => {
    const yaml = withDataMount('/data').replace(
      'name: image0',
      'name: image0\n- local_loop:\n    name: ../../etc/evil\n    mkfs: {name: e, type: ext4}',
    );
    expect(
      problemsOf(() => parse(yaml))
        .map((p) => p.message)
        .join('\n'),
    ).toContain("at [1].local_loop.name: node name '../../etc/evil' contains");
  });
  it('fstab options with a newline (a second fstab line) are refused', () => {
    const yaml = withDataMount('/data').replace(
      "mount_point: '/data'}",
      'mount_point: \'/data\', fstab: {options: "defaults\\n/dev/sdb1 /root ext4 defaults"}}',
    );
    onlyProblem(() => parse(yaml), 'invalid-block-device', '[1].partitioning.partitions[1].mkfs.mount.fstab.options');
  });
  it('DIB_BLOCK_DEVICE_CONFIG=file:///dev/zero is refused as not a regular file, without reading it', () => {
    const problems = problemsOf(() => chooseLayoutSource({ config: 'file:///dev/zero', elements: [], arch: 'amd64' }));
    expect(problems[0].kind).toBe('invalid-block-device');
    expect(problems[0].message).toContain('/dev/zero: not a regular file');
  });
});

describe('LVM', () => {
  const lvm =
    '- local_loop: {name: image0}\n- lvm: {name: lvm, base: image0, pvs: [], vgs: [], lvs: [{name: lv_root}]}\n- mkfs: {name: mkfs_root, base: lv_root, mount: {mount_point: /}}\n';
  it('with device-mapper usable, the refusal says dib-ts does not build LVM, not that device-mapper is missing', () => {
    const msg = onlyProblem(() => parse(lvm, { ...params, deviceMapperProblem: () => undefined }), 'invalid-block-device', '[1].lvm');
    expect(msg).toContain('dib-ts does not build LVM layouts');
    expect(msg).not.toContain('device-mapper');
  });
  it('with /dev/mapper/control missing, the refusal also gives that reason', () => {
    const msg = onlyProblem(
      () => parse(lvm, { ...params, deviceMapperProblem: () => '/dev/mapper/control does not exist' }),
      'invalid-block-device',
      '[1].lvm',
    );
    expect(msg).toContain('device-mapper: /dev/mapper/control does not exist');
  });
});

describe('shipped layouts', () => {
  const root = join(import.meta.dirname, '..', '..', '..', 'elements');
  const files = readdirSync(root).flatMap((el) =>
    readdirSync(join(root, el))
      .filter((f) => /^block-device-.*\.yaml$/.test(f))
      .map((f) => join(root, el, f)),
  );
  it('there are shipped layouts to check', () => expect(files.length).toBeGreaterThanOrEqual(2));
  for (const fsType of ['ext4', 'xfs', 'btrfs']) {
    it(`every elements/*/block-device-*.yaml and the built-in fallback validate with FS_TYPE=${fsType} and --image-size 2`, () => {
      const fallback = chooseLayoutSource({ config: '', elements: [], arch: 'amd64' });
      for (const [text, source] of [...files.map((f) => [readFileSync(f, 'utf8'), f]), [fallback.text, fallback.source]]) {
        const layout = parseLayout(text, source, { ...params, fsType });
        expect(
          () => validateLayout(layout, { imageSizeBytes: requestedImageBytes({ imageSizeGiB: 2, hasEfi: false }) }),
          source,
        ).not.toThrow();
        expect(minimumLayoutBytes(layout), source).toBeLessThan(64 * MiB);
      }
    });
  }
});
