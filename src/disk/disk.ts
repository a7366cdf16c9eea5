// Make the disk: raw file(s) on loop devices, partitions, filesystems, mounts — every step on the stack.
import { closeSync, ftruncateSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../core/exec.js';
import type { Resources } from '../core/resources.js';
import { mountOwned, unmountTree } from '../target/mounts.js';
import { type Layout, sortedMounts } from './layout.js';
import { attachLoop, mapPartitions } from './loop.js';
import { planPartitions } from './partition.js';

export interface AttachedDisk {
  /** Raw file of image0. */
  imagePath: string;
  /** Loop device of image0. */
  device: string;
  /** Node name → block device (loops, partitions). */
  devices: Map<string, string>;
  /** Mount point → host path, in mount order. */
  mounts: Array<{ mountPoint: string; path: string; fsType: string }>;
}

export interface DiskOptions {
  layout: Layout;
  sizeBytes: number;
  imageDir: string;
  mountBase: string;
  sectorSize: number;
}

export async function createDisk(runner: Runner, options: DiskOptions, resources: Resources): Promise<AttachedDisk> {
  const { layout } = options;
  const devices = new Map<string, string>();
  const files = new Map<string, string>();
  for (const loop of layout.loops) {
    const dir = loop.directory ?? options.imageDir;
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${loop.name}.raw`);
    const fd = openSync(file, 'w', 0o644);
    try {
      ftruncateSync(fd, loop.size ?? options.sizeBytes);
    } finally {
      closeSync(fd);
    }
    files.set(loop.name, file);
    devices.set(loop.name, await attachLoop(runner, file, resources, { sectorSize: options.sectorSize }));
  }
  for (const part of layout.partitionings) {
    const device = devices.get(part.base)!;
    const loop = layout.loops.find((l) => l.name === part.base)!;
    const planned = planPartitions(part, loop.size ?? options.sizeBytes);
    await runner.run(['sfdisk', '--no-reread', '--no-tell-kernel', '--quiet', '--wipe', 'always', device], { input: planned.script });
    const nodes = await mapPartitions(
      runner,
      device,
      planned.partitions.map((p) => p.number),
      resources,
    );
    for (const p of planned.partitions) devices.set(p.name, nodes.get(p.number)!);
  }
  for (const fs of layout.filesystems) {
    const device = devices.get(fs.base)!;
    await runner.run(mkfsCommand(fs.type, fs.label, fs.opts, fs.uuid, device));
    devices.set(fs.name, device);
  }
  const mounts: AttachedDisk['mounts'] = [];
  for (const m of sortedMounts(layout)) {
    const fs = layout.filesystems.find((f) => f.name === m.base)!;
    const path = join(options.mountBase, m.mountPoint);
    mkdirSync(path, { recursive: true });
    await mountOwned(runner, ['mount', devices.get(fs.name)!], path, resources);
    mounts.push({ mountPoint: m.mountPoint, path, fsType: fs.type });
  }
  return { imagePath: files.get('image0')!, device: devices.get('image0')!, devices, mounts };
}

export function mkfsCommand(type: string, label: string, opts: string, uuid: string | undefined, device: string): string[] {
  const extra = opts.split(' ').filter(Boolean);
  switch (type) {
    case 'vfat':
    case 'fat':
      return ['mkfs.vfat', ...extra, '-n', label, device];
    case 'xfs':
      return ['mkfs.xfs', '-f', ...extra, '-L', label, ...(uuid ? ['-m', `uuid=${uuid}`] : []), '-q', device];
    case 'swap':
      return ['mkswap', ...extra, '-L', label, ...(uuid ? ['-U', uuid] : []), device];
    case 'btrfs':
      return ['mkfs.btrfs', '-f', ...extra, '-L', label, ...(uuid ? ['-U', uuid] : []), '-q', device];
    default:
      return [`mkfs.${type}`, '-F', ...extra, '-L', label, ...(uuid ? ['-U', uuid] : []), '-q', device];
  }
}

/** Success path: discard free space (keeps the raw file sparse), then unmount deepest first. */
export async function finishDisk(runner: Runner, disk: AttachedDisk): Promise<void> {
  for (const m of [...disk.mounts].reverse()) {
    await runner.run(['sync', '-f', m.path]);
    if (m.fsType !== 'vfat' && m.fsType !== 'swap') await runner.run(['fstrim', m.path], { okStatus: [0, 1] });
  }
  for (const m of [...disk.mounts].reverse()) await unmountTree(runner, m.path);
}
