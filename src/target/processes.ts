// Kill processes whose root directory is inside the image tree (left behind by hooks) before unmounting.
import { poll } from '../core/retry.js';
import { readdirSync, readlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from '../core/log.js';

export function processesRootedIn(root: string): number[] {
  const base = resolve(root);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const r = readlinkSync(`/proc/${entry}/root`);
      if (r === base || r.startsWith(`${base}/`)) pids.push(Number(entry));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return pids;
}

/** SIGTERM, wait up to 3 s, then SIGKILL. Returns how many were found. */
export async function killProcessesRootedIn(root: string, log: Logger): Promise<number> {
  const pids = processesRootedIn(root);
  if (!pids.length) return 0;
  for (const pid of pids) {
    log.warn(`killing process ${pid} left running in the image (${commandOf(pid)})`);
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  await poll(() => !processesRootedIn(root).length, { timeoutMs: 3000, intervalMs: 100 });
  for (const pid of processesRootedIn(root)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await poll(() => !processesRootedIn(root).length, { timeoutMs: 3000, intervalMs: 100 });
  return pids.length;
}

function commandOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return 'unknown';
  }
}
