// The host-side rule for the image tree (and other untrusted trees): never follow the tree's symlinks.
// A path inside the tree is used on the host only when no component below the tree root is a symlink,
// so an image's `/var/log -> /run/log` can never make the engine touch the host's /run/log.
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import fg from 'fast-glob';
import { mountsBelow } from './mountinfo.js';

/** `root/rel` when every component below `root` exists and is not a symlink; else undefined. */
export function pathInTree(root: string, rel: string): string | undefined {
  let path = root;
  for (const part of rel.split('/').filter((p) => p && p !== '.')) {
    if (part === '..') return undefined;
    path = join(path, part);
    try {
      if (lstatSync(path).isSymbolicLink()) return undefined;
    } catch {
      return undefined;
    }
  }
  return path;
}

/**
 * Regular files below `root/rel` (absolute paths), never through a symlink and never below a mount
 * point (a bind-mounted cache or host /dev must not be walked).
 */
export function regularFilesInTree(root: string, rel: string): string[] {
  const dir = pathInTree(root, rel);
  if (!dir) return [];
  const ignore = mountsBelow(dir)
    .map((m) => m.mountPoint.slice(dir.length + 1))
    .filter(Boolean)
    .map((p) => `${fg.escapePath(p)}/**`);
  return fg.sync('**', { cwd: dir, absolute: true, dot: true, onlyFiles: true, followSymbolicLinks: false, ignore });
}
