// Loop devices and partition nodes: attach with losetup, map partitions with partx when the kernel shows none.
import { BuildError } from '../core/errors.js';
import { NEVER_ABORT, type Runner } from '../core/exec.js';
import type { Resources } from '../core/resources.js';
import { HOST, type HostView } from '../core/host-view.js';
import { poll, retry, type RetryPolicy } from '../core/retry.js';

export interface AttachOptions {
  sectorSize?: number;
  readOnly?: boolean;
}

/**
 * Attach `file` to a free loop device (losetup picks it; never a fixed number). The undo is registered
 * before the device name is checked, so even an unexpected answer is detached again.
 */
export async function attachLoop(runner: Runner, file: string, resources: Resources, options: AttachOptions = {}): Promise<string> {
  const argv = ['losetup', '--find', '--show', '--partscan'];
  if (options.readOnly) argv.push('--read-only');
  if (options.sectorSize && options.sectorSize !== 512) argv.push('--sector-size', String(options.sectorSize));
  const device = await resources.acquire({ kind: 'loop', file }, () => runner.output([...argv, file]), {
    label: (d) => `detach ${d}`,
    undo: async (d) => {
      for (const found of /^\/dev\/loop\d+$/.test(d) ? [d] : await loopsBackedBy(runner, file)) await detachLoop(runner, found, file);
    },
    manual: (d) => `losetup -d ${d}`,
  });
  if (!/^\/dev\/loop\d+$/.test(device)) throw new BuildError(`losetup printed an unexpected device name: '${device}'`);
  return device;
}

/** How long a busy loop device is waited for (about 13 s in all). */
export const DETACH_RETRY: RetryPolicy = { attempts: 10, delayMs: 300, backoffMs: 300 };

/** Detach, retrying while the device is busy; only if it is still backed by `file` (never someone else's). */
export async function detachLoop(runner: Runner, device: string, file: string, policy: RetryPolicy = DETACH_RETRY): Promise<void> {
  await retry(async () => {
    const backing = loopBackingFile(device, runner.host);
    if (backing === undefined || backing.replace(/ \(deleted\)$/, '') !== file) return;
    await runner.run(['losetup', '-d', device], { signal: NEVER_ABORT });
  }, policy);
}

/** Loop devices currently backed by `file` (losetup -j). */
export async function loopsBackedBy(runner: Runner, file: string): Promise<string[]> {
  const out = await runner.output(['losetup', '-j', file, '-O', 'NAME', '-n'], { signal: NEVER_ABORT });
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\/dev\/loop\d+$/.test(l));
}

export function loopBackingFile(device: string, host: HostView = HOST): string | undefined {
  return host.read(`/sys/block/${device.replace('/dev/', '')}/loop/backing_file`)?.trim();
}

/**
 * Make /dev/loopNpK exist for every partition. Hosts whose kernel parses the table get them from
 * `--partscan`; elsewhere (these machines) `partx -a` adds them through BLKPG.
 */
export async function mapPartitions(runner: Runner, device: string, numbers: number[], resources: Resources): Promise<Map<number, string>> {
  const nodes = new Map(numbers.map((n) => [n, `${device}p${n}`]));
  const missing = () => [...nodes.values()].filter((p) => !runner.host.exists(p));
  await resources.acquire(
    { kind: 'partitions', file: loopBackingFile(device, runner.host) ?? device },
    async () => {
      if (missing().length) await runner.run(['partx', '-a', device], { okStatus: [0, 1] });
    },
    { label: `remove partition mappings of ${device}`, undo: () => unmapPartitions(runner, device), manual: `partx -d ${device}` },
  );
  // No udev here: the nodes appear when devtmpfs catches up with BLKPG.
  await poll(() => !missing().length, { timeoutMs: 5000, intervalMs: 100 });
  if (missing().length) {
    throw new BuildError(`partition devices did not appear: ${missing().join(', ')}`, {
      hint: 'the kernel must support loop partitions (partx -a) and /dev must be a devtmpfs',
    });
  }
  return nodes;
}

export async function unmapPartitions(runner: Runner, device: string): Promise<void> {
  const name = device.replace('/dev/', '');
  if (!runner.host.exists(`/sys/block/${name}`)) return;
  const hasParts = () =>
    (runner.host.read('/proc/partitions') ?? '').split('\n').some((l) => l.trim().split(/\s+/)[3]?.startsWith(`${name}p`));
  await retry(
    async () => {
      if (!hasParts()) return;
      await runner.run(['partx', '-d', device], { signal: NEVER_ABORT });
      if (hasParts()) throw new BuildError(`partitions of ${device} are still mapped after partx -d`);
    },
    { attempts: 10, delayMs: 300 },
  );
}
