// One image into Glance: check the file is what its name says, hash it, reuse an identical image of the
// same name, else create the image with the image guide's properties, stream the data (PUT .../file, or
// stage + glance-direct import), wait for `active`, check Glance's checksum and os_hash_value against
// ours, and with --replace keep the previous image renamed with its date. Any failure or interrupt
// after the image exists deletes it: nothing is left queued in Glance.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, lstatSync } from 'node:fs';
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

export interface UploadRequest {
  file: string;
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

/** The file must be what its disk format says (qemu-img's detection; the archives' first members). */
export function contentProblem(file: string, kind: FileKind): string | undefined {
  const { diskFormat, containerFormat } = kind;
  if (containerFormat === 'ova' || containerFormat === 'docker') {
    let members: string[];
    try {
      members = execFileSync('tar', ['-tf', file], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] })
        .split('\n')
        .filter(Boolean);
    } catch {
      return `${file} is not a tar archive (an ${containerFormat} container is one)`;
    }
    if (containerFormat === 'ova' && !members[0]?.endsWith('.ovf'))
      return `${file} is not an OVA: its first member is not an .ovf descriptor`;
    if (containerFormat === 'docker' && !members.includes('manifest.json'))
      return `${file} is not a docker archive: it has no manifest.json`;
    return undefined;
  }
  if (diskFormat === 'aki' || diskFormat === 'ari') return undefined;
  let detected: string;
  try {
    detected = (
      JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as {
        format: string;
      }
    ).format;
  } catch (error) {
    return `qemu-img cannot read ${file}: ${errorMessage(error).split('\n')[0]}`;
  }
  const expected = QEMU_NAMES[diskFormat] ?? diskFormat;
  if (detected !== expected) return `${file} is not ${diskFormat}: qemu-img detects ${detected}`;
  return undefined;
}

/** The disk's virtual size in bytes (qemu-img), for min_disk; the file size for the formats it cannot read. */
function virtualSize(file: string, kind: FileKind, size: number): number {
  if (kind.containerFormat !== 'bare' || kind.diskFormat === 'aki' || kind.diskFormat === 'ari') return 0;
  const format = QEMU_NAMES[kind.diskFormat] ?? kind.diskFormat;
  try {
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', format, file], { encoding: 'utf8' })) as {
      'virtual-size': number;
    };
    return info['virtual-size'];
  } catch {
    return size;
  }
}

const HASHES = ['md5', 'sha256', 'sha512'] as const;
type Hashes = Record<(typeof HASHES)[number], string>;

