// Leak checks for integration tests: mounts, loop devices and work directories a build left behind.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface Leaks {
  mounts: string[];
  loops: string[];
  workDirs: string[];
}

/** Resources under `root` (a test's own TMP_DIR/output dir) that are still present. */
export function findLeaks(root: string): Leaks {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(root));
  const loops = execFileSync('losetup', ['-a', '-O', 'NAME,BACK-FILE', '-n'])
    .toString()
    .split('\n')
    .filter((l) => l.includes(root));
  const workDirs = existsSync(root) ? readdirSync(root).filter((n) => n.startsWith('dib_build.')) : [];
  return { mounts, loops, workDirs };
}

export const NO_LEAKS: Leaks = { mounts: [], loops: [], workDirs: [] };
