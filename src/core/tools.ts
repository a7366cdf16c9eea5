// Host tools the build needs, and the Debian package that provides each (for hints).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const TOOL_PACKAGES: Record<string, string> = {
  'qemu-img': 'qemu-utils',
  debootstrap: 'debootstrap',
  sfdisk: 'fdisk',
  partx: 'util-linux',
  losetup: 'mount',
  mount: 'mount',
  umount: 'mount',
  'mkfs.ext4': 'e2fsprogs',
  'mkfs.xfs': 'xfsprogs',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  mmd: 'mtools',
  'grub-install': 'grub-pc-bin',
  'grub-mkimage': 'grub2-common',
  fstrim: 'util-linux',
  prlimit: 'util-linux',
  setpriv: 'util-linux',
  getfattr: 'attr',
  xorriso: 'xorriso',
  mksquashfs: 'squashfs-tools',
  rsync: 'rsync',
  chroot: 'coreutils',
  tar: 'tar',
  'qemu-system-x86_64': 'qemu-system-x86',
  'vhd-util': 'blktap-utils',
  ssh: 'openssh-client',
  'ssh-keygen': 'openssh-client',
  blkid: 'util-linux',
  e2fsck: 'e2fsprogs',
  resize2fs: 'e2fsprogs',
  bash: 'bash',
  zerofree: 'zerofree',
};

export function packageForTool(tool: string): string | undefined {
  return TOOL_PACKAGES[tool.split('/').pop() ?? tool];
}

/** Find an executable on PATH (with the sbin directories appended), or undefined. */
export function whichTool(tool: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of withSbin(path).split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** DIB appends the sbin directories when missing (root tools live there). */
export function withSbin(path: string): string {
  const parts = path.split(':').filter(Boolean);
  for (const dir of ['/sbin', '/usr/sbin', '/usr/local/sbin']) if (!parts.includes(dir)) parts.push(dir);
  return parts.join(':');
}
