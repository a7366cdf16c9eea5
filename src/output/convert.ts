// Turn the raw disk into the requested formats; each written under a temporary name, renamed when complete.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { CleanupStack } from '../core/cleanup-stack.js';
import type { Runner } from '../core/exec.js';
import { partialOutput } from './partial.js';

export interface OutputOptions {
  stem: string;
  types: string[];
  compress: boolean;
  qemuImgOptions: string;
  checksum: boolean;
  overwrite: boolean;
}

/** Output file for a type (`<stem>.<type>`; squashfs is `.squash` like DIB). */
export function outputPath(stem: string, type: string): string {
  return `${stem}.${type === 'squashfs' ? 'squash' : type}`;
}

/**
 * Convert `raw` to each requested qemu format (qcow2 compat 1.1, compressed unless -u; raw copied last).
 * Fixed DIB quirk: compression never leaks between types.
 */
export async function writeDiskOutputs(runner: Runner, raw: string, options: OutputOptions, stack: CleanupStack): Promise<string[]> {
  const written: string[] = [];
  const diskTypes = options.types.filter((t) => !['tar', 'tgz', 'squashfs'].includes(t));
  const ordered = [...diskTypes.filter((t) => t !== 'raw'), ...diskTypes.filter((t) => t === 'raw')];
  for (const type of ordered) {
    const final = outputPath(options.stem, type);
    const { temp, commit } = partialOutput(final, stack);
    if (type === 'raw') {
      await runner.run(['cp', '--sparse=always', raw, temp]);
    } else {
      const opts = [type === 'qcow2' ? 'compat=1.1' : '', options.qemuImgOptions].filter(Boolean).join(',');
      const argv = ['qemu-img', 'convert', '-f', 'raw', '-O', type];
      if (type === 'qcow2' && options.compress) argv.push('-c');
      if (opts) argv.push('-o', opts);
      await runner.run([...argv, raw, temp]);
    }
    rotateOld(final, options.overwrite);
    commit();
    if (options.checksum) await writeChecksums(final);
    written.push(final);
  }
  return written;
}

/** DIB: an existing output is renamed to <stem>-YYYY.MM.DD-HH.MM.SS.<ext> unless OVERWRITE_OLD_IMAGE is set. */
function rotateOld(path: string, overwrite: boolean): void {
  if (overwrite || !existsSync(path)) return;
  const dot = path.lastIndexOf('.');
  const d = statSync(path).mtime;
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}.${p(d.getMonth() + 1)}.${p(d.getDate())}-${p(d.getHours())}.${p(d.getMinutes())}.${p(d.getSeconds())}`;
  const rotated = `${path.slice(0, dot)}-${stamp}${path.slice(dot)}`;
  renameSync(path, rotated);
  for (const ext of ['.md5', '.sha256']) if (existsSync(path + ext)) renameSync(path + ext, rotated + ext);
}

export async function writeChecksums(path: string): Promise<void> {
  for (const algo of ['md5', 'sha256'] as const) {
    const hash = createHash(algo);
    await new Promise<void>((resolve, reject) => {
      createReadStream(path).on('data', (c) => hash.update(c)).on('end', resolve).on('error', reject);
    });
    writeFileSync(`${path}.${algo}`, `${hash.digest('hex')}  ${basename(path)}\n`);
  }
}
