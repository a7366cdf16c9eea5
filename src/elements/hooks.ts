// Merging element sub-directories into one hooks tree, and choosing which hooks run in what order.
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, throwIfProblems } from '../core/errors.js';
import { compareBytes } from './element.js';

export interface ElementRef {
  name: string;
  path: string;
}

export interface MergedEntry {
  name: string;
  element: string;
  /** Source path inside the element. */
  path: string;
  isDirectory: boolean;
  /** Directories of the same name from later elements, merged into this one (DIB: cp -a merges). */
  mergedFrom: string[];
}

/** Sub-directory name → entries merged from all elements, and the top-level files. */
export interface HooksTree {
  dirs: Map<string, Map<string, MergedEntry>>;
  topFiles: Map<string, MergedEntry>;
}

/** DIB's hook-name filter (`RUN_PARTS_REGEX` overrides it). */
export const DEFAULT_RUN_PARTS_REGEX = '^[0-9A-Za-z_-]+$';
const ENVIRONMENT_FILE = /^[0-9A-Za-z_.-]+$/;
const NOT_MERGED = new Set(['tests', '__pycache__']);

/**
 * Merge the elements' sub-directories (DIB's `generate_hooks`): the same file name in the same
 * sub-directory of two elements is an error naming both; directories merge; dot-files are skipped.
 * Unlike DIB, all collisions are reported at once, and nested collisions are reported too.
 */
export function mergeHooksTree(elements: ElementRef[]): HooksTree {
  const dirs = new Map<string, Map<string, MergedEntry>>();
  const topFiles = new Map<string, MergedEntry>();
  const problems: UsageError[] = [];
  for (const element of elements) {
    for (const child of readdirSync(element.path).sort(compareBytes)) {
      const full = join(element.path, child);
      let st;
      try {
        st = statSync(full);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        if (NOT_MERGED.has(child)) continue;
        const merged = dirs.get(child) ?? new Map<string, MergedEntry>();
        dirs.set(child, merged);
        for (const name of readdirSync(full).sort(compareBytes)) {
          if (name.startsWith('.')) continue;
          if (/[\x00-\x1f\x7f]/.test(name)) {
            problems.push(
              new UsageError(
                'invalid-hook-name',
                `element '${element.name}' has a file with control characters in its name: ${child}/${JSON.stringify(name)}`,
                {
                  hint: 'rename it; hook and data file names must be printable',
                },
              ),
            );
            continue;
          }
          const path = join(full, name);
          let isDirectory = false;
          try {
            isDirectory = statSync(path).isDirectory();
          } catch {
            /* dangling symlink: copied as a link */
          }
          const existing = merged.get(name);
          if (existing && !(existing.isDirectory && isDirectory)) {
            problems.push(
              new UsageError(
                'duplicate-hook',
                `duplicate hook '${child}/${name}' in elements '${existing.element}' and '${element.name}'`,
                {
                  hint: 'hook names must be unique across all elements of a build; rename one of them (or use only one of the two elements)',
                  details: [`${existing.path}`, `${path}`],
                },
              ),
            );
            continue;
          }
          if (existing) existing.mergedFrom.push(path);
          else merged.set(name, { name, element: element.name, path, isDirectory, mergedFrom: [] });
        }
      } else if (st.isFile() && !child.endsWith('.pyc')) {
        topFiles.set(child, { name: child, element: element.name, path: full, isDirectory: false, mergedFrom: [] });
      }
    }
  }
  throwIfProblems(problems);
  return { dirs, topFiles };
}

export interface HookSelection {
  runs: MergedEntry[];
  /** Entries that do not run, and why (shown at -x, like dib-run-parts). */
  ignored: Array<{ entry: MergedEntry; reason: 'not-executable' | 'bad-name' | 'not-a-file' }>;
}

/** Which entries of a phase directory run, in dib-run-parts order. */
export function selectHooks(entries: Iterable<MergedEntry>, regex = DEFAULT_RUN_PARTS_REGEX): HookSelection {
  const pattern = new RegExp(regex);
  const runs: MergedEntry[] = [];
  const ignored: HookSelection['ignored'] = [];
  for (const entry of entries) {
    let isFile: boolean;
    try {
      isFile = statSync(entry.path).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) ignored.push({ entry, reason: 'not-a-file' });
    else if (!pattern.test(entry.name)) ignored.push({ entry, reason: 'bad-name' });
    else if (!isExecutable(entry.path)) ignored.push({ entry, reason: 'not-executable' });
    else runs.push(entry);
  }
  runs.sort((a, b) => compareRunParts(a.name, b.name));
  return { runs, ignored };
}

/** environment.d files: regular files with DIB's name pattern, in byte order of their names. */
export function selectEnvironmentFiles(entries: Iterable<MergedEntry>): MergedEntry[] {
  return [...entries]
    .filter((e) => {
      try {
        return statSync(e.path).isFile() && ENVIRONMENT_FILE.test(e.name);
      } catch {
        return false;
      }
    })
    .sort((a, b) => compareBytes(a.name, b.name));
}

/** `LC_ALL=C sort -n`: leading number (optional '-', none = 0), ties by bytes of the whole name. */
export function compareRunParts(a: string, b: string): number {
  const diff = leadingNumber(a) - leadingNumber(b);
  if (diff !== 0) return diff < 0 ? -1 : 1;
  return compareBytes(a, b);
}

function leadingNumber(name: string): number {
  const m = /^[ \t]*(-?)(\d*)(?:\.(\d*))?/.exec(name)!;
  if (!m[2] && !m[3]) return 0;
  const value = Number(`${m[2] || '0'}.${m[3] || '0'}`);
  return m[1] ? -value : value;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
