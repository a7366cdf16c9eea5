// Writing tar archives with tar-stream: members from buffers or streamed from files (never held in
// memory), optionally gzipped, and pax extended headers with binary values (tar-stream's own pax
// support writes only UTF-8 strings, which would corrupt binary xattrs such as security.capability).
import { createHash, type Hash } from 'node:crypto';
import { constants, createReadStream, createWriteStream, openSync, closeSync, fstatSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar, { type Pack } from 'tar-stream';
import { BuildError } from '../core/errors.js';

export type { Pack };

/** One member's tar header (tar-stream's shape; `mode` may carry the file type bits, they are masked). */
export type MemberHeader = Parameters<Pack['entry']>[0];

/** Bytes of a tar member: header plus data padded to 512. */
export const blocks = (size: number): number => Math.ceil(size / 512) * 512;
/** What tar-stream writes after the last member. */
export const END_OF_ARCHIVE = 1024;

/**
 * Write a tar archive to `path` (created exclusively): `fill` adds the members in order. With `gzip`
 * the archive is compressed; `hash` sees the bytes written to the file.
 */
export async function writeArchive(
  path: string,
  fill: (pack: Pack) => Promise<void>,
  options: { gzip?: boolean; hash?: Hash } = {},
): Promise<void> {
  const pack = tar.pack();
  const out = createWriteStream(path, { flags: 'wx', mode: 0o644 });
  // tar-stream's streams are streamx streams; node's pipeline takes them as an async iterable.
  const source = (async function* () {
    yield* pack as AsyncIterable<Buffer>;
  })();
  const hash = options.hash;
  const hashed = async function* (chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      hash?.update(chunk);
      yield chunk;
    }
  };
  const written = options.gzip ? pipeline(source, createGzip(), hashed, out) : pipeline(source, hashed, out);
  // Without a handler here, a write error before `fill` settles would be an unhandled rejection.
  written.catch(() => undefined);
  try {
    await fill(pack);
    pack.finalize();
  } catch (error) {
    pack.destroy(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
  await written;
}

/** Add a member whose data is in memory. */
export function addBuffer(pack: Pack, header: MemberHeader, data: Buffer | string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ ...header, size: Buffer.byteLength(data) }, data, (error) => (error ? reject(error) : resolve()));
  });
}

/** Add a member with no data (directory, link, device, fifo). */
export function addEmpty(pack: Pack, header: MemberHeader): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ ...header, size: 0 }, (error) => (error ? reject(error) : resolve()));
  });
}

/** Add a member whose data comes from `source`, which must yield exactly `header.size` bytes. */
export async function addStream(pack: Pack, header: MemberHeader & { size: number }, source: AsyncIterable<Buffer>): Promise<void> {
  let settle: (error?: Error | null) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  const sink = pack.entry(header, (error) => settle(error));
  try {
    for await (const chunk of source) if (!sink.write(chunk)) await drained(sink);
    sink.end(undefined); // streamx types require an argument; undefined writes nothing
  } catch (error) {
    sink.destroy(error as Error);
  }
  await done;
}

/**
 * Add a regular file's data, read without following a link at its name; the file must still be the one
 * that was planned (`expect`: same inode and size), so a member never disagrees with its header.
 */
export async function addFile(
  pack: Pack,
  header: MemberHeader & { size: number },
  file: string,
  options: { expect?: { dev: bigint; ino: bigint } } = {},
): Promise<void> {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd, { bigint: true });
    const moved = options.expect && (st.dev !== options.expect.dev || st.ino !== options.expect.ino);
    if (!st.isFile() || moved || Number(st.size) !== header.size)
      throw new BuildError(`${file} changed while it was archived`, {
        hint: 'nothing may run in the image tree while outputs are written',
      });
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  if (header.size === 0) {
    closeSync(fd);
    return addBuffer(pack, header, Buffer.alloc(0));
  }
  // Never more than planned: a file growing meanwhile cannot push the archive out of step.
  await addStream(pack, header, createReadStream('', { fd, autoClose: true, start: 0, end: header.size - 1 }));
}

/** Resolves when `sink` takes more data; rejects if it is closed or fails first (a 'drain' would never come). */
function drained(sink: ReturnType<Pack['entry']>): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      sink.off('drain', onDrain);
      sink.off('close', onClose);
      sink.off('error', settle);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new Error('the archive member was closed before its data was written'));
    sink.on('drain', onDrain);
    sink.on('close', onClose);
    sink.on('error', settle);
  });
}

/** The hex digest of a file. */
export async function fileDigest(file: string, algorithm: 'sha1' | 'sha256'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A pax record `"<len> <key>=<value>\n"`, its length counting itself. Values are bytes. */
function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let length = body.length + String(body.length).length;
  if (String(length).length > String(body.length).length) length++;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/**
 * The blocks of a pax extended header (typeflag `x`) carrying `records` for the next member: a ustar
 * header named `name` (ASCII, at most 100 bytes), the records, padding.
 */
export function paxHeaderBlocks(name: string, records: Array<[string, Buffer | string]>, mtime: number): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  const header = ustarHeader({ name, mode: 0o644, size: body.length, mtime, typeflag: 'x' });
  return Buffer.concat([header, body, Buffer.alloc(blocks(body.length) - body.length)]);
}

function ustarHeader(h: { name: string; mode: number; size: number; mtime: number; typeflag: string }): Buffer {
  const buf = Buffer.alloc(512);
  const octal = (value: number, offset: number, width: number) =>
    buf.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, 'ascii');
  buf.write(h.name, 0, 100, 'ascii');
  octal(h.mode, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(h.size, 124, 12);
  octal(h.mtime, 136, 12);
  buf.write(h.typeflag, 156, 'ascii');
  buf.write('ustar\x0000', 257, 'ascii');
  buf.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return buf;
}