async function hashFile(file: string, signal: AbortSignal): Promise<Hashes> {
  const hashes = Object.fromEntries(HASHES.map((h) => [h, createHash(h)])) as Record<(typeof HASHES)[number], Hash>;
  for await (const chunk of createReadStream(file, { signal })) for (const h of HASHES) hashes[h].update(chunk as Buffer);
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

/** Prepare everything that needs no cloud: the file's kind, its content check, its properties. */
export function planUpload(req: UploadRequest): {
  kind: FileKind;
  size: number;
  problems: UsageError[];
  warnings: string[];
  properties: Record<string, string>;
  name: string;
} {
  const problems: UsageError[] = [];
  const warnings: string[] = [];
  const st = lstatSync(req.file, { throwIfNoEntry: false });
  if (!st) throw new UsageError('usage', `${req.file} does not exist`, { hint: 'give the path of a built image (NAME.qcow2, ...)' });
  if (!st.isFile())
    throw new UsageError('usage', `${req.file} is not a regular file`, {
      hint: 'give the path of a built image, not a link or a directory',
    });
  const kind = kindOf(req.file, req);
  const problem = contentProblem(req.file, kind);
  if (problem)
    problems.push(
      new UsageError('wrong-format', problem, { hint: 'upload the file the name promises, or give the real format with --disk-format' }),
    );
  const found = readImageMetadata(kind.stem);
  if (found.problem) warnings.push(`ignoring the build metadata: ${found.problem}`);
  const properties = { ...glanceProperties(found, kind.diskFormat), ...req.properties };
  for (const k of Object.keys(req.properties))
    if (/^os_glance/.test(k))
      problems.push(
        new UsageError('usage', `--property ${k}: os_glance* properties are reserved by Glance`, { hint: 'choose another name' }),
      );
  return { kind, size: st.size, problems, warnings, properties, name: req.name ?? basename(kind.stem) };
}

export async function uploadImage(req: UploadRequest, ctx: UploadContext): Promise<UploadResult> {
  const started = Date.now();
  const { glance, log, signal } = ctx;
  const plan = planUpload(req);
  for (const w of plan.warnings) log.warn(w);
  const { kind, size, name } = plan;
  const hashes = await hashFile(req.file, signal);
  const base: Omit<UploadResult, 'id' | 'status' | 'checksum' | 'osHashAlgo' | 'osHashValue' | 'reused' | 'seconds' | 'rate'> = {
    file: req.file,
    name,
    diskFormat: kind.diskFormat,
    containerFormat: kind.containerFormat,
    size,
    replaced: [],
  };

  // Idempotent, as openstacksdk: an image of this name recording the same hashes is the upload.
  const existing = await glance.findByName(name, signal);
  const same = existing.find(
    (i) =>
      i.status === 'active' && i['owner_specified.openstack.sha256'] === hashes.sha256 && i['owner_specified.openstack.md5'] === hashes.md5,
  );
  if (same) {
    log.info(`${name}: an identical image is in Glance already (${same.id}); not uploading it again`);
    return { ...base, ...verified(same), reused: true, seconds: (Date.now() - started) / 1000, rate: 0 };
  }
  const others = existing.filter((i) => i.status === 'active');
  if (others.length && !req.replace)
    throw new CloudError(
      `an image named ${name} is in Glance already with other content (${others.map((i) => i.id).join(', ')})`,
      undefined,
      '--replace uploads the new one and keeps the old one renamed NAME-<its date>; or choose another --name',
    );

  const minDisk = Math.ceil(virtualSize(req.file, kind, size) / 2 ** 30);
  const image = await glance.create(
    {
      name,
      disk_format: kind.diskFormat,
      container_format: kind.containerFormat,
      visibility: req.visibility,
      ...(minDisk ? { min_disk: minDisk } : {}),
      ...(req.tags.length ? { tags: req.tags } : {}),
      ...plan.properties,
      'owner_specified.openstack.md5': hashes.md5,
      'owner_specified.openstack.sha256': hashes.sha256,
      'owner_specified.openstack.object': `images/${name}`,
    },
    signal,
  );
  ctx.pending.add(image.id);
  log.emit({ type: 'upload', state: 'start', file: req.file, image: image.id, bytes: 0, total: size, seconds: 0 });
  const sendStart = Date.now();
  const sent = await sendData(req, ctx, image.id, size);
  const sendSeconds = (Date.now() - sendStart) / 1000;
  if (sent.sha256 !== hashes.sha256) throw new CloudError(`${req.file} changed while it was uploaded (its sha256 differs from before)`);
  const active = await waitActive(glance, image.id, req.waitSeconds, signal);
  const checked = verified(active);
  if (checked.checksum !== hashes.md5)
    throw new CloudError(
      `Glance's checksum of ${image.id} is ${checked.checksum}, the file's MD5 is ${hashes.md5}: the data was damaged on the way`,
    );
  const ours = HASHES.includes(checked.osHashAlgo as (typeof HASHES)[number])
    ? hashes[checked.osHashAlgo as (typeof HASHES)[number]]
    : await hashOne(req.file, checked.osHashAlgo, signal);
  if (checked.osHashValue !== ours)
    throw new CloudError(`Glance's ${checked.osHashAlgo} of ${image.id} differs from the file's: the data was damaged on the way`);
  ctx.pending.delete(image.id);
  log.emit({ type: 'upload', state: 'done', file: req.file, image: image.id, bytes: size, total: size, seconds: sendSeconds });

  const replaced: UploadResult['replaced'] = [];
  for (const old of others) {
    const renamed = `${name}-${(old.created_at ?? new Date().toISOString()).replace(/[-:]/g, '').replace(/\.\d+/, '').replace('T', '-').replace('Z', '')}`;
    await glance.update(old.id, { name: renamed });
    log.info(`--replace: the previous ${name} (${old.id}) is now ${renamed}`);
    replaced.push({ id: old.id, name: renamed });
  }
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

async function hashOne(file: string, algo: string, signal: AbortSignal): Promise<string> {
  let hash: Hash;
  try {
    hash = createHash(algo);
  } catch {
    throw new CloudError(`Glance hashes with ${algo}, which this Node cannot compute: the upload cannot be verified`);
  }
  for await (const chunk of createReadStream(file, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Stream the file (hashing what is sent, reporting progress) with PUT .../file or stage + import. */
async function sendData(req: UploadRequest, ctx: UploadContext, id: string, size: number): Promise<{ sha256: string }> {
  const { glance, log, signal } = ctx;
  if (req.useImport) {
    const methods = await glance.importMethods(signal);
    if (!methods.includes('glance-direct'))
      throw new CloudError(
        `this Glance does not offer the glance-direct import (it offers: ${methods.join(', ') || 'none'})`,
        undefined,
        'upload without --import (PUT of the data)',
      );
  }
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
  const body = createReadStream(req.file, { signal, highWaterMark: 1 << 20 }).pipe(counter);
  try {
    await glance.putData(id, body, size, req.useImport ? 'stage' : 'file', signal);
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
