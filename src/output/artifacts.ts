// The artifact manifest (`--manifest FILE`): what a build or a family made, in the fields a Zuul image
// artifact (url, format, sha256, md5sum) and a Glance upload need. One writer for both commands.
import { createHash } from 'node:crypto';
import { createReadStream, openSync, renameSync, writeSync, closeSync, unlinkSync, statSync, fsyncSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface ArtifactFile {
  path: string;
  /** The output type (`-t` name): qcow2, raw, tar, ... — Glance's disk_format comes from the type table. */
  format: string;
  size: number;
  sha256: string;
  md5: string;
}

export type ImageStatus = 'built' | 'reused' | 'skipped' | 'failed' | 'interrupted' | 'not-started';

export interface ImageRecord {
  name: string;
  status: ImageStatus;
  seconds: number;
  /** The elements as requested (base added unless -n), before dependency expansion. */
  elements: string[];
  /** Expanded element list, in DIB's order (absent when the build never resolved it). */
  expandedElements?: string[];
  settings: Record<string, unknown>;
  log: string | null;
  files: ArtifactFile[];
  /** Phase cache steps reused / built (absent: the cache was off or the build never reached it). */
  cache?: { hits: number; misses: number };
  /** For a failed image: the error line and, when a hook failed, which one. */
  error?: string;
  failedHook?: string;
}

export interface ArtifactManifest {
  images: ImageRecord[];
}

/** Size and both hashes of each file, in one read per file. */
export async function describeFiles(files: { path: string; format: string }[]): Promise<ArtifactFile[]> {
  const out: ArtifactFile[] = [];
  for (const f of files) {
    const sha256 = createHash('sha256');
    const md5 = createHash('md5');
    for await (const chunk of createReadStream(f.path, { highWaterMark: 1 << 20 })) {
      sha256.update(chunk as Buffer);
      md5.update(chunk as Buffer);
    }
    out.push({ path: f.path, format: f.format, size: statSync(f.path).size, sha256: sha256.digest('hex'), md5: md5.digest('hex') });
  }
  return out;
}

/**
 * Write the manifest whole or not at all: a new file created exclusively beside the target (never
 * written through an existing name someone else made), then renamed over it.
 */
export function writeArtifactManifest(path: string, manifest: ArtifactManifest): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o644);
  try {
    writeSync(fd, JSON.stringify(manifest, null, 2) + '\n');
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
}
