// The baremetal element's files: the image's kernel and initrd, chosen in the finished tree's /boot and
// copied out beside the image as NAME.vmlinuz and NAME.initrd. The choice follows DIB's
// select_boot_kernel_initrd for Debian (the newest by version, `ls -v` order) with one bug fixed: DIB takes
// the newest kernel and the newest initrd separately, which pairs a kernel with another version's initrd
// when /boot holds an initrd without its kernel; here the initrd is the kernel's own. DIB's patterns
// (DIB_BAREMETAL_KERNEL_PATTERN and DIB_BAREMETAL_INITRD_PATTERN, both or neither) are globs matched
// against the names in /boot; DIB `eval`s them in a shell, here they are never run. Every path is read
// through the tree rule (links followed only inside the image, only regular files read).
import { closeSync, createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import fg from 'fast-glob';
import { TreeReader, UnsafeTreePath } from '../core/tree-read.js';

export interface BootFilePatterns {
  /** DIB_BAREMETAL_KERNEL_PATTERN ('' for the default). */
  kernel: string;
  /** DIB_BAREMETAL_INITRD_PATTERN ('' for the default). */
  initrd: string;
}

/** Paths inside the image, e.g. `/boot/vmlinuz-6.1.0-28-amd64`. */
export interface BootFiles {
  kernel: string;
  initrd: string;
}

export type BootFileChoice = { files: BootFiles } | { problem: string };

const KERNEL = /^vmlinu[xz]-(.+)$/;

/** GNU `ls -v` order, close enough for kernel versions: runs of digits compare as numbers. */
export function versionCompare(a: string, b: string): number {
  const runs = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const x = runs(a);
  const y = runs(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] === y[i]) continue;
    const dx = /^\d/.test(x[i]);
    const dy = /^\d/.test(y[i]);
    if (dx && dy) {
      const d = BigInt(x[i]) - BigInt(y[i]);
      if (d !== 0n) return d > 0n ? 1 : -1;
      return x[i].length - y[i].length;
    }
    return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

const newestFirst = (names: string[]) => [...names].sort((a, b) => versionCompare(b, a));

/** Choose the kernel and initrd in `tree`'s /boot; a problem (for the user) when there is none. */
export function selectBootFiles(tree: string, patterns: BootFilePatterns): BootFileChoice {
  const reader = new TreeReader(tree);
  let names: string[];
  let bootDir: string;
  try {
    const boot = reader.resolve('/boot');
    if (!boot.stat) return { problem: 'the image has no /boot' };
    if (!boot.stat.isDirectory()) return { problem: `the image's /boot is not a directory` };
    bootDir = boot.path;
    names = reader.list('/boot');
  } catch (error) {
    if (error instanceof UnsafeTreePath) return { problem: error.message };
    throw error;
  }
  const held = names.length ? `/boot holds ${names.join(', ')}` : '/boot is empty';
  const usable = (name: string) => {
    try {
      return reader.resolve(`/boot/${name}`).stat?.isFile() ?? false;
    } catch (error) {
      if (error instanceof UnsafeTreePath) return false; // a link out of the image is never a candidate
      throw error;
    }
  };
  if (patterns.kernel && patterns.initrd) {
    const pick = (what: string, pattern: string) => {
      if (pattern.includes('/')) throw new UnsafeTreePath(`${what} '${pattern}' must match names in /boot, without a '/'`);
      const found = newestFirst(
        fg.sync(pattern, { cwd: bootDir, deep: 1, onlyFiles: false, followSymbolicLinks: false, dot: true }),
      ).filter(usable);
      return found[0];
    };
    try {
      const kernel = pick('DIB_BAREMETAL_KERNEL_PATTERN', patterns.kernel);
      const initrd = pick('DIB_BAREMETAL_INITRD_PATTERN', patterns.initrd);
      if (!kernel) return { problem: `no regular file in /boot matches DIB_BAREMETAL_KERNEL_PATTERN='${patterns.kernel}' (${held})` };
      if (!initrd) return { problem: `no regular file in /boot matches DIB_BAREMETAL_INITRD_PATTERN='${patterns.initrd}' (${held})` };
      return { files: { kernel: `/boot/${kernel}`, initrd: `/boot/${initrd}` } };
    } catch (error) {
      if (error instanceof UnsafeTreePath) return { problem: error.message };
      throw error;
    }
  }
  for (const kernel of newestFirst(names.filter((n) => KERNEL.test(n)))) {
    const version = KERNEL.exec(kernel)![1];
    const initrd = [`initrd.img-${version}`, `initramfs-${version}.img`].find((n) => names.includes(n));
    if (usable(kernel) && initrd && usable(initrd)) return { files: { kernel: `/boot/${kernel}`, initrd: `/boot/${initrd}` } };
  }
  return { problem: `no kernel (vmlinuz-VERSION) with its initrd (initrd.img-VERSION) in the image's /boot: ${held}` };
}

/** Copy the in-image file `inTree` to the new file `dest` (mode 0644, as DIB's chmod a+r). */
export async function copyBootFile(tree: string, inTree: string, dest: string): Promise<void> {
  const opened = new TreeReader(tree).open(inTree);
  if (!opened) throw new UnsafeTreePath(`${inTree} disappeared from the image`);
  try {
    await pipeline(createReadStream('', { fd: opened.fd, autoClose: false }), createWriteStream(dest, { flags: 'wx', mode: 0o644 }));
  } finally {
    closeSync(opened.fd);
  }
}
