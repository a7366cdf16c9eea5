// One image into Glance: check the file is what its name says, hash it, reuse an identical image of the
// same name, else create the image with the image guide's properties, stream the data (PUT .../file, or
// stage + glance-direct import), wait for `active`, check Glance's checksum and os_hash_value against
// ours, and with --replace keep the previous image renamed with its date. Any failure or interrupt
// after the image exists deletes it: nothing is left queued in Glance.
import { createHash, type Hash, randomUUID } from 'node:crypto';
import { closeSync, constants, createReadStream, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { INFO_LIMITS, type ImageFormat, type QemuImgInfo, detectFormat, infoProblems } from '../verify/image-file.js';
import { basename } from 'node:path';
import { Transform } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { UsageError } from '../core/errors.js';
import { type Logger, uploadProgressLine as progressLine } from '../core/log.js';
import { sleep } from '../core/retry.js';
import { errorMessage } from '../core/cleanup-stack.js';
import { OUTPUT_TYPES, type OutputType } from '../output/types.js';
import { type Glance, type GlanceImage, CloudError } from './openstack.js';
import { glanceProperties, readImageMetadata, stemOf } from './image-metadata.js';

/** How to upload (the same for every file of a run). */
export interface UploadSettings {
  name?: string;
  diskFormat?: string;
  containerFormat?: string;
  visibility: string;
  tags: string[];
  properties: Record<string, string>;
  useImport: boolean;
  replace: boolean;
  /** Seconds to wait for `active` after the data is sent. */
  waitSeconds: number;
}

export interface UploadRequest extends UploadSettings {
  file: string;
}

export interface UploadResult {
  file: string;
  id: string;
  name: string;
  status: string;
  diskFormat: string;
  containerFormat: string;
  size: number;
  checksum: string;
  osHashAlgo: string;
  osHashValue: string;
  /** An identical image of the same name was there already: nothing was uploaded. */
  reused: boolean;
  /** Images renamed by --replace (id → new name). */
  replaced: Array<{ id: string; name: string }>;
  seconds: number;
  /** Bytes per second of the data transfer (0 when reused). */
  rate: number;
}

/** What a file is, from the output table: its type and Glance formats. */
export interface FileKind {
  type?: OutputType;
  diskFormat: string;
  containerFormat: string;
  stem: string;
}

/** The output type whose file name FILE has (the longest extension wins: `.stemcell.tgz` before `.tgz`). */
export function kindOf(file: string, override: { diskFormat?: string; containerFormat?: string }): FileKind {
  const type = [...OUTPUT_TYPES].sort((a, b) => b.extension.length - a.extension.length).find((t) => file.endsWith(`.${t.extension}`));
  const stem = type ? stemOf(file, type.extension) : file.replace(/\.[^./]*$/, '');
  const diskFormat = override.diskFormat ?? type?.glance?.diskFormat;
  const containerFormat = override.containerFormat ?? type?.glance?.containerFormat ?? (override.diskFormat ? 'bare' : undefined);
  if (!diskFormat || !containerFormat) {
    const takes = OUTPUT_TYPES.filter((t) => t.glance).map((t) => `.${t.extension}`);
    throw new UsageError(
      'usage',
      type
        ? `${file} is a ${type.name} output, which Glance does not take as an image`
        : `${file}: the disk format is not known from its name (${takes.join(' ')})`,
      { hint: type ? 'upload the qcow2 or raw output instead' : 'give --disk-format (and --container-format, default bare)' },
    );
  }
  return { type, diskFormat, containerFormat, stem };
}

const QEMU_NAMES: Record<string, string> = { vhd: 'vpc' };

/**
 * The file must be what its disk format says (its magic bytes; the archives' members), and a disk
 * must stand alone: a backing file, an external data file or a VMDK extent in another file would make
 * whoever reads it (Glance's conversion, Nova) open files of their own host. `path` reads the open file;
 * `shown` is the name for messages.
 */
export function contentProblem(path: string, kind: FileKind, shown = path): string | undefined {
  const { diskFormat, containerFormat } = kind;
  if (containerFormat === 'ova' || containerFormat === 'docker') {
    let members: string[];
    try {
      members = execFileSync('tar', ['-tf', path], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n')
        .filter(Boolean);
    } catch {
      return `${shown} is not a tar archive (an ${containerFormat} container is one)`;
    }
    if (containerFormat === 'ova' && !members[0]?.endsWith('.ovf'))
      return `${shown} is not an OVA: its first member is not an .ovf descriptor`;
    if (containerFormat === 'docker' && !members.includes('manifest.json'))
      return `${shown} is not a docker archive: it has no manifest.json`;
    return undefined;
  }
  if (diskFormat === 'aki' || diskFormat === 'ari') return undefined;
  const expected = QEMU_NAMES[diskFormat] ?? diskFormat;
  // The magic bytes first (as image-verify reads them): a file is never probed by qemu-img's guessing.
  const head = Buffer.alloc(4096);
  const fd = openSync(path, constants.O_RDONLY);
  let got: number;
  try {
    got = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  let detected: string;
  if (head.subarray(0, 8).toString('latin1') === 'conectix') detected = 'vpc';
  else
    try {
      detected = detectFormat(head.subarray(0, got), shown);
    } catch (error) {
      return errorMessage(error).replace('which image-verify does not read', `not ${diskFormat}`);
    }
  if (detected !== expected) return `${shown} is not ${diskFormat}: its header says ${detected}`;
  let info: QemuImgInfo;
  try {
    info = qemuInfo(path, expected);
  } catch (error) {
    return `qemu-img cannot read ${shown} as ${diskFormat}: ${errorMessage(error).split('\n')[0]}`;
  }
  const problems = infoProblems(info, path, expected as ImageFormat);
  if (problems.length) return `${shown} refers to more than itself (${problems.join('; ')}): an image to upload must stand alone`;
  return undefined;
}

/** qemu-img info of a file nobody vouches for: format pinned, --force-share, under Nova's CPU and memory limits. */
function qemuInfo(path: string, format: string): QemuImgInfo {
  const [prlimit, ...limits] = INFO_LIMITS;
  const argv = [...limits, 'qemu-img', 'info', '-U', '--output=json', '-f', format, '--', path];
  return JSON.parse(execFileSync(prlimit, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as QemuImgInfo;
}

/** The disk's virtual size in bytes (qemu-img), for min_disk; 0 for what is not a bare disk. */
function virtualSize(path: string, kind: FileKind, size: number): number {
  if (kind.containerFormat !== 'bare' || kind.diskFormat === 'aki' || kind.diskFormat === 'ari') return 0;
  try {
    return qemuInfo(path, QEMU_NAMES[kind.diskFormat] ?? kind.diskFormat)['virtual-size'];
  } catch {
    return size;
  }
}

const HASHES = ['md5', 'sha256', 'sha512'] as const;
type HashName = (typeof HASHES)[number];
type Hashes = Record<HashName, string>;

/**
 * The open file from its start, through a new descriptor of the same file (/proc/PID/fd/N reopens the
 * inode that was checked, whatever is at the path now): a stream closes its descriptor when it is
 * destroyed, autoClose or not, so the checked descriptor is never handed to one.
 */
const readFrom = (file: OpenedFile, signal: AbortSignal) => createReadStream(file.path, { signal, highWaterMark: 1 << 20 });

async function hashFile(file: OpenedFile, signal: AbortSignal): Promise<Hashes> {
  const hashes = Object.fromEntries(HASHES.map((h) => [h, createHash(h)])) as Record<HashName, Hash>;
  for await (const chunk of readFrom(file, signal)) for (const h of HASHES) hashes[h].update(chunk as Buffer);
  return Object.fromEntries(HASHES.map((h) => [h, hashes[h].digest('hex')])) as Hashes;
}

export interface UploadContext {
  glance: Glance;
  log: Logger;
  signal: AbortSignal;
  /** Draw progress on a terminal (else progress events). */
  progress: 'bar' | 'events';
  /** The images this run created and has not yet seen verified (deleted on failure or interrupt). */
  pending: Set<string>;
}

/** The file opened once (never through a symlink): everything reads it through this descriptor. */
export interface OpenedFile {
  fd: number;
  size: number;
  /** `/proc/PID/fd/N`: the same open file, for the tools that take a path (qemu-img, tar). */
  path: string;
}

/** A plan for one file: what it is, what Glance is told, and what is wrong with it (exit 2). */
export interface UploadPlan {
  file: OpenedFile;
  kind: FileKind;
  problems: UsageError[];
  warnings: string[];
  properties: Record<string, string>;
  name: string;
}

/** Fields of the image itself, which a --property must not set (they have options, or Glance owns them). */
const CORE_FIELDS = new Set([
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'os_hidden',
  'owner',
  'disk_format',
  'container_format',
  'min_disk',
  'min_ram',
  'size',
  'virtual_size',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'locations',
  'direct_url',
  'tags',
  'created_at',
  'updated_at',
  'file',
  'schema',
  'self',
  'stores',
]);

function openFile(path: string): OpenedFile {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) throw new UsageError('usage', `${path} does not exist`, { hint: 'give the path of a built image (NAME.qcow2, ...)' });
  if (!st.isFile())
    throw new UsageError('usage', `${path} is not a regular file`, { hint: 'give the path of a built image, not a link or a directory' });
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw new UsageError('usage', `cannot open ${path}: ${errorMessage(error)}`, { hint: 'upload a file this user can read' });
  }
  const f = fstatSync(fd);
  if (!f.isFile() || f.ino !== st.ino || f.dev !== st.dev) {
    closeSync(fd);
    throw new UsageError('usage', `${path} changed while it was opened`, { hint: 'upload a file nobody else is writing' });
  }
  return { fd, size: f.size, path: `/proc/${process.pid}/fd/${fd}` };
}

/** The default image name: the file's stem; the baremetal kernel and initrd get TripleO's -vmlinuz/-initrd. */
function defaultName(kind: FileKind): string {
  const stem = basename(kind.stem);
  return kind.diskFormat === 'aki' ? `${stem}-vmlinuz` : kind.diskFormat === 'ari' ? `${stem}-initrd` : stem;
}

/** Prepare everything that needs no cloud: open the file, its kind, its content check, its properties. */
export function planUpload(req: UploadRequest): UploadPlan {
  const problems: UsageError[] = [];
  const warnings: string[] = [];
  const kind = kindOf(req.file, req);
  const file = openFile(req.file);
  const problem = contentProblem(file.path, kind, req.file);
  if (problem)
    problems.push(
      new UsageError('wrong-format', problem, { hint: 'upload the file the name promises, or give the real format with --disk-format' }),
    );
  const found = readImageMetadata(kind.stem);
  if (found.problem) warnings.push(`ignoring the build metadata: ${found.problem}`);
  const properties = { ...glanceProperties(found, kind.diskFormat), ...req.properties };
  for (const k of Object.keys(req.properties)) {
    if (/^os_glance/.test(k))
      problems.push(
        new UsageError('usage', `--property ${k}: os_glance* properties are reserved by Glance`, { hint: 'choose another name' }),
      );
    else if (CORE_FIELDS.has(k))
      problems.push(
        new UsageError('usage', `--property ${k}: ${k} is a field of the image, not a property`, {
          hint: 'use --name, --visibility, --tag, --disk-format or --container-format; Glance sets the others',
        }),
      );
  }
  return { file, kind, problems, warnings, properties, name: req.name ?? defaultName(kind) };
}

export async function uploadImage(req: UploadRequest, plan: UploadPlan, ctx: UploadContext): Promise<UploadResult> {
  const started = Date.now();
  const { glance, log, signal } = ctx;
  for (const w of plan.warnings) log.warn(w);
  const { kind, file, name } = plan;
  const size = file.size;
  const hashes = await hashFile(file, signal);
  const base: Omit<UploadResult, 'id' | 'status' | 'checksum' | 'osHashAlgo' | 'osHashValue' | 'reused' | 'seconds' | 'rate'> = {
    file: req.file,
    name,
    diskFormat: kind.diskFormat,
    containerFormat: kind.containerFormat,
    size,
    replaced: [],
  };

  // Idempotent: an active image of this project with this name whose data Glance itself hashed to ours
  // (its checksum and os_hash_value; the owner_specified.* properties are only what someone recorded).
  const existing = (await glance.findByName(name, signal)).filter((i) => i.status === 'active');
  const same = existing.find((i) => i.checksum === hashes.md5 && i.os_hash_algo && i.os_hash_value === hashes[i.os_hash_algo as HashName]);
  if (same) {
    log.info(`${name}: an identical image is in Glance already (${same.id}); not uploading it again`);
    return { ...base, ...verified(same), reused: true, seconds: (Date.now() - started) / 1000, rate: 0 };
  }
  if (existing.length && !req.replace)
    throw new CloudError(
      `an image named ${name} is in Glance already with other content (${existing.map((i) => i.id).join(', ')})`,
      undefined,
      '--replace uploads the new one and keeps the old one renamed NAME-<its date>; or choose another --name',
    );
  if (req.useImport) {
    const methods = await glance.importMethods(signal);
    if (!methods.includes('glance-direct'))
      throw new CloudError(
        `this Glance does not offer the glance-direct import (it offers: ${methods.join(', ') || 'none'})`,
        undefined,
        'upload without --import (PUT of the data)',
      );
  }

  const minDisk = Math.ceil(virtualSize(file.path, kind, size) / 2 ** 30);
  // The id is ours: an interrupted create can be cleaned up even when its answer never arrived.
  const id = randomUUID();
  ctx.pending.add(id);
  await glance.create(
    {
      ...plan.properties,
      id,
      name,
      disk_format: kind.diskFormat,
      container_format: kind.containerFormat,
      visibility: req.visibility,
      ...(minDisk ? { min_disk: minDisk } : {}),
      ...(req.tags.length ? { tags: req.tags } : {}),
      'owner_specified.openstack.md5': hashes.md5,
      'owner_specified.openstack.sha256': hashes.sha256,
      'owner_specified.openstack.object': `images/${name}`,
    },
    signal,
  );
  log.emit({ type: 'upload', state: 'start', file: req.file, image: id, bytes: 0, total: size, seconds: 0 });
  const sendStart = Date.now();
  const sent = await sendData(req, file, ctx, id);
  const sendSeconds = (Date.now() - sendStart) / 1000;
  if (sent.sha256 !== hashes.sha256) throw new CloudError(`${req.file} changed while it was uploaded (its sha256 differs from before)`);
  const active = await waitActive(glance, id, req.waitSeconds, signal);
  const checked = verified(active);
  if (checked.checksum !== hashes.md5)
    throw new CloudError(
      `Glance's checksum of ${id} is ${checked.checksum}, the file's MD5 is ${hashes.md5}: the data was damaged on the way`,
    );
  const ours = HASHES.includes(checked.osHashAlgo as HashName)
    ? hashes[checked.osHashAlgo as HashName]
    : await hashOne(file, checked.osHashAlgo, signal);
  if (checked.osHashValue !== ours)
    throw new CloudError(`Glance's ${checked.osHashAlgo} of ${id} differs from the file's: the data was damaged on the way`);
  log.emit({ type: 'upload', state: 'done', file: req.file, image: id, bytes: size, total: size, seconds: sendSeconds });

  // --replace: the old images renamed once the new one is active and verified; the new one stays
  // pending until then, so a failed rename deletes it and the renames already made are undone.
  const replaced: UploadResult['replaced'] = [];
  try {
    for (const old of existing) {
      const stamp = (old.created_at ?? new Date().toISOString())
        .replace(/[-:]/g, '')
        .replace(/\.\d+/, '')
        .replace('T', '-')
        .replace('Z', '');
      const renamed = `${name}-${stamp}`;
      await glance.update(old.id, { name: renamed }, signal);
      log.info(`--replace: the previous ${name} (${old.id}) is now ${renamed}`);
      replaced.push({ id: old.id, name: renamed });
    }
  } catch (error) {
    for (const r of replaced) await glance.update(r.id, { name }).catch(() => log.warn(`could not rename ${r.id} back to ${name}`));
    throw error;
  }
  ctx.pending.delete(id);
  return {
    ...base,
    ...checked,
    reused: false,
    replaced,
    seconds: (Date.now() - started) / 1000,
    rate: sendSeconds > 0 ? size / sendSeconds : 0,
  };
}

function verified(i: GlanceImage): Pick<UploadResult, 'id' | 'status' | 'checksum' | 'osHashAlgo' | 'osHashValue'> {
  return { id: i.id, status: i.status, checksum: i.checksum ?? '', osHashAlgo: i.os_hash_algo ?? '', osHashValue: i.os_hash_value ?? '' };
}

async function hashOne(file: OpenedFile, algo: string, signal: AbortSignal): Promise<string> {
  let hash: Hash;
  try {
    hash = createHash(algo);
  } catch {
    throw new CloudError(`Glance hashes with ${algo}, which this Node cannot compute: the upload cannot be verified`);
  }
  for await (const chunk of readFrom(file, signal)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Stream the file (hashing what is sent, reporting progress) with PUT .../file or stage + import. */
async function sendData(req: UploadRequest, file: OpenedFile, ctx: UploadContext, id: string): Promise<{ sha256: string }> {
  const { glance, log, signal } = ctx;
  const size = file.size;
  const sha256 = createHash('sha256');
  let bytes = 0;
  const start = Date.now();
  let lastReport = 0;
  const bar = ctx.progress === 'bar';
  const report = (force = false) => {
    const now = Date.now();
    if (!force && now - lastReport < (bar ? 200 : 5000)) return;
    lastReport = now;
    const seconds = (now - start) / 1000;
    if (bar) process.stderr.write(`\r\x1b[K${basename(req.file)}: ${progressLine(bytes, size, seconds)}`);
    else log.emit({ type: 'upload', state: 'progress', file: req.file, image: id, bytes, total: size, seconds });
  };
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sha256.update(chunk);
      bytes += chunk.length;
      report();
      done(null, chunk);
    },
  });
  const source = readFrom(file, signal);
  source.on('error', (error) => counter.destroy(error)); // a read error ends the request instead of hanging it
  try {
    await glance.putData(id, source.pipe(counter), size, req.useImport ? 'stage' : 'file', signal);
  } finally {
    report(true);
    if (bar) process.stderr.write('\n');
  }
  if (req.useImport) await glance.importStaged(id, signal);
  return { sha256: sha256.digest('hex') };
}

async function waitActive(glance: Glance, id: string, seconds: number, signal: AbortSignal): Promise<GlanceImage> {
  const deadline = Date.now() + seconds * 1000;
  let image = await glance.show(id, signal);
  while (image.status !== 'active') {
    if (['killed', 'deleted', 'deactivated'].includes(image.status))
      throw new CloudError(`Glance set image ${id} to ${image.status} after the data was sent`, undefined, 'the Glance API log says why');
    if (typeof image.os_glance_failed_import === 'string' && image.os_glance_failed_import)
      throw new CloudError(
        `Glance could not import image ${id} into ${image.os_glance_failed_import}`,
        undefined,
        'the Glance API log says why',
      );
    if (Date.now() > deadline)
      throw new CloudError(
        `image ${id} did not become active within ${seconds}s (still ${image.status})`,
        undefined,
        'raise --wait-timeout, or ask the cloud admin about the import tasks',
      );
    await sleep(1000, signal);
    image = await glance.show(id, signal);
  }
  return image;
}
