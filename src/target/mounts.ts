// Mounts into the image tree: kernel filesystems, the read-only hooks bind, and unmounting below a path.
import { chmodSync, existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { lstatIfExists } from '../core/fs.js';
import { join } from 'node:path';
import { BuildError } from '../core/errors.js';
import { NEVER_ABORT, type Runner } from '../core/exec.js';
import type { Resources } from '../core/resources.js';
import { retry } from '../core/retry.js';

/** Mount `argv` (ending before the target) at `target`, owned by `resources` (ledger entry, undo). */
export async function mountOwned(runner: Runner, argv: string[], target: string, resources: Resources): Promise<void> {
  await resources.acquire({ kind: 'mount', path: target }, () => runner.run([...argv, target]), {
    label: `unmount ${target}`,
    undo: () => unmountTree(runner, target),
    manual: `umount -l ${target}`,
  });
}

/** Mount proc, a /dev bind, a private devpts and a read-only sysfs into `root`. */
export async function mountKernelFilesystems(runner: Runner, root: string, resources: Resources): Promise<void> {
  const steps: Array<{ target: string; argv: string[] }> = [
    { target: 'proc', argv: ['mount', '-t', 'proc', 'proc'] },
    { target: 'dev', argv: ['mount', '--bind', '/dev'] },
    { target: 'dev/pts', argv: ['mount', '-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=620,gid=5', 'devpts'] },
    { target: 'sys', argv: ['mount', '-t', 'sysfs', '-o', 'ro', 'sysfs'] },
  ];
  for (const step of steps) {
    const target = join(root, step.target);
    mkdirSync(target, { recursive: true });
    await mountOwned(runner, step.argv, target, resources);
  }
}

/** Bind the hooks tree read-only at <root>/tmp/in_target.d for an in-chroot phase. */
export async function bindHooks(runner: Runner, hooksDir: string, root: string, resources: Resources): Promise<string> {
  const tmp = join(root, 'tmp');
  // Never through the image's symlinks: a /tmp that is a link would put the mount on the build host.
  if (lstatIfExists(tmp)?.isSymbolicLink() || lstatIfExists(root)?.isSymbolicLink()) {
    throw new BuildError(`the image's /tmp is a symbolic link (${tmp}); the hooks cannot be mounted there`, {
      hint: 'an element replaced /tmp with a link; keep /tmp a directory during the build (make the link in a later boot or an image-side unit)',
    });
  }
  if (!existsSync(tmp)) {
    mkdirSync(tmp);
    chmodSync(tmp, 0o1777); // mkdir's mode is cut by the umask
  }
  const target = join(tmp, 'in_target.d');
  if (lstatIfExists(target))
    throw new BuildError(`${target} already exists in the image`, {
      hint: 'an element left /tmp/in_target.d behind; remove it in the hook that created it',
    });
  mkdirSync(target);
  resources.defer(`remove ${target}`, () => {
    if (existsSync(target) && !runner.host.isMountPoint(target)) rmdirSync(target);
  });
  await mountOwned(runner, ['mount', '--bind', hooksDir], target, resources);
  await runner.run(['mount', '-o', 'remount,bind,ro', target]);
  return target;
}

/** Unmount everything at or below `path`, deepest first; "not mounted" is success. Retries busy mounts. */
export async function unmountTree(runner: Runner, path: string): Promise<void> {
  try {
    await retry(
      async () => {
        // Deepest first (mountsBelow's order); a busy one fails this attempt, the others still go.
        let failed: unknown;
        for (const m of runner.host.mountsBelow(path)) {
          try {
            await runner.run(['umount', m.mountPoint], { signal: NEVER_ABORT });
          } catch (error) {
            failed ??= error;
          }
        }
        if (failed !== undefined) throw failed instanceof Error ? failed : new BuildError(`umount failed below ${path}`);
        if (runner.host.mountsBelow(path).length) throw new BuildError(`mounts remain below ${path}`);
      },
      { attempts: 10, delayMs: 500 },
    );
  } catch (error) {
    // Last resort: detach lazily so nothing stays reachable below the work directory.
    for (const m of runner.host.mountsBelow(path))
      await runner.run(['umount', '-l', m.mountPoint], { okStatus: [0, 32], signal: NEVER_ABORT });
    if (runner.host.mountsBelow(path).length) throw new BuildError(`could not unmount ${path}: ${(error as Error).message}`);
  }
}
