// An element: a directory on the search path, named by the basename of its real path.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';

export interface Element {
  /** Basename of the real path (DIB: symlinked elements take the target's name). */
  name: string;
  /** Real path of the element directory. */
  path: string;
  /** The ELEMENTS_PATH entry it was found in. */
  searchEntry: string;
}

/** Read a list file (`element-deps`, `element-provides`): one name per line, stripped, blanks dropped. */
export function readNameList(element: Element, file: 'element-deps' | 'element-provides'): string[] {
  const path = join(element.path, file);
  let text: string;
  try {
    if (!statSync(path).isFile()) {
      throw new UsageError('unreadable-element-file', `${file} of element '${element.name}' is not a regular file: ${path}`, {
        hint: `${file} must be a text file with one element name per line`,
      });
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    throw new UsageError(
      'unreadable-element-file',
      `cannot read ${file} of element '${element.name}': ${path} (${code ?? String(error)})`,
      {
        hint: 'check the file permissions; the engine must be able to read every element file',
      },
    );
  }
  const names = new Set<string>();
  for (const raw of text.split('\n')) {
    const name = raw.trim();
    if (name) names.add(name);
  }
  return [...names].sort(compareBytes);
}

/** Problems with an element name as a user or element file wrote it (null when fine). */
export function elementNameProblem(name: string): string | null {
  if (name === '.' || name === '..' || name.includes('/')) return `'${name}' is a path, not an element name`;
  if (name.split('').some((ch) => ch.charCodeAt(0) < 32 || ch.charCodeAt(0) === 127))
    return `element name ${JSON.stringify(name)} contains control characters`;
  if (/\s/.test(name)) return `element name ${JSON.stringify(name)} contains whitespace`;
  return null;
}

/** Byte-wise comparison of strings (C locale), used wherever order must be stable. */
export function compareBytes(a: string, b: string): number {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return Buffer.compare(ba, bb);
}
