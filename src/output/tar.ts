// Filesystem-tree outputs written while the image is mounted: tar, tgz and squashfs (host /dev, /proc, /sys excluded).
import type { CleanupStack } from '../core/cleanup-stack.js';
import type { Runner } from '../core/exec.js';
import { partialOutput } from './partial.js';

export async function writeTarOutputs(runner: Runner, root: string, stem: string, types: string[], stack: CleanupStack): Promise<string[]> {
  const written: string[] = [];
  for (const type of types.filter((t) => t === 'tar' || t === 'tgz' || t === 'squashfs')) {
    const final = type === 'squashfs' ? `${stem}.squash` : `${stem}.${type}`;
    const { temp, commit } = partialOutput(final, stack);
    // Unlike DIB, the bind-mounted host /dev (and /proc, /sys) are not archived.
    if (type === 'squashfs') {
      // DIB names it .squash and (bug) only makes it when squashfs is the first type; here always.
      await runner.run(['mksquashfs', root, temp, '-comp', 'xz', '-noappend', '-no-progress', '-wildcards', '-e', 'proc/*', 'sys/*', 'dev/*']);
    } else {
      const argv = ['tar', '-C', root, '--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', '--exclude=./proc/*', '--exclude=./sys/*', '--exclude=./dev/*'];
      if (type === 'tgz') argv.push('-z');
      await runner.run([...argv, '-cf', temp, '.']);
    }
    commit();
    written.push(final);
  }
  return written;
}
