// The image given to image-verify is untrusted input. It is copied into the work directory first (what is
// checked is what qemu-img later reads), its format is detected from its magic bytes and pinned, and its
// header and `qemu-img info` are checked before qemu-img reads any data: no backing file, no external data
// file, no extent in another file, nothing but a local file (the CVE-2024-32498 class: Nova and Glance read
// host files through crafted qcow2 and VMDK images).
import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';
import { CommandError, type Runner } from '../core/exec.js';
import { kindOf } from '../core/tree-read.js';

/** The formats disk-image-create writes and image-verify reads. */
export const IMAGE_FORMATS = ['raw', 'qcow2', 'vmdk', 'vdi', 'vhdx', 'qed'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

export interface CheckedImage {
  /** The path the user gave. */
  source: string;
  /** The private copy in the work directory (absolute). */
  path: string;
  format: ImageFormat;
  virtualSize: number;
}

const REFUSE_HINT =
  'image-verify reads only self-contained images (no backing file, no external data file, no extents in other files); flatten an image you trust first: qemu-img convert -O qcow2 IMAGE flat.qcow2';

/** Nova's limits for qemu-img info on untrusted images (nova/virt/images.py QEMU_IMG_LIMITS). */
export const INFO_LIMITS = ['prlimit', `--as=${1024 ** 3}`, '--cpu=30', '--'];

/** Copy `source` to `<dir>/image` and check the copy; throws UsageError (exit 2) naming what was refused. */
export async function takeImage(runner: Runner, source: string, dir: string): Promise<CheckedImage> {
  const path = join(dir, 'image');
  await copySparse(source, path);
  const file = await open(path, 'r');
  let format: ImageFormat;
  try {
    format = detectFormat(await readAt(file, 0, 4096), source);
    refuse(source, format, await headerProblems(file, format));
  } finally {
    await file.close();
  }
  const info = await qemuImgInfo(runner, path, format, source);
  refuse(source, format, infoProblems(info, path, format));
  return { source, path, format, virtualSize: info['virtual-size'] };
}

/**
 * Copy through one descriptor, checked to be a regular file (a FIFO or a device given as the image is
 * refused, not read), leaving holes for zero blocks so a sparse raw image stays sparse.
 */
async function copySparse(source: string, dest: string): Promise<void> {
  const from = await open(source, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = await from.stat();
    if (!st.isFile())
      throw new UsageError('invalid-image', `image ${source} is ${kindOf(st)}, not a regular file`, {
        hint: 'give the path of an image file (qcow2, raw, vmdk, vdi, vhdx or qed)',
      });
    const to = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const chunk = Buffer.alloc(1024 * 1024);
      const zero = Buffer.alloc(chunk.length);
      for (let pos = 0; ;) {
        const { bytesRead } = await from.read(chunk, 0, chunk.length, pos);
        if (bytesRead === 0) break;
        if (!chunk.subarray(0, bytesRead).equals(zero.subarray(0, bytesRead))) await to.write(chunk, 0, bytesRead, pos);
        pos += bytesRead;
      }
      await to.truncate(st.size);
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}

/** The format from the magic bytes; raw when none is known. Other formats are refused by name. */
export function detectFormat(head: Buffer, source: string): ImageFormat {
  const text = (offset: number, length: number) => head.subarray(offset, offset + length).toString('latin1');
  const unsupported = (what: string, hint = `convert it to qcow2 or raw first; image-verify reads ${IMAGE_FORMATS.join(', ')}`) => {
    throw new UsageError('unsupported-image', `${source} is ${what}, which image-verify does not read`, { hint });
  };
  if (text(0, 4) === 'QFI\xfb') {
    const version = head.length >= 8 ? head.readUInt32BE(4) : 0;
    if (version === 2 || version === 3) return 'qcow2';
    unsupported(`a qcow image of version ${version}`);
  }
  if (text(0, 4) === 'QED\0') return 'qed';
  if (text(0, 8) === 'vhdxfile') return 'vhdx';
  if (head.length >= 68 && head.readUInt32LE(64) === 0xbeda107f) return 'vdi';
  if (text(0, 4) === 'KDMV') return 'vmdk';
  if (text(0, 4) === 'COWD') unsupported('a VMDK3 (COWD) image');
  const start = text(0, head.length);
  if (/^# Disk DescriptorFile/m.test(start) || (/^\s*version=\d/m.test(start) && /^\s*createType\s*=/m.test(start))) {
    const extents = vmdkExtents(start);
    unsupported(`a VMDK descriptor file${extents.length ? ` naming extents in other files: ${extents.join(', ')}` : ''}`, REFUSE_HINT);
  }
  const others: Array<[string, string]> = [
    ['conectix', 'a VHD (vpc) image'],
    ['LUKS\xba\xbe', 'a LUKS-encrypted image'],
    ['WithoutFreeSpace', 'a Parallels image'],
    ['WithouFreSpacExt', 'a Parallels image'],
    ['Bochs Virtual HD Image', 'a Bochs image'],
    ['#!/bin/sh\n#V2.0 Format', 'a cloop image'],
  ];
  for (const [magic, what] of others) if (start.startsWith(magic)) unsupported(what);
  return 'raw';
}

/** What the image header asks qemu to open besides the file itself, read before qemu-img runs. */
async function headerProblems(file: FileHandle, format: ImageFormat): Promise<string[]> {
  const head = await readAt(file, 0, 4096);
  const problems: string[] = [];
  const cString = (b: Buffer) => quoted(b.toString('latin1').replace(/\0.*$/s, ''));
  if (format === 'qcow2' && head.length >= 72) {
    const version = head.readUInt32BE(4);
    const backingOffset = head.readBigUInt64BE(8);
    if (backingOffset !== 0n) {
      const size = Math.min(head.readUInt32BE(16), 1023);
      problems.push(`a backing file (${cString(await readAt(file, Number(backingOffset), size))})`);
    }
    if (head.readUInt32BE(32) !== 0) problems.push('encryption');
    let extensions = 72;
    if (version >= 3 && head.length >= 104) {
      if (head.readBigUInt64BE(72) & 4n) problems.push('an external data file (incompatible feature bit 2)');
      extensions = head.readUInt32BE(100);
    }
    const clusterSize = 2 ** Math.min(head.readUInt32BE(20), 21);
    const area = await readAt(file, 0, Math.min(clusterSize, 64 * 1024));
    for (let at = extensions; at + 8 <= area.length;) {
      const type = area.readUInt32BE(at);
      const length = area.readUInt32BE(at + 4);
      if (type === 0) break;
      if (type === 0x44415441) problems.push(`an external data file (${cString(area.subarray(at + 8, at + 8 + Math.min(length, 1023)))})`);
      if (type === 0x0537be77) problems.push('encryption (a LUKS header)');
      at += 8 + Math.ceil(length / 8) * 8;
    }
  }
  if (format === 'qed' && head.length >= 64) {
    const features = head.readBigUInt64LE(16);
    const offset = head.readUInt32LE(56);
    const size = Math.min(head.readUInt32LE(60), 1023);
    if (features & 1n || offset !== 0)
      problems.push(`a backing file (${offset && size ? cString(await readAt(file, offset, size)) : 'named in the header'})`);
  }
  if (format === 'vmdk' && head.length >= 44) {
    const capacity = head.readBigUInt64LE(12);
    const descOffset = head.readBigUInt64LE(28);
    const descSize = head.readBigUInt64LE(36);
    // qemu reads the descriptor for the parent at sector 1 and, for a header of capacity 0, opens the
    // extents its embedded descriptor names (block/vmdk.c vmdk_open_vmdk4, vmdk_parent_open).
    const descriptors = [(await readAt(file, 512, 10 * 1024)).toString('latin1')];
    if (descOffset > 0n && descOffset < 2n ** 40n)
      descriptors.push((await readAt(file, Number(descOffset) * 512, Math.min(Number(descSize) * 512, 64 * 1024))).toString('latin1'));
    const extents = [...new Set(descriptors.flatMap(vmdkExtents))];
    if (capacity === 0n && descOffset !== 0n)
      problems.push(`a sparse header whose embedded descriptor names the extents${extents.length ? ` (${extents.join(', ')})` : ''}`);
    else if (extents.length > 1) problems.push(`more than one extent (${extents.join(', ')})`);
    for (const d of descriptors) {
      const parent = /parentFileNameHint\s*=\s*"?([^"\n]*)/.exec(d);
      if (parent) problems.push(`a parent image (${quoted(parent[1])})`);
      const type = /^\s*createType\s*=\s*"?([^"\n]*)/m.exec(d);
      if (type && !['monolithicSparse', 'streamOptimized'].includes(type[1])) problems.push(`create type ${quoted(type[1])}`);
    }
  }
  return [...new Set(problems)];
}

