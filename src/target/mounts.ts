// Mounts into the image tree: kernel filesystems, the read-only hooks bind, and unmounting below a path.
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CleanupStack } from '../core/cleanup-stack.js';
import { BuildError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import { ledgerRecord } from '../core/ledger.js';
import { isMountPoint, mountsBelow } from '../core/mountinfo.js';

/** Mount proc, a /dev bind, a private devpts and a read-only sysfs into `root`; undos go on `stack`. */
export async function mountKernelFilesystems(runner: Runner, root: string, stack: CleanupStack): Promise<void> {
  const steps: Array<{ target: string; argv: string[] }> = [
    { target: 'proc', argv: ['mount', '-t', 'proc', 'proc'] },
    { target: 'dev', argv: ['mount', '--bind', '/dev'] },
    { target: 'dev/pts', argv: ['mount', '-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=620,gid=5', 'devpts'] },
    { target: 'sys', argv: ['mount', '-t', 'sysfs', '-o', 'ro', 'sysfs'] },
  ];
  for (const step of steps) {
    const target = join(root, step.target);
    mkdirSync(target, { recursive: true });
    const released = ledgerRecord({ kind: 'mount', path: target });
    await runner.run([...step.argv, target]);
    stack.push(`unmount ${target}`, async () => {
      await unmountTree(runner, target);
      released();
    }, `umount -l ${target}`);
  }
}

/** Bind the hooks tree read-only at <root>/tmp/in_target.d for an in-chroot phase. */
export async function bindHooks(runner: Runner, hooksDir: string, root: string, stack: CleanupStack): Promise<string> {
  const tmp = join(root, 'tmp');
  if (!existsSync(tmp)) mkdirSync(tmp, { mode: 0o1777 });
  const target = join(tmp, 'in_target.d');
  if (existsSync(target)) throw new BuildError(`${target} already exists in the image`, { hint: 'an element left /tmp/in_target.d behind; remove it in the hook that created it' });
  mkdirSync(target);
  stack.push(`remove ${target}`, () => {
    if (existsSync(target) && !isMountPoint(target)) rmdirSync(target);
  });
  const released = ledgerRecord({ kind: 'mount', path: target });
  await runner.run(['mount', '--bind', hooksDir, target]);
  stack.push(`unmount ${target}`, async () => {
    await unmountTree(runner, target);
    released();
  }, `umount -l ${target}`);
  await runner.run(['mount', '-o', 'remount,bind,ro', target]);
  return target;
}

/** Unmount everything at or below `path`, deepest first; "not mounted" is success. Retries busy mounts. */
export async function unmountTree(runner: Runner, path: string, options: { keep?: string[] } = {}): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const mounts = mountsBelow(path).filter((m) => !(options.keep ?? []).includes(m.mountPoint));
    if (!mounts.length) return;
    let failed: string | undefined;
    for (const m of mounts) {
      try {
        await runner.run(['umount', m.mountPoint], { signal: new AbortController().signal });
      } catch (error) {
        failed = `${m.mountPoint}: ${(error as Error).message}`;
      }
    }
    if (!failed) continue;
    if (attempt >= 9) {
      // Last resort: detach lazily so nothing stays reachable below the work directory.
      for (const m of mountsBelow(path)) await runner.run(['umount', '-l', m.mountPoint], { okStatus: [0, 32], signal: new AbortController().signal });
      if (mountsBelow(path).length) throw new BuildError(`could not unmount ${failed}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
