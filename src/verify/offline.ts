// Read-only inspection of an image: converted to a temporary raw file, attached read-only, mounted ro.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import type { Resources } from '../core/resources.js';
import { attachLoop, mapPartitions } from '../disk/loop.js';
import { mountOwned, unmountTree } from '../target/mounts.js';

/** Mount the image's root filesystem read-only at <dir>/root; returns its path. */
export async function mountImageReadOnly(runner: Runner, image: string, dir: string, resources: Resources): Promise<string> {
  const raw = join(dir, 'inspect.raw');
  await runner.run(['qemu-img', 'convert', '-O', 'raw', image, raw]);
  const device = await attachLoop(runner, raw, resources, { readOnly: true });
  const table = await runner.run(['sfdisk', '--json', device], { capture: true, okStatus: [0, 1] });
  const parts: number[] = [];
  if (table.status === 0) {
    const json = JSON.parse(table.stdout) as { partitiontable: { partitions: Array<{ node: string }> } };
    for (const p of json.partitiontable.partitions) parts.push(Number(/(\d+)$/.exec(p.node)![1]));
  }
  const candidates = parts.length ? [...(await mapPartitions(runner, device, parts, resources)).values()] : [device];
  const mnt = join(dir, 'root');
  for (const dev of candidates) {
    const type = (await runner.run(['blkid', '-o', 'value', '-s', 'TYPE', dev], { capture: true, okStatus: [0, 2] })).stdout.trim();
    if (!type || type === 'vfat' || type === 'swap') continue;
    const opts = type.startsWith('ext') ? 'ro,noload' : type === 'xfs' ? 'ro,norecovery' : 'ro';
    await runner.run(['mkdir', '-p', mnt]);
    await mountOwned(runner, ['mount', '-t', type, '-o', opts, dev], mnt, resources);
    if (existsSync(join(mnt, 'etc', 'fstab'))) return mnt;
    await unmountTree(runner, mnt);
  }
  throw new UsageError('invalid-image', `no root filesystem (one with /etc/fstab) found in ${image}`, {
    hint: 'image-verify checks whole-disk images made by disk-image-create (qcow2 or raw)',
  });
}

export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