export interface QemuImgInfo {
  format: string;
  filename: string;
  'virtual-size': number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: {
    type: string;
    data?: {
      'data-file'?: string;
      encrypt?: unknown;
      'create-type'?: string;
      extents?: Array<{ filename: string }>;
    };
  };
  children?: Array<{ name: string; info: { filename?: string; format?: string } }>;
}

async function qemuImgInfo(runner: Runner, path: string, format: ImageFormat, source: string): Promise<QemuImgInfo> {
  let out: string;
  try {
    out = await runner.output([...INFO_LIMITS, 'qemu-img', 'info', '--output=json', '-f', format, '--', path], { timeoutSeconds: 60 });
  } catch (error) {
    if (!(error instanceof CommandError) || error.status === undefined) throw error;
    throw new UsageError('invalid-image', `qemu-img cannot read ${source} as ${format}`, { details: error.details });
  }
  try {
    return JSON.parse(out) as QemuImgInfo;
  } catch {
    throw new UsageError('invalid-image', `qemu-img info printed no JSON for ${source}`);
  }
}

/** What `qemu-img info` (format pinned) shows the image refers to besides the file itself. */
export function infoProblems(info: QemuImgInfo, path: string, format: ImageFormat): string[] {
  const problems: string[] = [];
  if (info.format !== format) problems.push(`qemu-img reads it as ${info.format}, not ${format}`);
  if (info.filename !== path) problems.push(`qemu-img opened ${quoted(info.filename)}, not the local file`);
  const backing = info['full-backing-filename'] ?? info['backing-filename'];
  if (backing !== undefined) problems.push(`a backing file (${quoted(backing)})`);
  else if (info['backing-filename-format'] !== undefined) problems.push(`a backing file of format ${info['backing-filename-format']}`);
  const data = info['format-specific']?.data ?? {};
  if (data['data-file'] !== undefined) problems.push(`an external data file (${quoted(data['data-file'])})`);
  if (data.encrypt !== undefined) problems.push('encryption');
  if (format === 'vmdk') {
    const type = data['create-type'] ?? '';
    if (!['monolithicSparse', 'streamOptimized'].includes(type)) problems.push(`VMDK create type ${quoted(type)}`);
    const extents = data.extents ?? [];
    if (extents.length !== 1) problems.push(`${extents.length} extents`);
    for (const e of extents) if (e.filename !== path) problems.push(`an extent in another file (${quoted(e.filename)})`);
  }
  for (const child of info.children ?? []) {
    if (child.name !== 'file') problems.push(`a ${child.name} child (${quoted(child.info.filename ?? '')})`);
    else if (child.info.format !== undefined && child.info.format !== 'file') problems.push(`the ${child.info.format} protocol`);
  }
  return [...new Set(problems)];
}

function refuse(source: string, format: ImageFormat, problems: string[]): void {
  if (!problems.length) return;
  throw new UsageError('unsafe-image', `refusing to read ${source} (${format}): found ${problems.join('; ')}`, {
    hint: REFUSE_HINT,
  });
}

/** A string from the image in a message: quoted, control characters escaped. */
function quoted(s: string): string {
  return JSON.stringify(s).replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function vmdkExtents(descriptor: string): string[] {
  return [...descriptor.matchAll(/^\s*(?:RW|RDONLY|NOACCESS)\s+\d+\s+\w+\s+"([^"]*)"/gm)].map((m) => quoted(m[1]));
}

async function readAt(file: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(Math.max(0, length));
  const { bytesRead } = await file.read(buf, 0, buf.length, position);
  return buf.subarray(0, bytesRead);
}
