// Write a directory tree from an object literal: strings are files, objects are directories.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type TreeSpec = { [name: string]: string | TreeSpec | { symlink: string } | { exec: string } };

export function writeTree(root: string, spec: TreeSpec): void {
  mkdirSync(root, { recursive: true });
  for (const [name, value] of Object.entries(spec)) {
    const path = join(root, name);
    if (typeof value === 'string') writeFileSync(path, value);
    else if ('symlink' in value && typeof value.symlink === 'string') symlinkSync(value.symlink, path);
    else if ('exec' in value && typeof value.exec === 'string') {
      writeFileSync(path, value.exec);
      chmodSync(path, 0o755);
    } else writeTree(path, value);
  }
}

const open = new Set<string>();

/**
 * A temporary directory removed by the returned function — or, when a failing test never gets to call
 * it, by `removeLeftoverTempDirs` at the end of the test file (test/helpers/cleanup-setup.ts).
 */
export function tempDir(prefix = 'dib-ts-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  open.add(path);
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      open.delete(path);
    },
  };
}

/** Remove every temporary directory this test file made and did not remove. */
export function removeLeftoverTempDirs(): void {
  for (const path of open) rmSync(path, { recursive: true, force: true });
  open.clear();
}

/** An element spec with deps/provides lists. */
export function el(deps: string[] = [], provides: string[] = [], extra: TreeSpec = {}): TreeSpec {
  return {
    'element-deps': deps.join('\n') + (deps.length ? '\n' : ''),
    'element-provides': provides.join('\n') + (provides.length ? '\n' : ''),
    ...extra,
  };
}
