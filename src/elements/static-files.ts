// static/ trees: a relative symlink that climbs out of its element would copy host files into the image.
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { UsageError } from '../core/errors.js';

/**
 * Absolute link targets are fine (they resolve inside the image once installed); relative targets
 * must stay inside the element's static/ tree.
 */
export function staticSymlinkProblems(element: { name: string; path: string }): UsageError[] {
  const root = join(element.path, 'static');
  const problems: UsageError[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(p);
        if (target.startsWith('/')) continue;
        const rel = relative(root, resolve(dirname(p), target));
        if (rel.startsWith('..')) {
          problems.push(new UsageError('unsafe-static-link', `static/${relative(root, p)} in element '${element.name}' links outside the element (${target})`, {
            hint: 'static/ symlinks may point inside static/ or at absolute paths in the image, never out of the element',
          }));
        }
      } else if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return problems;
}
