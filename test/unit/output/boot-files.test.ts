// The baremetal element's kernel and initrd: which files are chosen in /boot, and that nothing outside
// the image is ever read through them.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyBootFile, selectBootFiles, versionCompare } from '../../../src/output/boot-files.js';
import { type TreeSpec, tempDir, writeTree } from '../../helpers/tree.js';

const NO_PATTERNS = { kernel: '', initrd: '' };
let dirs: Array<{ remove: () => void }> = [];
afterEach(() => {
  for (const d of dirs) d.remove();
  dirs = [];
});
function tree(spec: TreeSpec): string {
  const d = tempDir('dib-ts-boot-');
  dirs.push(d);
  writeTree(d.path, spec);
  return d.path;
}

describe('versionCompare (ls -v order)', () => {
  it('runs of digits compare as numbers: 6.1.0-28 after 6.1.0-9, 6.10 after 6.9', () => {
    const sorted = ['vmlinuz-6.1.0-28-amd64', 'vmlinuz-6.10.0-1-amd64', 'vmlinuz-6.1.0-9-amd64', 'vmlinuz-6.9.0-1-amd64'].sort(
      versionCompare,
    );
    expect(sorted).toEqual(['vmlinuz-6.1.0-9-amd64', 'vmlinuz-6.1.0-28-amd64', 'vmlinuz-6.9.0-1-amd64', 'vmlinuz-6.10.0-1-amd64']);
  });
});

