// The shipped elements and shell scripts of this repository, for the lint tests.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fg from 'fast-glob';
import { REPO } from './cli.js';

export const ELEMENTS_DIR = join(REPO, 'elements');

/** Directories whose files are sourced or piped into bash without a shebang. */
export const BASH_SNIPPET_DIRS = ['environment.d', 'image-verify.d'];

const SHELL_SHEBANG = /^#!\s*(\/usr\/bin\/env\s+)?\S*\b(ba|da)?sh(\s|$)/;

/** The first line of a file if it is a shebang, else undefined. */
export function shebangOf(path: string): string | undefined {
  const head = readFileSync(path).subarray(0, 256).toString('utf8');
  return head.startsWith('#!') ? head.split('\n')[0] : undefined;
}

export function isShellShebang(line: string | undefined): boolean {
  return line !== undefined && SHELL_SHEBANG.test(line);
}

/** Names of the shipped elements (directories under elements/). */
export function shippedElements(): string[] {
  return readdirSync(ELEMENTS_DIR)
    .filter((n) => statSync(join(ELEMENTS_DIR, n)).isDirectory())
    .sort();
}

/**
 * Every shell script the project ships, as paths relative to the repository: files with a sh/bash
 * shebang under elements/, scripts/, .ci/ and bin/ (`shebang`), and the shebang-less bash snippets
 * in environment.d/ and image-verify.d/ (`snippets`, to be checked as bash).
 */
export function shippedShellScripts(): { shebang: string[]; snippets: string[] } {
  const files = fg.sync(['elements/**', 'scripts/*', '.ci/*', 'bin/*'], { cwd: REPO, dot: true, onlyFiles: true }).sort();
  const shebang: string[] = [];
  const snippets: string[] = [];
  for (const f of files) {
    const parent = f.split('/').at(-2) ?? '';
    if (isShellShebang(shebangOf(join(REPO, f)))) shebang.push(f);
    else if (f.startsWith('elements/') && BASH_SNIPPET_DIRS.includes(parent)) snippets.push(f);
  }
  return { shebang, snippets };
}
