// Write the planned outputs, each through its type's writer from the output table: under a temporary
// name (ledger entry, removed on failure), then old files rotated, renamed into place, checksummed.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Runner } from '../core/exec.js';
import type { Resources } from '../core/resources.js';
import { BuildError } from '../core/errors.js';
import { copyBootFile, selectBootFiles } from './boot-files.js';
import { writeDockerArchive } from './docker.js';
import { type ImageFacts, effectiveDockerTarget } from './facts.js';
import { writeOva } from './ova.js';
import { partialOutput } from './partial.js';
import { dpkgManifestPath, writeStemcell } from './stemcell.js';
import type { OutputType } from './types.js';

export interface WriteOptions {
  compress: boolean;
  qemuImgOptions: string;
  checksum: boolean;
  overwrite: boolean;
  /** What the packaged types (ova, docker, stemcell) need to know about the image. */
  image?: ImageFacts;
}

export interface OutputSource {
  /** The raw disk file (for disk types). */
  raw?: string;
  /** The finished tree (for tree types), with host kernel filesystems possibly mounted at proc, sys, dev. */
  tree?: string;
  /** Whole-image reuse: each output type's file stored by the phase cache, copied as it is. */
  reused?: Map<string, string>;
}

/** Write each output whose source is given; returns the files written. Disk types: raw is copied last. */
export async function writeOutputs(
  runner: Runner,
  outputs: Array<{ type: OutputType; path: string }>,
  source: OutputSource,
  options: WriteOptions,
  resources: Resources,
): Promise<string[]> {
  const written: string[] = [];
  const wanted = source.reused
    ? outputs.filter((o) => source.reused!.has(o.type.name))
    : outputs.filter((o) => (o.type.source === 'disk' ? source.raw : source.tree) !== undefined);
  const ordered = [...wanted.filter((o) => o.type.writer !== 'copy'), ...wanted.filter((o) => o.type.writer === 'copy')];
  for (const out of ordered) {
    const partial = await partialOutput(out.path, resources);
    await writeOne(runner, out, source, partial.temp, options);
    const suffixes = options.checksum ? await writeChecksums(partial.temp, partial.companion, basename(out.path)) : [];
    rotateOld(out.path, options.overwrite);
    partial.commit(suffixes);
    written.push(out.path);
  }
  return written;
}

/** Write one output to `temp` with the writer its table row names. */
async function writeOne(
  runner: Runner,
  out: { type: OutputType; path: string },
  source: OutputSource,
  temp: string,
  options: WriteOptions,
): Promise<void> {
  const { type } = out;
  if (source.reused) {
    await runner.run(['cp', '--sparse=always', '--reflink=auto', source.reused.get(type.name)!, temp]);
    return;
  }
  const stem = out.path.slice(0, -(type.extension.length + 1));
  const facts = () => {
    if (!options.image) throw new Error(`writing ${type.name} needs the image facts (WriteOptions.image)`); // a wiring bug
    return options.image;
  };
  switch (type.writer) {
    case 'ova':
      return writeOva(runner, source.raw!, temp, { arch: facts().arch, distro: facts().distro });
    case 'docker':
      return writeDockerArchive(runner, source.tree!, temp, {
        arch: facts().arch,
        target: effectiveDockerTarget(facts().dockerTarget, stem),
      });
    case 'stemcell': {
      const f = facts();
      return writeStemcell(runner, source.raw!, temp, {
        name: f.stemcellName,
        version: f.stemcellVersion,
        arch: f.arch,
        distro: f.distro,
        release: f.release,
        packagesFile: dpkgManifestPath(stem),
      });
    }
    case 'boot-file': {
      const choice = selectBootFiles(source.tree!, facts().bootFiles);
      if ('problem' in choice) throw new BuildError(`${type.madeBy}: cannot write ${out.path}: ${choice.problem}`);
      return copyBootFile(source.tree!, type.name === 'vmlinuz' ? choice.files.kernel : choice.files.initrd, temp);
    }
    default:
      await runner.run(writerArgv(type, source, temp, options));
  }
}

/** The command that writes one output to `temp` (types with a command writer). */
export function writerArgv(
  type: OutputType,
  source: OutputSource,
  temp: string,
  options: Pick<WriteOptions, 'compress' | 'qemuImgOptions'>,
): string[] {
  switch (type.writer) {
    case 'copy':
      return ['cp', '--sparse=always', source.raw!, temp];
    case 'qemu-img': {
      // Fixed DIB quirk: compression and the type's own options never leak into the other types.
      const opts = [type.qemuOptions ?? '', options.qemuImgOptions].filter(Boolean).join(',');
      return [
        'qemu-img',
        'convert',
        '-f',
        'raw',
        '-O',
        type.qemuFormat!,
        // -W (out-of-order writes): qemu-img compresses clusters on every core (the default image here:
        // 19 s → 11 s, the same size); the file is as valid, only its cluster order varies between runs.
        ...(type.compressible && options.compress ? ['-c', '-W'] : []),
        ...(opts ? ['-o', opts] : []),
        source.raw!,
        temp,
      ];
    }
    case 'squashfs':
      // DIB names it .squash and (a bug) only makes it when squashfs is the first type; here always.
      return ['mksquashfs', source.tree!, temp, '-comp', 'xz', '-noappend', '-no-progress', '-wildcards', '-e', 'proc/*', 'sys/*', 'dev/*'];
    case 'tar':
      // Unlike DIB, the bind-mounted host /dev (and /proc, /sys) are not archived.
      return [
        'tar',
        '-C',
        source.tree!,
        '--xattrs',
        '--xattrs-include=*',
        '--acls',
        '--numeric-owner',
        '--exclude=./proc/*',
        '--exclude=./sys/*',
        '--exclude=./dev/*',
        ...(type.name === 'tgz' ? ['-z'] : []),
        '-cf',
        temp,
        '.',
      ];
    default:
      throw new Error(`${type.name} is not written by one command`);
  }
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

/** `.md5` and `.sha256` of `file` (named `name` in them), written where `at(suffix)` says; returns the suffixes. */
export async function writeChecksums(file: string, at: (suffix: string) => string, name: string): Promise<string[]> {
  const suffixes: string[] = [];
  for (const algo of ['md5', 'sha256'] as const) {
    const hash = createHash(algo);
    await new Promise<void>((resolve, reject) => {
      createReadStream(file)
        .on('data', (c) => hash.update(c))
        .on('end', resolve)
        .on('error', reject);
    });
    writeFileSync(at(`.${algo}`), `${hash.digest('hex')}  ${name}\n`, { flag: 'wx', mode: 0o644 });
    suffixes.push(`.${algo}`);
  }
  return suffixes;
}
