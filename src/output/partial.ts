// Outputs are written in a private directory beside the final name (random name, mode 0700, recorded in
// the ledger before it is made, removed on failure) and renamed into place when complete: a symlink or
// file someone planted at the final name or at `.md5`/`.sha256` is replaced, never written through.
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Resources } from '../core/resources.js';

export interface PartialOutput {
  /** Where the writer writes the output. */
  temp: string;
  /** Where companion files (checksums) are written before they move beside the output. */
  companion: (suffix: string) => string;
  /** Move the output and its companions into place (over whatever is there; rename never follows a link). */
  commit: (suffixes: string[]) => void;
}

const PARTIAL_DIR = /^\.(.+)\.partial-[0-9a-f]{12}$/;

export async function partialOutput(final: string, resources: Resources): Promise<PartialOutput> {
  const dir = join(dirname(final), `.${basename(final)}.partial-${randomBytes(6).toString('hex')}`);
  const temp = join(dir, basename(final));
  await resources.acquire(
    { kind: 'output', path: temp },
    () => {
      mkdirSync(dir, { mode: 0o700 }); // fails if the name exists: never reuse someone else's directory
      return Promise.resolve(temp);
    },
    { label: `remove ${dir}`, undo: () => removePartial(temp) },
  );
  return {
    temp,
    companion: (suffix) => `${temp}${suffix}`,
    commit: (suffixes) => {
      for (const suffix of suffixes) renameSync(`${temp}${suffix}`, `${final}${suffix}`);
      renameSync(temp, final);
      rmdirSync(dir);
    },
  };
}

/** `path` has the shape of a partial output: `<dir>/.<name>.partial-<hex>/<name>`. */
export function looksLikePartialOutput(path: string): boolean {
  const m = PARTIAL_DIR.exec(basename(dirname(path)));
  return !!m && m[1] === basename(path);
}

/** `path` is a partial output this tool made: the right shape, in a private directory of this user. */
export function isPartialOutputPath(path: string, uid = process.getuid?.() ?? 0): boolean {
  if (!looksLikePartialOutput(path)) return false;
  try {
    const st = lstatSync(dirname(path));
    return st.isDirectory() && st.uid === uid && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/** Remove a partial output and its private directory (tolerant: gone is done). */
export function removePartial(temp: string): void {
  const dir = dirname(temp);
  if (!existsSync(dir)) return;
  rmSync(dir, { recursive: true, force: true });
}
