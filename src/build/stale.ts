// Release what dead builds left behind, exactly as their ledgers name it (never by pattern matching).
import { existsSync, rmSync } from 'node:fs';
import { type Runner } from '../core/exec.js';
import { findStaleLedgers, removeWorkDir } from '../core/ledger.js';
import { mountsBelow } from '../core/mountinfo.js';
import type { Logger } from '../core/log.js';
import { detachLoop, loopsBackedBy, unmapPartitions } from '../disk/loop.js';
import { unmountTree } from '../target/mounts.js';
import { isPartialOutputPath, removePartial } from '../output/partial.js';
import { killProcessesRootedIn } from '../target/processes.js';

export async function cleanupStaleBuilds(runner: Runner, log: Logger, tmpDir: string): Promise<string[]> {
  const released: string[] = [];
  const { stale: ledgers, rejected } = findStaleLedgers(tmpDir);
  for (const r of rejected) log.warn(`not acting on ${r.path}: ${r.reason}`);
  for (const stale of ledgers) {
    log.warn(`found the ledger of a build that is no longer running (pid ${stale.owner.pid}): ${stale.workDir}`);
    await killProcessesRootedIn(stale.workDir, log);
    for (const entry of stale.pending) {
      switch (entry.kind) {
        case 'mount':
          if (mountsBelow(entry.path).length) {
            await unmountTree(runner, entry.path);
            released.push(`unmounted ${entry.path}`);
          }
          break;
        case 'partitions':
          for (const device of await loopsBackedBy(runner, entry.file)) {
            await unmapPartitions(runner, device);
            released.push(`removed the partition mappings of ${device}`);
          }
          break;
        case 'loop':
          for (const device of await loopsBackedBy(runner, entry.file)) {
            await detachLoop(runner, device, entry.file);
            released.push(`detached ${device} (${entry.file})`);
          }
          break;
        case 'output':
          if (isPartialOutputPath(entry.path)) {
            removePartial(entry.path);
            released.push(`removed the partial output ${entry.path}`);
          }
          break;
        case 'file':
          if (existsSync(entry.path)) {
            rmSync(entry.path, { force: true });
            released.push(`removed ${entry.path}`);
          }
          break;
        case 'dir':
          if (existsSync(entry.path)) {
            await unmountTree(runner, entry.path);
            removeWorkDir(entry.path);
            released.push(`removed ${entry.path}`);
          }
          break;
      }
    }
    if (existsSync(stale.workDir)) {
      await unmountTree(runner, stale.workDir);
      removeWorkDir(stale.workDir);
      released.push(`removed ${stale.workDir}`);
    }
  }
  for (const r of released) log.info(`cleanup-stale: ${r}`);
  return released;
}
