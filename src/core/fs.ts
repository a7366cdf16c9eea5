// Safe filesystem helpers: never remove a tree that has anything mounted below it.
import { type Stats, accessSync, constants, lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BuildError, UsageError } from './errors.js';
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

/** A file written whole at the end (temp file, rename): its directory must exist and take a new file. */
export function assertWritableDirectory(file: string, flag: string): void {
  try {
    accessSync(dirname(file), constants.W_OK);
    if (lstatSync(file, { throwIfNoEntry: false })?.isDirectory()) throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
  } catch (error) {
    throw new UsageError('invalid-output', `cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, {
      hint: `give ${flag} a path in an existing, writable directory`,
    });
  }
}
