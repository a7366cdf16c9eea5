// Loop devices and partition nodes: attach with losetup, map partitions with partx when the kernel shows none.
import { existsSync, readFileSync } from 'node:fs';
import type { CleanupStack } from '../core/cleanup-stack.js';
import { BuildError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import { ledgerRecord } from '../core/ledger.js';

const NEVER = new AbortController().signal;

export async function attachLoop(runner: Runner, file: string, stack: CleanupStack, sectorSize = 512): Promise<string> {
  const args = ['losetup', '--find', '--show', '--partscan'];
  if (sectorSize !== 512) args.push('--sector-size', String(sectorSize));
  const released = ledgerRecord({ kind: 'loop', file });
  const device = await runner.output([...args, file]);
  if (!/^\/dev\/loop\d+$/.test(device)) throw new BuildError(`losetup printed an unexpected device name: '${device}'`);
  stack.push(`detach ${device}`, async () => {
    await detachLoop(runner, device, file);
    released();
  }, `losetup -d ${device}`);
  return device;
}

/** Attach a file read-only (image inspection). */
export async function attachLoopReadOnly(runner: Runner, file: string, stack: CleanupStack): Promise<string> {
  const device = await runner.output(['losetup', '--find', '--show', '--read-only', '--partscan', file]);
  if (!/^\/dev\/loop\d+$/.test(device)) throw new BuildError(`losetup printed an unexpected device name: '${device}'`);
  stack.push(`detach ${device}`, () => detachLoop(runner, device, file), `losetup -d ${device}`);
  return device;
}

/** Detach, retrying while the device is busy; only if it is still backed by `file` (never someone else's). */
export async function detachLoop(runner: Runner, device: string, file: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const backing = loopBackingFile(device);
    if (backing === undefined || backing.replace(/ \(deleted\)$/, '') !== file) return;
    try {
      await runner.run(['losetup', '-d', device], { signal: NEVER });
      return;
    } catch (error) {
      if (attempt >= 9) throw error;
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
  }
}

/** Loop devices currently backed by `file` (losetup -j). */
export async function loopsBackedBy(runner: Runner, file: string): Promise<string[]> {
  const out = await runner.output(['losetup', '-j', file, '-O', 'NAME', '-n'], { signal: NEVER });
  return out.split('\n').map((l) => l.trim()).filter((l) => /^\/dev\/loop\d+$/.test(l));
}

export function loopBackingFile(device: string): string | undefined {
  const name = device.replace('/dev/', '');
  try {
    return readFileSync(`/sys/block/${name}/loop/backing_file`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Make /dev/loopNpK exist for every partition. Hosts whose kernel parses the table get them from
 * `--partscan`; elsewhere (these machines) `partx -a` adds them through BLKPG.
 */
export async function mapPartitions(runner: Runner, device: string, numbers: number[], stack: CleanupStack): Promise<Map<number, string>> {
  const nodes = new Map(numbers.map((n) => [n, `${device}p${n}`]));
  const missing = () => [...nodes.values()].filter((p) => !existsSync(p));
  const released = ledgerRecord({ kind: 'partitions', file: loopBackingFile(device) ?? device });
  if (missing().length) await runner.run(['partx', '-a', device], { okStatus: [0, 1] });
  stack.push(`remove partition mappings of ${device}`, async () => {
    await unmapPartitions(runner, device);
    released();
  }, `partx -d ${device}`);
  for (let i = 0; i < 50 && missing().length; i++) await new Promise((r) => setTimeout(r, 100));
  if (missing().length) {
    throw new BuildError(`partition devices did not appear: ${missing().join(', ')}`, { hint: 'the kernel must support loop partitions (partx -a) and /dev must be a devtmpfs' });
  }
  return nodes;
}

export async function unmapPartitions(runner: Runner, device: string): Promise<void> {
  const name = device.replace('/dev/', '');
  if (!existsSync(`/sys/block/${name}`)) return;
  const hasParts = () => {
    try {
      return readFileSync(`/proc/partitions`, 'utf8').split('\n').some((l) => l.trim().split(/\s+/)[3]?.startsWith(`${name}p`));
    } catch {
      return false;
    }
  };
  for (let attempt = 0; hasParts(); attempt++) {
    try {
      await runner.run(['partx', '-d', device], { signal: NEVER });
    } catch (error) {
      if (attempt >= 9) throw error;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}
