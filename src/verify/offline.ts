// Read-only inspection of an image: its checked copy as raw, attached read-only, the root mounted ro,nodev,nosuid,noexec.
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import type { Resources } from '../core/resources.js';
import { TreeReader, UnsafeTreePath } from '../core/tree-read.js';
import { attachLoop, mapPartitions } from '../disk/loop.js';
import { mountOwned, unmountTree } from '../target/mounts.js';
import type { CheckedImage } from './image-file.js';

/**
 * The root filesystem types disk-image-create writes, with options that keep a read-only mount from
 * replaying a journal. Nothing else is mounted: a hostile image picks the kernel filesystem that parses it.
 */
const ROOT_FS_OPTIONS: Record<string, string> = {
  ext2: 'noload',
  ext3: 'noload',
  ext4: 'noload',
  xfs: 'norecovery',
  btrfs: '',
};
/** Device nodes, setuid bits and executables in the image mean nothing on the host. */
const MOUNT_OPTIONS = 'ro,nodev,nosuid,noexec';

/** Mount the image's root filesystem read-only at <dir>/root; returns its path and the raw file it reads. */
export async function mountImageReadOnly(
  runner: Runner,
  image: CheckedImage,
  dir: string,
  resources: Resources,
): Promise<{ root: string; raw: string }> {
  // The format stays pinned (a raw copy needs no conversion); both paths are absolute, inside `dir`.
  const raw = image.format === 'raw' ? image.path : join(dir, 'inspect.raw');
  if (raw !== image.path) await runner.run(['qemu-img', 'convert', '-f', image.format, '-O', 'raw', '--', image.path, raw]);
  const device = await attachLoop(runner, raw, resources, { readOnly: true });
  const table = await runner.run(['sfdisk', '--json', device], { capture: true, okStatus: [0, 1] });
  const parts: number[] = [];
  if (table.status === 0) {
    const json = JSON.parse(table.stdout) as { partitiontable: { partitions?: Array<{ node: string }> } };
    for (const p of json.partitiontable.partitions ?? []) parts.push(Number(/(\d+)$/.exec(p.node)![1]));
  }
  const candidates = parts.length ? [...(await mapPartitions(runner, device, parts, resources)).values()] : [device];
  const mnt = join(dir, 'root');
  for (const dev of candidates) {
    // -c /dev/null: probe the device, not the host's blkid cache (and leave the cache alone).
    const probe = await runner.run(['blkid', '-c', '/dev/null', '-o', 'value', '-s', 'TYPE', dev], { capture: true, okStatus: [0, 2] });
    const type = probe.stdout.trim();
    if (!(type in ROOT_FS_OPTIONS)) continue;
    const opts = [MOUNT_OPTIONS, ROOT_FS_OPTIONS[type]].filter(Boolean).join(',');
    await runner.run(['mkdir', '-p', mnt]);
    await mountOwned(runner, ['mount', '-t', type, '-o', opts, dev], mnt, resources);
    if (hasFstab(mnt)) return { root: mnt, raw };
    await unmountTree(runner, mnt);
  }
  throw new UsageError('invalid-image', `no root filesystem (one with /etc/fstab) found in ${image.source}`, {
    hint: `image-verify checks whole-disk images made by disk-image-create (root filesystem ${Object.keys(ROOT_FS_OPTIONS).join(', ')})`,
  });
}

/** A regular /etc/fstab inside the mounted filesystem (an `etc -> /etc` link does not count). */
function hasFstab(root: string): boolean {
  try {
    return new TreeReader(root).resolve('etc/fstab').stat?.isFile() ?? false;
  } catch (error) {
    if (error instanceof UnsafeTreePath) return false;
    throw error;
  }
}
