// One build per output name: a lock file (owner pid and start time) in DIB_LOCKFILES.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CleanupStack } from '../core/cleanup-stack.js';
import { UsageError } from '../core/errors.js';
import { processStartTime } from '../core/ledger.js';

export function lockOutput(lockDir: string, stem: string, stack: CleanupStack): void {
  mkdirSync(lockDir, { recursive: true });
  const path = join(lockDir, `output-${createHash('sha256').update(stem).digest('hex').slice(0, 16)}.lock`);
  const me = JSON.stringify({ pid: process.pid, start: processStartTime(process.pid), stem });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, me, { flag: 'wx' });
      stack.push(`release the lock on ${stem}`, () => rmSync(path, { force: true }));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner: { pid: number; start?: string } | undefined;
    try {
      owner = JSON.parse(readFileSync(path, 'utf8')) as { pid: number; start?: string };
    } catch {
      owner = undefined;
    }
    if (owner && processStartTime(owner.pid) !== undefined && processStartTime(owner.pid) === owner.start) {
      throw new UsageError('output-busy', `another build (pid ${owner.pid}) is writing ${stem}`, {
        hint: 'choose another -o, or wait for that build to finish',
      });
    }
    rmSync(path, { force: true }); // its owner is gone
  }
  throw new UsageError('output-busy', `could not lock ${stem}`, { hint: `remove ${path} if no build is running` });
}
