// Outputs are written under NAME.partial-PID (recorded in the ledger, removed on failure) and renamed when complete.
import { renameSync, rmSync } from 'node:fs';
import type { CleanupStack } from '../core/cleanup-stack.js';
import { ledgerRecord } from '../core/ledger.js';

export interface PartialOutput {
  temp: string;
  /** Move the finished file into place. */
  commit(): void;
}

export function partialOutput(final: string, stack: CleanupStack): PartialOutput {
  const temp = `${final}.partial-${process.pid}`;
  const released = ledgerRecord({ kind: 'file', path: temp });
  stack.push(`remove ${temp}`, () => {
    rmSync(temp, { force: true });
    released();
  });
  return { temp, commit: () => renameSync(temp, final) };
}
