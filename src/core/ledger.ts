// The resource ledger: every mount, loop device, partition mapping and work file is recorded in the
// build's work directory *before* it is acquired, so a build killed outright (SIGKILL, power loss)
// can be cleaned up later by releasing exactly what its ledger names.
import { appendFileSync, closeSync, writeFileSync, fsyncSync, lstatSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { isAbsolute, join, normalize, relative } from 'node:path';
import { safeRemoveTree } from './fs.js';
import { looksLikePartialOutput } from '../output/partial.js';

export type LedgerEntry =
  | { kind: 'dir'; path: string }
  | { kind: 'mount'; path: string }
  | { kind: 'loop'; file: string }
  | { kind: 'partitions'; file: string }
  | { kind: 'file'; path: string }
  /** A partial output in its private directory beside the final name (outside the work directory). */
  | { kind: 'output'; path: string };

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
    // Created exclusively and private: recovery trusts only ledgers nobody else could have written.
    writeFileSync(this.path, JSON.stringify(header) + '\n', { flag: 'wx', mode: 0o600 });
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
export function processStartTime(pid: number | undefined): string | undefined {
  if (!Number.isInteger(pid) || (pid as number) <= 0) return undefined;
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

export interface RejectedLedger {
  path: string;
  reason: string;
}

/**
 * Ledgers under `tmpDir/dib_build.*` whose owner is no longer running. TMP_DIR is often the
 * world-writable /tmp, so a ledger is only trusted when this tool could have written it: the work
 * directory and the ledger are owned by this user and writable by nobody else, the directory that holds
 * them is not writable by others unless sticky, the header names that very directory, and every path an
 * entry names lies inside it. Anything else is rejected (reported, never acted on).
 */
export function findStaleLedgers(tmpDir: string): { stale: StaleLedger[]; rejected: RejectedLedger[] } {
  const stale: StaleLedger[] = [];
  const rejected: RejectedLedger[] = [];
  let names: string[];
  try {
    names = readdirSync(tmpDir).filter((n) => n.startsWith('dib_build.'));
  } catch {
    return { stale, rejected };
  }
  const uid = process.getuid?.() ?? 0;
  for (const name of names.sort()) {
    const workDir = join(tmpDir, name);
    const path = join(workDir, LEDGER_NAME);
    const reject = (reason: string) => rejected.push({ path, reason });
    let lines: string[];
    try {
      const problem = untrusted(tmpDir, workDir, path, uid);
      if (problem === 'no ledger') continue;
      if (problem) {
        reject(problem);
        continue;
      }
      lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    } catch (error) {
      reject(`unreadable: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      continue;
    }
    let header: Header;
    try {
      header = JSON.parse(lines[0]) as Header;
    } catch {
      reject('its header is not valid JSON');
      continue;
    }
    if (header.workDir !== workDir) {
      reject(`it names another work directory (${String(header.workDir)})`);
      continue;
    }
    const alive = processStartTime(header.owner?.pid);
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
    const outside = [...entries.values()]
      .filter((e) => !(e.kind === 'output' && looksLikePartialOutput(e.path)))
      .map(entryPath)
      .find((p) => p !== workDir && !isInside(workDir, p));
    if (outside !== undefined) {
      reject(`it names a path outside its work directory (${outside})`);
      continue;
    }
    stale.push({ path, workDir, owner: header.owner, pending: [...entries.entries()].sort((a, b) => b[0] - a[0]).map(([, e]) => e) });
  }
  return { stale, rejected };
}

function entryPath(e: LedgerEntry): string {
  return 'path' in e ? e.path : e.file;
}

/** `path` lies strictly inside `dir` (normalised: no `..` escapes). */
export function isInside(dir: string, path: unknown): boolean {
  if (typeof path !== 'string' || !path.startsWith('/')) return false;
  const rel = relative(dir, normalize(path));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** Why a ledger cannot have been written by this tool (undefined: trusted). */
function untrusted(tmpDir: string, workDir: string, ledger: string, uid: number): string | undefined {
  const parent = lstatSync(tmpDir);
  if (parent.uid !== uid && parent.uid !== 0) return `${tmpDir} is owned by uid ${parent.uid}`;
  if (parent.mode & 0o002 && !(parent.mode & 0o1000)) return `${tmpDir} is world-writable without the sticky bit`;
  const dir = lstatSync(workDir);
  if (!dir.isDirectory()) return 'its work directory is not a directory (a symlink?)';
  if (dir.uid !== uid) return `its work directory is owned by uid ${dir.uid}, not ${uid}`;
  if (dir.mode & 0o022) return 'its work directory is writable by group or others';
  let file;
  try {
    file = lstatSync(ledger);
  } catch {
    return 'no ledger';
  }
  if (!file.isFile()) return 'the ledger is not a regular file';
  if (file.uid !== uid) return `the ledger is owned by uid ${file.uid}, not ${uid}`;
  if (file.mode & 0o022) return 'the ledger is writable by group or others';
  return undefined;
}
