// Where the kernel's state (/dev nodes, /sys/block, /proc/partitions, the mount table) is read: "/" on a
// host; unit tests point it at a temporary tree that their fake losetup, partx, mount and umount change.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type MountEntry, isMountPoint, mountsBelow } from './mountinfo.js';

export class HostView {
  constructor(readonly root = '/') {}

  /** The path through which a kernel path (`/dev/loop0p1`, `/sys/block/loop0`) is read. */
  path(kernelPath: string): string {
    return this.root === '/' ? kernelPath : join(this.root, kernelPath);
  }

  exists(kernelPath: string): boolean {
    return existsSync(this.path(kernelPath));
  }

  /** The file's text, or undefined when it cannot be read. */
  read(kernelPath: string): string | undefined {
    try {
      return readFileSync(this.path(kernelPath), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Mounts at `path` or below it, deepest first. */
  mountsBelow(path: string, includeSelf = true): MountEntry[] {
    return mountsBelow(path, includeSelf, this.path('/proc/self/mountinfo'));
  }

  isMountPoint(path: string): boolean {
    return isMountPoint(path, this.path('/proc/self/mountinfo'));
  }
}

/** The real host. */
export const HOST = new HostView();
