// Small inputs for the output writers: a raw disk made without loop devices (sfdisk on a sparse file,
// mkfs.ext4 -d at the partition's offset), a Runner whose qemu-img is the real one, readers' helpers.
import { execFileSync } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LEDGER_NAME, Ledger } from '../../../src/core/ledger.js';
import { Resources } from '../../../src/core/resources.js';
import { withSbin } from '../../../src/core/tools.js';
import type { ImageFacts } from '../../../src/output/facts.js';
import type { WriteOptions } from '../../../src/output/write.js';
import { type FakeBin, installFakeBin } from '../../helpers/fake-bin.js';

export const FACTS: ImageFacts = {
  arch: 'amd64',
  dockerTarget: '',
  stemcellName: '',
  stemcellVersion: '0.0.1',
  distro: 'debian',
  release: 'bookworm',
  bootFiles: { kernel: '', initrd: '' },
};
export const OPTIONS: WriteOptions = { compress: true, qemuImgOptions: '', checksum: false, overwrite: false, image: FACTS };

/** A harness whose qemu-img and tar are the real ones (recorded), with a ledger-backed Resources. */
export function realTools(): { fake: FakeBin; resources: Resources; dir: string; out: string } {
  const fake = installFakeBin({ 'qemu-img': { passthrough: true }, tar: { passthrough: true } });
  const resources = new Resources(new Ledger(join(fake.dir, LEDGER_NAME), fake.dir));
  const out = join(fake.dir, 'out');
  mkdirSync(out);
  return { fake, resources, dir: fake.dir, out };
}

/** A sparse raw disk of `mib` MiB: an MBR with one Linux partition from 1 MiB holding an ext4 of `files`. */
export function makeRawDisk(dir: string, mib: number, files: Record<string, string> = { 'etc/hostname': 'image\n' }): string {
  const tree = join(dir, 'disk-tree');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(tree, path, '..'), { recursive: true });
    writeFileSync(join(tree, path), content);
  }
  const raw = join(dir, 'image0.raw');
  writeFileSync(raw, '');
  truncateSync(raw, mib * 2 ** 20);
  run('sfdisk', ['-q', raw], 'start=2048, type=83\n');
  run('mkfs.ext4', ['-q', '-F', '-E', 'offset=1048576', '-d', tree, raw, `${mib - 1}M`]);
  return raw;
}

/** The host's tools, never the fakes (readers are not ours); sfdisk and mkfs live in sbin. */
const HOST_ENV = { ...process.env, PATH: withSbin(process.env.PATH ?? '/usr/bin:/bin') };

export function run(tool: string, args: string[], input?: string): string {
  return execFileSync(tool, args, {
    encoding: 'utf8',
    env: HOST_ENV,
    input,
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

/** `qemu-img info --output=json` of a file, its format pinned. */
export function qemuInfo(file: string, format: string): Record<string, unknown> {
  return JSON.parse(run('qemu-img', ['info', '--output=json', '-f', format, file])) as Record<string, unknown>;
}

/** Member names of a tar file (`tar -tf`), in archive order. */
export function members(file: string, gzip = false): string[] {
  return run('tar', [gzip ? '-tzf' : '-tf', file])
    .split('\n')
    .filter(Boolean);
}

/** One member's bytes (`tar -xOf`). */
export function member(file: string, name: string, gzip = false): Buffer {
  return execFileSync('tar', [gzip ? '-xzOf' : '-xOf', file, name], { env: HOST_ENV, maxBuffer: 1 << 30 });
}
