// The element search path: ELEMENTS_PATH entries (first wins) with the shipped elements last.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError, throwIfProblems } from '../core/errors.js';
import { type Element, compareBytes } from './element.js';

export interface ElementIndex {
  /** Search path entries in priority order (first wins). */
  entries: string[];
  elements: Map<string, Element>;
  /** For each element name found more than once: the losers, in path order. */
  shadowed: Map<string, Element[]>;
  /** Cache of element-deps / element-provides reads. */
  lists: Map<string, { deps: string[]; provides: string[]; error?: UsageError }>;
}

/** The project's own `elements/` directory. */
export function builtinElementsDir(): string {
  // dist/elements/search-path.js or src/elements/search-path.ts → <repo>/elements
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'elements');
}

/**
 * Split ELEMENTS_PATH and append the built-in directory. Empty entries (`a::b`, a trailing `:`) and
 * entries that are not directories are errors naming them (all of them, at once).
 */
export function searchPathEntries(elementsPath: string | undefined, builtin: string | null = builtinElementsDir()): string[] {
  const entries = elementsPath ? elementsPath.split(':') : [];
  if (builtin && !entries.map((e) => (e ? resolve(e) : e)).includes(resolve(builtin))) entries.push(builtin);
  const problems: UsageError[] = [];
  entries.forEach((entry, i) => {
    if (entry === '') {
      problems.push(
        new UsageError('invalid-element-dir', `ELEMENTS_PATH entry ${i + 1} is empty (in '${elementsPath}')`, {
          hint: 'remove the doubled, leading or trailing ":" from ELEMENTS_PATH',
        }),
      );
      return;
    }
    let isDir: boolean;
    try {
      isDir = statSync(entry).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) {
      problems.push(
        new UsageError('invalid-element-dir', `ELEMENTS_PATH entry '${entry}' is not a directory`, {
          hint: 'every ELEMENTS_PATH entry must be an existing directory that contains element directories',
        }),
      );
    }
  });
  throwIfProblems(problems);
  return entries;
}

/** Scan every entry; each sub-directory (symlinks followed, hidden ones included) is an element. */
export function indexElements(entries: string[]): ElementIndex {
  const elements = new Map<string, Element>();
  const shadowed = new Map<string, Element[]>();
  for (const entry of entries) {
    const names = readdirSync(entry).sort(compareBytes);
    for (const child of names) {
      const full = join(entry, child);
      let real: string;
      try {
        real = realpathSync(full);
        if (!statSync(real).isDirectory()) continue;
      } catch {
        continue; // dangling symlink or unreadable: not an element
      }
      const element: Element = { name: basename(real), path: real, searchEntry: entry };
      const winner = elements.get(element.name);
      if (!winner) elements.set(element.name, element);
      else if (winner.path !== element.path) {
        const list = shadowed.get(element.name) ?? [];
        list.push(element);
        shadowed.set(element.name, list);
      }
    }
  }
  return { entries, elements, shadowed, lists: new Map() };
}

export function loadElementIndex(elementsPath: string | undefined, builtin: string | null = builtinElementsDir()): ElementIndex {
  return indexElements(searchPathEntries(elementsPath, builtin));
}
