// Safe filesystem helpers: never remove a tree that has anything mounted below it.
import { type Stats, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from './errors.js';
import { mountsBelow } from './mountinfo.js';

/**
 * Remove a directory tree, refusing when anything is mounted at or below it: a recursive delete
 * crosses mount points, which is how image builders have wiped a host's /dev.
 */
export function safeRemoveTree(path: string): void {
  const mounts = mountsBelow(path);
  if (mounts.length) {
    throw new BuildError(`refusing to remove ${path}: ${mounts.length} mount${mounts.length > 1 ? 's are' : ' is'} still below it`, {
      details: mounts.map((m) => `mounted: ${m.mountPoint} (${m.fsType})`),
      hint: `unmount them first: umount -R ${path}`,
    });
  }
  rmSync(path, { recursive: true, force: true });
}

export function makeTempDir(parent: string, prefix: string): string {
  return mkdtempSync(join(parent, prefix));
}

/** lstat (never follows the last component), or undefined when nothing is there. */
export function lstatIfExists(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
