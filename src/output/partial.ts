// Outputs are written under a temporary name (recorded in the ledger, removed on failure) and renamed when complete.
import { renameSync, rmSync } from 'node:fs';
import type { Resources } from '../core/resources.js';

export interface PartialOutput {
  temp: string;
  /** Move the finished file into place. */
  commit: () => void;
}

export async function partialOutput(final: string, resources: Resources): Promise<PartialOutput> {
  const temp = `${final}.partial-${process.pid}`;
  await resources.acquire({ kind: 'file', path: temp }, () => Promise.resolve(temp), {
    label: `remove ${temp}`,
    undo: () => rmSync(temp, { force: true }),
  });
  return { temp, commit: () => renameSync(temp, final) };
}
