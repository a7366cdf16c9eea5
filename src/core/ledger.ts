// The resource ledger: every mount, loop device, partition mapping and work file is recorded in the
// build's work directory *before* it is acquired, so a build killed outright (SIGKILL, power loss)
// can be cleaned up later by releasing exactly what its ledger names.
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { safeRemoveTree } from './fs.js';

export type LedgerEntry =
  | { kind: 'dir'; path: string }
  | { kind: 'mount'; path: string }
  | { kind: 'loop'; file: string }
  | { kind: 'partitions'; file: string }
  | { kind: 'file'; path: string };

interface Header {
  owner: { pid: number; start: string };
  workDir: string;
  created: string;
}

export const LEDGER_NAME = 'ledger.jsonl';

export class Ledger {
  private next = 0;
  constructor(
    readonly path: string,
    workDir: string,
  ) {
    const header: Header = {
      owner: { pid: process.pid, start: processStartTime(process.pid) ?? '' },
      workDir,
      created: new Date().toISOString(),
    };
    this.append(header);
  }

  /** Record a resource about to be acquired; returns its id. */
  record(entry: LedgerEntry): number {
    const id = this.next++;
    this.append({ id, ...entry });
    return id;
  }

  released(id: number): void {
    try {
      this.append({ released: id });
    } catch (error) {
      // Releasing the work directory removes the ledger with it: nothing is left to record.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  private append(obj: unknown): void {
    appendFileSync(this.path, JSON.stringify(obj) + '\n');
    const fd = openSync(this.path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Remove a build's work directory with its ledger last, so a kill in the middle can still be cleaned up. */
export function removeWorkDir(workDir: string): void {
  for (const name of readdirSync(workDir)) if (name !== LEDGER_NAME) safeRemoveTree(join(workDir, name));
  safeRemoveTree(workDir);
}

/** Field 22 of /proc/PID/stat: the start time, which tells a live owner from a reused pid. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export interface StaleLedger {
  path: string;
  workDir: string;
  owner: { pid: number; start: string };
  /** Unreleased entries, newest first (the order to release them in). */
  pending: LedgerEntry[];
}

/** Ledgers under `tmpDir/dib_build.*` whose owner is no longer running. */
export function findStaleLedgers(tmpDir: string): StaleLedger[] {
  const out: StaleLedger[] = [];
  let names: string[];
  try {
    names = readdirSync(tmpDir).filter((n) => n.startsWith('dib_build.'));
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(tmpDir, name, LEDGER_NAME);
    if (!existsSync(path)) continue;
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    let header: Header;
    try {
      header = JSON.parse(lines[0]) as Header;
    } catch {
      continue;
    }
    const alive = processStartTime(header.owner.pid);
    if (alive !== undefined && alive === header.owner.start) continue;
    const entries = new Map<number, LedgerEntry>();
    for (const line of lines.slice(1)) {
      let obj: { id?: number; released?: number } & Partial<LedgerEntry>;
      try {
        obj = JSON.parse(line) as typeof obj;
      } catch {
        continue; // a torn last line from a power loss
      }
      if (typeof obj.released === 'number') entries.delete(obj.released);
      else if (typeof obj.id === 'number') {
        const { id, ...entry } = obj;
        entries.set(id, entry as LedgerEntry);
      }
    }
    out.push({
      path,
      workDir: header.workDir,
      owner: header.owner,
      pending: [...entries.entries()].sort((a, b) => b[0] - a[0]).map(([, e]) => e),
    });
  }
  return out;
}
