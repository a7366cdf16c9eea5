// Image size as a pure computation: the numbers a user gets for a tree size and flags.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../../src/core/errors.js';
import { parseLayout } from '../../../src/disk/layout.js';
import { type ImageSizeInput, computeImageSize, minimumLayoutBytes, needsEfiPad, requestedImageBytes } from '../../../src/disk/sizing.js';

const params = { fsType: 'ext4', rootLabel: '', mkfsOptions: '' };
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const shipped = (el: string) =>
  parseLayout(readFileSync(join(import.meta.dirname, '..', '..', '..', 'elements', el, 'block-device-default.yaml'), 'utf8'), el, params);
const input = (over: Partial<ImageSizeInput>): ImageSizeInput => ({
  treeKiB: 600 * 1024,
  imageSizeGiB: 0,
  imageExtraSizeMiB: 0,
  journalMiB: 64,
  fsType: 'ext4',
  layout: shipped('block-device-gpt'),
  hasEfi: false,
  ...over,
});

describe('minimumLayoutBytes', () => {
  it('GPT default: 1 MiB lead-in, 8 MiB BIOS boot, 1 MiB for root, 1 MiB tail', () =>
    expect(minimumLayoutBytes(shipped('block-device-gpt'))).toBe(11 * MiB));
  it('a filesystem straight on the disk needs nothing for a table', () => {
    expect(
      minimumLayoutBytes(
        parseLayout('- local_loop:\n    name: image0\n    mkfs: {name: mkfs_root, mount: {mount_point: /}}\n', 'x', params),
      ),
    ).toBe(0);
  });
  it('partitions on a local_loop with its own size do not count toward the image size', () => {
    const yaml =
      '- local_loop: {name: image0, mkfs: {name: mkfs_root, mount: {mount_point: /}}}\n- local_loop: {name: data, size: 20GiB}\n- partitioning: {base: data, label: gpt, partitions: [{name: d, size: 10GiB, mkfs: {type: ext4, mount: {mount_point: /data}}}]}\n';
    expect(minimumLayoutBytes(parseLayout(yaml, 'x', params))).toBe(0);
  });
});

describe('computeImageSize', () => {
  it('from the tree: used ÷ 0.6 + the ext4 journal + the layout, rounded up to 64 KiB', () => {
    expect(computeImageSize(input({}))).toBe((1024000 + 64 * 1024 + 11 * 1024) * 1024);
  });
  it('--image-extra-size replaces the ÷0.6 margin; no journal for xfs', () => {
    expect(computeImageSize(input({ imageExtraSizeMiB: 500, fsType: 'xfs' }))).toBe((600 + 500 + 11) * MiB);
  });
  it('--image-size is taken as is (plus the EFI pad), the same number validateLayout checked before the build', () => {
    expect(computeImageSize(input({ imageSizeGiB: 3 }))).toBe(3 * GiB);
    expect(computeImageSize(input({ imageSizeGiB: 3, hasEfi: true }))).toBe(3 * GiB + 525 * MiB);
    expect(computeImageSize(input({ imageSizeGiB: 3, hasEfi: true }))).toBe(requestedImageBytes({ imageSizeGiB: 3, hasEfi: true }));
  });
  it('--image-size too small for the tree is an image-too-small UsageError with the size that would do', () => {
    let error: UsageError | undefined;
    try {
      computeImageSize(input({ treeKiB: 2 * 1024 * 1024, imageSizeGiB: 1 }));
    } catch (e) {
      error = e as UsageError;
    }
    expect(error?.kind).toBe('image-too-small');
    expect(error?.exitCode).toBe(2);
    expect(error?.message).toContain('--image-size 1 GiB is too small for the tree (2048 MiB used)');
    expect(error?.hint).toMatch(/use --image-size 2\.4 or more/);
  });
  it('no --image-size means no requested size to check up front', () =>
    expect(requestedImageBytes({ imageSizeGiB: 0, hasEfi: true })).toBeUndefined());
});

describe('needsEfiPad', () => {
  it('matches DIC: any element named block-device-efi*', () => {
    expect(needsEfiPad(['vm', 'block-device-efi-4k'])).toBe(true);
    expect(needsEfiPad(['vm', 'block-device-gpt'])).toBe(false);
  });
});
