// The ONE host-side rule for an untrusted tree (the image being built, a mounted image, ...): each path is
// resolved inside the tree one component at a time, a relative link followed only while it stays inside,
// an absolute link or a climb above the root refused (the host would resolve it against its own /, so
// an image's `/var/log -> /run/log` would otherwise make the engine touch the host's /run/log); only
// regular files are opened, with O_NOFOLLOW|O_NONBLOCK, so a FIFO or a device node is never read.
import { type Stats, closeSync, constants, fstatSync, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import fg from 'fast-glob';
import { mountsBelow } from './mountinfo.js';

/** A path in the tree the host must not follow or read; the message is a finding about the tree. */
export class UnsafeTreePath extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeTreePath';
  }
}

export interface TreeEntry {
  /** Host path of the resolved entry (every component below the root a real directory). */
  path: string;
  /** Path inside the tree, `/`-rooted, after following links. */
  inTree: string;
  /** Its lstat, or undefined when it does not exist. */
  stat?: Stats;
}

const MAX_LINKS = 40;
const MAX_BYTES = 8 * 1024 * 1024;
const MAX_DEPTH = 16;

export class TreeReader {
  constructor(readonly root: string) {}

  /**
   * Resolve `rel` inside the tree: links in the middle are followed while they stay inside, the last
   * component too when `followLast`. Throws UnsafeTreePath for a link out of the tree or a loop.
   */
  resolve(rel: string, followLast = true): TreeEntry {
    const below: string[] = [];
    const queue = parts(rel);
    let links = 0;
    let lastLink: string | undefined;
    while (queue.length) {
      const part = queue.shift()!;
      if (part === '..') {
        if (!below.length)
          throw new UnsafeTreePath(
            lastLink
              ? `${lastLink}, which leads out of the image (not followed)`
              : `${show(rel)} leads above the image's root (not followed)`,
          );
        below.pop();
        continue;
      }
      const path = join(this.root, ...below, part);
      let stat: Stats;
      try {
        stat = lstatSync(path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return { path, inTree: `/${[...below, part, ...queue].join('/')}` };
        throw error;
      }
      const last = queue.length === 0;
      if (stat.isSymbolicLink() && (!last || followLast)) {
        const link = `/${[...below, part].join('/')}`;
        if (++links > MAX_LINKS) throw new UnsafeTreePath(`${show(rel)}: too many levels of symbolic links (at ${link})`);
        const target = readlinkSync(path);
        if (target.startsWith('/'))
          throw new UnsafeTreePath(`${link} is a symlink to ${target}, a path outside the image as the host sees it (not followed)`);
        lastLink = `${link} is a symlink to ${target}`;
        queue.unshift(...parts(target));
        continue;
      }
      below.push(part);
      if (last) return { path, inTree: `/${below.join('/')}`, stat };
      if (!stat.isDirectory()) return { path: join(path, ...queue), inTree: `/${[...below, ...queue].join('/')}` };
    }
    return { path: this.root, inTree: '/', stat: lstatSync(this.root) };
  }

  /** Whether `rel` exists (a link counts, followed or not). */
  exists(rel: string): boolean {
    return this.resolve(rel, false).stat !== undefined;
  }

  isLink(rel: string): boolean {
    return this.resolve(rel, false).stat?.isSymbolicLink() ?? false;
  }

  /** Names in the directory `rel`; [] when it does not exist. */
  list(rel: string): string[] {
    const entry = this.resolve(rel);
    if (!entry.stat) return [];
    if (!entry.stat.isDirectory()) throw new UnsafeTreePath(`${entry.inTree} is ${kindOf(entry.stat)}, not a directory (not listed)`);
    return readdirSync(entry.path).sort();
  }

  /**
   * Open the regular file `rel` for reading (the caller closes the descriptor); undefined when it does
   * not exist. The descriptor is checked to be the file resolved, so a swap after the check is refused.
   */
  open(rel: string): { fd: number; inTree: string; size: number } | undefined {
    const entry = this.resolve(rel);
    if (!entry.stat) return undefined;
    if (!entry.stat.isFile()) throw new UnsafeTreePath(`${entry.inTree} is ${kindOf(entry.stat)}, not a regular file (not read)`);
    const fd = openSync(entry.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || st.ino !== entry.stat.ino || st.dev !== entry.stat.dev)
        throw new UnsafeTreePath(`${entry.inTree} changed while it was opened (not read)`);
      return { fd, inTree: entry.inTree, size: st.size };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /** The first `maxBytes` of the regular file `rel`; undefined when it does not exist. */
  read(rel: string, maxBytes = MAX_BYTES): Buffer | undefined {
    const opened = this.open(rel);
    if (!opened) return undefined;
    const { fd } = opened;
    try {
      const buf = Buffer.alloc(Math.min(opened.size, maxBytes));
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, got);
        if (n === 0) break;
        got += n;
      }
      return buf.subarray(0, got);
    } finally {
      closeSync(fd);
    }
  }

  readText(rel: string, maxBytes = MAX_BYTES): string | undefined {
    return this.read(rel, maxBytes)?.toString('utf8');
  }

  /**
   * Call `visit` with the tree path of every regular file below the directory `rel` (nothing when it is
   * missing or not a directory). Links, FIFOs, devices and sockets below it are skipped (a masked unit's
   * `-> /dev/null` is normal).
   */
  walkFiles(rel: string, visit: (rel: string) => void, depth = 0): void {
    if (depth > MAX_DEPTH) throw new UnsafeTreePath(`${show(rel)} is nested more than ${MAX_DEPTH} directories deep (not walked)`);
    const dir = this.resolve(rel);
    if (!dir.stat?.isDirectory()) return;
    for (const name of readdirSync(dir.path).sort()) {
      const child = `${dir.inTree === '/' ? '' : dir.inTree}/${name}`;
      const st = lstatSync(join(dir.path, name));
      if (st.isDirectory()) this.walkFiles(child, visit, depth + 1);
      else if (st.isFile()) visit(child);
    }
  }
}

function parts(path: string): string[] {
  return path.split('/').filter((p) => p && p !== '.');
}

function show(rel: string): string {
  return `/${parts(rel).join('/')}`;
}

export function kindOf(stat: Stats): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSymbolicLink()) return 'a symlink';
  if (stat.isFile()) return 'a regular file';
  return 'not a regular file';
}

/** The host path of `rel` resolved inside the tree (see TreeReader.resolve), or undefined when it does not exist or leaves the tree. */
export function pathInTree(root: string, rel: string): string | undefined {
  try {
    const entry = new TreeReader(root).resolve(rel);
    return entry.stat ? entry.path : undefined;
  } catch (error) {
    if (error instanceof UnsafeTreePath) return undefined;
    throw error;
  }
}

/**
 * Regular files below `root/rel` (absolute host paths), never through a link out of the tree and never
 * below a mount point (a bind-mounted cache or host /dev must not be walked).
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