describe('selectBootFiles', () => {
  it('the newest kernel by version with its own initrd', () => {
    const root = tree({
      boot: {
        'vmlinuz-6.1.0-9-amd64': 'k9',
        'initrd.img-6.1.0-9-amd64': 'i9',
        'vmlinuz-6.1.0-28-amd64': 'k28',
        'initrd.img-6.1.0-28-amd64': 'i28',
        'config-6.1.0-28-amd64': 'c',
      },
    });
    expect(selectBootFiles(root, NO_PATTERNS)).toEqual({
      files: { kernel: '/boot/vmlinuz-6.1.0-28-amd64', initrd: '/boot/initrd.img-6.1.0-28-amd64' },
    });
  });

  it("a newer initrd without its kernel is not paired with another kernel (DIB's separate newest-of-each would)", () => {
    const root = tree({ boot: { 'vmlinuz-6.1.0-9-amd64': 'k9', 'initrd.img-6.1.0-9-amd64': 'i9', 'initrd.img-6.1.0-28-amd64': 'stray' } });
    expect(selectBootFiles(root, NO_PATTERNS)).toEqual({
      files: { kernel: '/boot/vmlinuz-6.1.0-9-amd64', initrd: '/boot/initrd.img-6.1.0-9-amd64' },
    });
  });

  it('a newer kernel without an initrd is passed over for an older complete pair', () => {
    const root = tree({ boot: { 'vmlinuz-6.1.0-9-amd64': 'k9', 'initrd.img-6.1.0-9-amd64': 'i9', 'vmlinuz-6.1.0-28-amd64': 'k28' } });
    expect(selectBootFiles(root, NO_PATTERNS)).toEqual({
      files: { kernel: '/boot/vmlinuz-6.1.0-9-amd64', initrd: '/boot/initrd.img-6.1.0-9-amd64' },
    });
  });

  it('no kernel: a problem that lists what /boot holds; no /boot and an empty /boot say so', () => {
    expect(selectBootFiles(tree({ boot: { 'grub.cfg': '' } }), NO_PATTERNS)).toEqual({
      problem: "no kernel (vmlinuz-VERSION) with its initrd (initrd.img-VERSION) in the image's /boot: /boot holds grub.cfg",
    });
    expect(selectBootFiles(tree({ etc: {} }), NO_PATTERNS)).toEqual({ problem: 'the image has no /boot' });
    expect(selectBootFiles(tree({ boot: {} }), NO_PATTERNS)).toEqual({ problem: expect.stringMatching(/\/boot is empty$/) });
  });

  it('attack: kernel and initrd that are symlinks to host files (/etc/shadow) are never chosen; the pair that is really in the image is', () => {
    const root = tree({
      boot: {
        'vmlinuz-9.9.9-evil': { symlink: '/etc/shadow' },
        'initrd.img-9.9.9-evil': { symlink: '../../../../etc/passwd' },
        'vmlinuz-6.1.0-9-amd64': 'k9',
        'initrd.img-6.1.0-9-amd64': 'i9',
      },
    });
    expect(selectBootFiles(root, NO_PATTERNS)).toEqual({
      files: { kernel: '/boot/vmlinuz-6.1.0-9-amd64', initrd: '/boot/initrd.img-6.1.0-9-amd64' },
    });
    const onlyEvil = tree({
      boot: { 'vmlinuz-9.9.9-evil': { symlink: '/etc/shadow' }, 'initrd.img-9.9.9-evil': { symlink: '/etc/passwd' } },
    });
    expect(selectBootFiles(onlyEvil, NO_PATTERNS)).toHaveProperty('problem');
  });

  it('attack: /boot itself a symlink to the host /etc is not listed or followed', () => {
    const root = tree({ boot: { symlink: '/etc' } });
    expect(selectBootFiles(root, NO_PATTERNS)).toEqual({
      problem: expect.stringMatching(/\/boot is a symlink to \/etc, a path outside the image/),
    });
  });

  it('a relative link that stays in the image is followed (a kernel kept elsewhere in the tree)', () => {
    const root = tree({
      opt: { 'k-1': 'kernel', 'i-1': 'initrd' },
      boot: { 'vmlinuz-1': { symlink: '../opt/k-1' }, 'initrd.img-1': { symlink: '../opt/i-1' } },
    });
    expect(selectBootFiles(root, NO_PATTERNS)).toEqual({ files: { kernel: '/boot/vmlinuz-1', initrd: '/boot/initrd.img-1' } });
  });

  it('DIB_BAREMETAL_KERNEL_PATTERN and _INITRD_PATTERN (both): the newest match of each, globs never run in a shell', () => {
    const root = tree({
      boot: { 'bzImage-5.4': 'a', 'bzImage-5.10': 'b', 'ramdisk-5.10.gz': 'r', 'vmlinuz-6.1': 'v', 'initrd.img-6.1': 'i' },
    });
    expect(selectBootFiles(root, { kernel: 'bzImage-*', initrd: 'ramdisk-*' })).toEqual({
      files: { kernel: '/boot/bzImage-5.10', initrd: '/boot/ramdisk-5.10.gz' },
    });
    // Only one of the two: ignored, as in DIB.
    expect(selectBootFiles(root, { kernel: 'bzImage-*', initrd: '' })).toEqual({
      files: { kernel: '/boot/vmlinuz-6.1', initrd: '/boot/initrd.img-6.1' },
    });
    expect(selectBootFiles(root, { kernel: '$(touch pwned)*', initrd: 'ramdisk-*' })).toEqual({
      problem:
        "no regular file in /boot matches DIB_BAREMETAL_KERNEL_PATTERN='$(touch pwned)*' (/boot holds bzImage-5.10, bzImage-5.4, initrd.img-6.1, ramdisk-5.10.gz, vmlinuz-6.1)",
    });
    expect(existsSync(join(root, 'boot', 'pwned')) || existsSync('pwned')).toBe(false);
    expect(selectBootFiles(root, { kernel: '../etc/*', initrd: 'ramdisk-*' })).toEqual({
      problem: expect.stringMatching(/must match names in \/boot, without a '\/'/),
    });
  });
});

describe('copyBootFile', () => {
  it('copies the in-image file to a new file of mode 0644; an existing destination is not written through', async () => {
    const root = tree({ boot: { 'vmlinuz-1': 'kernel bytes' } });
    const out = tempDir('dib-ts-boot-out-');
    dirs.push(out);
    const dest = join(out.path, 'image.vmlinuz');
    await copyBootFile(root, '/boot/vmlinuz-1', dest);
    expect(readFileSync(dest, 'utf8')).toBe('kernel bytes');
    expect(statSync(dest).mode & 0o777).toBe(0o644);
    writeFileSync(join(out.path, 'planted'), 'victim');
    await expect(copyBootFile(root, '/boot/vmlinuz-1', join(out.path, 'planted'))).rejects.toThrow(/EEXIST/);
    expect(readFileSync(join(out.path, 'planted'), 'utf8')).toBe('victim');
  });
});
