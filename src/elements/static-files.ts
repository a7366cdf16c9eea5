// Element trees are input: a static/ link, or a sub-directory (static, bin, a hook directory,
// environment.d) that is a symlink leaving the element, would bring host files into the build.
import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
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

/** Top-level entries of an element that are symlinks to somewhere outside the element (rejected before the build). */
export function elementLinkProblems(element: { name: string; path: string }): UsageError[] {
  const problems: UsageError[] = [];
  let real: string;
  try {
    real = realpathSync(element.path);
  } catch {
    return problems;
  }
  for (const name of readdirSync(element.path).sort()) {
    const p = join(element.path, name);
    if (!lstatSync(p).isSymbolicLink()) continue;
    let target: string;
    try {
      target = realpathSync(p);
    } catch {
      continue; // dangling: nothing is read through it
    }
    const rel = relative(real, target);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      problems.push(
        new UsageError(
          'unsafe-element-link',
          `${name} in element '${element.name}' is a symbolic link leaving the element (${readlinkSync(p)})`,
          {
            hint: `element directories are copied into the build as they are; make ${p} a real directory or file inside the element`,
          },
        ),
      );
    }
  }
  return problems;
}
