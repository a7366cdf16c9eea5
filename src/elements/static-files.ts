// static/ trees: a relative symlink that climbs out of its element would copy host files into the image.
import { readlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import fg from 'fast-glob';
import { UsageError } from '../core/errors.js';

/**
 * Absolute link targets are fine (they resolve inside the image once installed); relative targets
 * must stay inside the element's static/ tree.
 */
export function staticSymlinkProblems(element: { name: string; path: string }): UsageError[] {
  const root = join(element.path, 'static');
  const links = fg.sync('**', {
    cwd: root,
    dot: true,
    onlyFiles: false,
    followSymbolicLinks: false,
    objectMode: true,
    suppressErrors: true,
  });
  const problems: UsageError[] = [];
  for (const entry of links.filter((e) => e.dirent.isSymbolicLink()).sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const p = join(root, entry.path);
    const target = readlinkSync(p);
    if (target.startsWith('/')) continue;
    if (relative(root, resolve(dirname(p), target)).startsWith('..')) {
      problems.push(
        new UsageError('unsafe-static-link', `static/${entry.path} in element '${element.name}' links outside the element (${target})`, {
          hint: 'static/ symlinks may point inside static/ or at absolute paths in the image, never out of the element',
        }),
      );
    }
  }
  return problems;
}
