// A container layer from the finished tree: walked with lstat (never through a link), owners, modes,
// hard links, devices and the carried xattrs kept (pax headers), the host's kernel filesystems left
// out. Its exact size is known before a byte is written, so it streams into the outer archive.
import { type BigIntStats, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Hash } from 'node:crypto';
import tar from 'tar-stream';
import { BuildError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import { type MemberHeader, END_OF_ARCHIVE, addEmpty, addFile, blocks, paxHeaderBlocks } from './archive.js';
import { readXattrs } from './xattrs.js';

/**
 * Top-level directories kept empty: in the mounted tree they hold the host's /proc, /sys and /dev
 * (bind-mounted for the chroot); a container runtime mounts its own there.
 */
export const EMPTY_DIRECTORIES = ['proc', 'sys', 'dev'];

export interface LayerMember {
  header: MemberHeader & { size: number };
  /** Absolute path of a regular file whose data follows the header. */
  file?: string;
  identity?: { dev: bigint; ino: bigint };
  /** Pax extended header blocks written before the member (long or non-ASCII names, big ids, xattrs). */
  pax?: Buffer;
}

export interface LayerPlan {
  members: LayerMember[];
  /** Bytes of the layer tar. */
  size: number;
}

const MAX_ID = 0o777777; // tar-stream writes ids in 6 octal digits

/** Walk `root` and plan the layer's members in a stable (byte-sorted, parents first) order. */
export async function planLayer(runner: Runner, root: string): Promise<LayerPlan> {
  const found: Found[] = [];
  walk(root, '', found);
  const topLevel = found.filter((f) => !f.rel.includes('/') && !EMPTY_DIRECTORIES.includes(f.rel)).map((f) => f.rel);
  const xattrs = await readXattrs(runner, root, topLevel);
  const firstLink = new Map<string, string>();
  const members: LayerMember[] = [];
  for (const { rel, abs, st } of found) {
    const mtime = Math.min(Math.max(Number(st.mtimeMs / 1000n), 0), 0o77777777777);
    const header: MemberHeader & { size: number } = {
      name: st.isDirectory() ? `${rel}/` : rel,
      mode: Number(st.mode), // with the type bits: tar-stream masks them, and a mode of 0 stays 0
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtime: new Date(mtime * 1000),
      size: 0,
    };
    const member: LayerMember = { header };
    const key = `${st.dev}:${st.ino}`;
    if (!st.isDirectory() && st.nlink > 1n && firstLink.has(key)) {
      header.type = 'link';
      header.linkname = firstLink.get(key);
    } else {
      if (!st.isDirectory() && st.nlink > 1n) firstLink.set(key, rel);
      if (st.isFile()) {
        header.type = 'file';
        header.size = Number(st.size);
        member.file = abs;
        member.identity = { dev: st.dev, ino: st.ino };
      } else if (st.isDirectory()) header.type = 'directory';
      else if (st.isSymbolicLink()) {
        header.type = 'symlink';
        header.linkname = utf8Name(readlinkSync(abs, { encoding: 'buffer' }), abs);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        header.type = st.isCharacterDevice() ? 'character-device' : 'block-device';
        header.devmajor = Number(((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn));
        header.devminor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & ~0xffn));
      } else if (st.isFIFO()) header.type = 'fifo';
      else continue; // sockets: tar has no such member (GNU tar skips them too)
    }
    // A hard link shares its first name's inode: the attributes travel once, with that member.
    member.pax = paxFor(header, header.type === 'link' ? [] : (xattrs.get(rel) ?? []), mtime);
    members.push(member);
  }
  const size = members.reduce((sum, m) => sum + (m.pax?.length ?? 0) + 512 + blocks(m.header.size), END_OF_ARCHIVE);
  return { members, size };
}

/** The planned layer's tar bytes, produced as they are read (hashed on the way); checked against the plan. */
export async function* layerBytes(plan: LayerPlan, hash: Hash): AsyncIterable<Buffer> {
  const pack = tar.pack();
  const filling = (async () => {
    for (const m of plan.members) {
      if (m.pax) pack.push(m.pax); // between members: the extended header applies to the next one
      if (m.file) await addFile(pack, m.header, m.file, { expect: m.identity });
      else await addEmpty(pack, m.header);
    }
    pack.finalize();
  })().catch((error: Error) => pack.destroy(error));
  let written = 0;
  try {
    for await (const chunk of pack as AsyncIterable<Buffer>) {
      hash.update(chunk);
      written += chunk.length;
      yield chunk;
    }
  } finally {
    pack.destroy(); // no-op once finished; stops the filling when the reader gave up
    await filling;
  }
  if (written !== plan.size) throw new BuildError(`the container layer came out ${written} bytes long, ${plan.size} were planned`);
}

/** The pax header a member needs, if any; the ustar header then gets ASCII stand-ins that fit. */
function paxFor(header: MemberHeader & { size: number }, xattrs: Array<[string, Buffer]>, mtime: number): Buffer | undefined {
  const records: Array<[string, Buffer | string]> = [];
  const fits = (s: string) => /^[\x20-\x7e]*$/.test(s) && s.length <= 100;
  if (!fits(header.name)) {
    records.push(['path', header.name]);
    header.name = standIn(header.name);
  }
  if (header.linkname !== undefined && !fits(header.linkname)) {
    records.push(['linkpath', header.linkname]);
    header.linkname = standIn(header.linkname);
  }
  for (const id of ['uid', 'gid'] as const) {
    if ((header[id] ?? 0) > MAX_ID) {
      records.push([id, String(header[id])]);
      header[id] = 0;
    }
  }
  for (const [name, value] of xattrs) records.push([`SCHILY.xattr.${name}`, value]);
  if (records.length === 0) return undefined;
  return paxHeaderBlocks(standIn(`PaxHeaders/${header.name}`), records, mtime);
}

/** An ASCII name of at most 100 bytes for readers that ignore pax (GNU tar does the same). */
function standIn(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length <= 100 ? ascii : ascii.slice(ascii.length - 100);
}

interface Found {
  rel: string;
  abs: string;
  st: BigIntStats;
}

/** Pre-order walk: each directory's entries sorted by their bytes; never into proc, sys, dev. */
function walk(root: string, rel: string, out: Found[]): void {
  const dir = rel ? join(root, rel) : root;
  for (const raw of readdirSync(dir, { encoding: 'buffer' }).sort((a, b) => Buffer.compare(a, b))) {
    const name = utf8Name(raw, join(dir, raw.toString('utf8')));
    const childRel = rel ? `${rel}/${name}` : name;
    const abs = join(dir, name);
    const st = lstatSync(abs, { bigint: true });
    out.push({ rel: childRel, abs, st });
    if (st.isDirectory() && !(rel === '' && EMPTY_DIRECTORIES.includes(name))) walk(root, childRel, out);
  }
}

/** A file name (or link target) as a string; names that are not UTF-8 cannot be carried faithfully. */
function utf8Name(raw: Buffer, where: string): string {
  const s = raw.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(raw))
    throw new BuildError(`${JSON.stringify(where)} has a name that is not UTF-8; the container layer cannot carry it`, {
      hint: 'rename it in the image (an element hook), or leave docker out of -t',
    });
  return s;
}
