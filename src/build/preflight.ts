// Host checks made before anything is created: root, host tools (with their Debian package), the
// output path, the Debian mirror, and the layout against --image-size. All problems at once (exit 2).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { lstatIfExists } from '../core/fs.js';
import { dirname, join } from 'node:path';
import { hostArch } from '../config/settings.js';
import { UsageError, throwIfProblems } from '../core/errors.js';
import { packageForTool, whichTool } from '../core/tools.js';
import { outputProblems } from '../output/checks.js';
import type { PreparedBuild } from './prepare.js';

export function checkHost(prepared: PreparedBuild, env: NodeJS.ProcessEnv): void {
  const { config, layout, plan } = prepared;
  const elements = plan.elements.map((e) => e.name);
  const problems: UsageError[] = [];
  if (process.getuid?.() !== 0)
    problems.push(
      new UsageError('not-root', 'disk-image-create must run as root (it uses chroot, mount and loop devices)', {
        hint: 'run it with sudo',
      }),
    );
  const tools = new Set(['losetup', 'sfdisk', 'partx', 'mount', 'umount', 'chroot', 'fstrim', 'bash', 'cp', 'du']);
  for (const o of prepared.outputs) for (const t of o.type.tools) tools.add(t);
  for (const fs of layout.filesystems) tools.add(fs.type === 'vfat' ? 'mkfs.vfat' : fs.type === 'swap' ? 'mkswap' : `mkfs.${fs.type}`);
  if (elements.includes('debootstrap')) tools.add('debootstrap');
  if (config.verify) for (const t of ['qemu-system-x86_64', 'setpriv', 'xorriso', 'ssh', 'ssh-keygen', 'blkid']) tools.add(t);
  for (const tool of [...tools].sort()) {
    if (!whichTool(tool)) {
      const pkg = packageForTool(tool);
      problems.push(
        new UsageError('missing-tool', `${tool} is not installed`, { hint: pkg ? `apt-get install ${pkg}` : `install ${tool}` }),
      );
    }
  }
  const stem = config.imageName;
  const dir = dirname(stem);
  if (stem === '/' || stem.endsWith('/'))
    problems.push(new UsageError('invalid-output', `output name '${stem}' is a directory, not a file stem`, { hint: 'use -o DIR/NAME' }));
  else if (!existsSync(dir))
    problems.push(new UsageError('invalid-output', `output directory ${dir} does not exist`, { hint: `create it: mkdir -p ${dir}` }));
  else {
    if (!isWritable(dir)) {
      problems.push(
        new UsageError('invalid-output', `output directory ${dir} is not writable`, { hint: 'choose another -o or fix the permissions' }),
      );
    }
    // lstat: a symlink planted at an output name (or beside it) is refused, never followed.
    const beside = prepared.outputs.flatMap((o) => [o.path, ...(config.checksum ? [`${o.path}.md5`, `${o.path}.sha256`] : [])]);
    for (const path of beside) {
      const st = lstatIfExists(path);
      if (st && !st.isFile()) {
        const what = `${path} exists and is not a regular file${st.isSymbolicLink() ? ' (a symbolic link)' : ''}`;
        problems.push(new UsageError('invalid-output', what, { hint: 'remove it or choose another -o' }));
      }
    }
    const manifests = lstatIfExists(`${stem}.d`);
    if (manifests && !manifests.isDirectory()) {
      const what = `${stem}.d exists and is not a directory${manifests.isSymbolicLink() ? ' (a symbolic link)' : ''}`;
      problems.push(new UsageError('invalid-output', what, { hint: 'remove it or choose another -o' }));
    }
  }
  problems.push(
    ...outputProblems({
      outputs: prepared.outputs,
      dockerTarget: config.dockerTarget,
      imageName: config.imageName,
      elements,
      partitionTable: prepared.layout.partitionings.length > 0,
    }),
  );
  if (config.verify && !prepared.outputs.some((o) => o.type.name === 'qcow2' || o.type.name === 'raw')) {
    problems.push(new UsageError('usage', '--verify needs a qcow2 or raw output', { hint: 'add qcow2 or raw to -t' }));
  }
  problems.push(
    ...directoryProblems('TMP_DIR', config.tmpDir, config.tmpDir),
    ...directoryProblems('DIB_IMAGE_CACHE', config.imageCache, existingAncestor(config.imageCache)),
  );
  if (config.arch === 'i386' && hostArch() === 'amd64' && isDirectoryWritable(config.tmpDir)) {
    const cannot = cannotRunI386(config.tmpDir);
    if (cannot)
      problems.push(
        new UsageError('foreign-arch', `this host cannot run i386 programs (${cannot}), so no i386 hook or package script could run`, {
          hint: "enable the kernel's IA32 emulation (CONFIG_IA32_EMULATION, boot option ia32_emulation=1) or register qemu-user-static for i386 with binfmt_misc; or build for amd64",
        }),
      );
  }
  const mirror = prepared.mirrors.mirror ?? env.DIB_DISTRIBUTION_MIRROR ?? env.DIB_DEBIAN_DISTRIBUTION_MIRROR;
  if (elements.includes('debootstrap') && !mirror) {
    problems.push(
      new UsageError('no-mirror', 'no Debian mirror: the host apt configuration names none and DIB_DISTRIBUTION_MIRROR is not set', {
        hint: 'set DIB_DISTRIBUTION_MIRROR=http://your.mirror/debian',
      }),
    );
  }
  throwIfProblems(problems);
}

// The smallest i386 ELF program: _start does exit(0) through int 0x80 (52-byte header, one PT_LOAD).
const I386_EXIT0 = Buffer.from(
  '7f454c46010101000000000000000000020003000100000054800408340000000000000000000000340020000100000000000000' +
    '010000000000000000800408008004085d0000005d0000000500000000100000b80100000031dbcd80',
  'hex',
);

/** Why the host cannot execute an i386 program (a build's chroot could not run), or null when it can. */
function cannotRunI386(tmpDir: string): string | null {
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpDir, 'dib_arch_probe.'));
  } catch {
    return null; // no place to probe (TMP_DIR's own problems are reported above): the build finds out itself
  }
  try {
    const probe = join(dir, 'exit0');
    writeFileSync(probe, I386_EXIT0, { mode: 0o700, flag: 'wx' });
    const r = spawnSync(probe, [], { stdio: 'ignore', timeout: 10_000 });
    const code = r.error ? (r.error as NodeJS.ErrnoException).code : undefined;
    if (code === 'EACCES' || code === 'EPERM') return null; // a noexec TMP_DIR says nothing about the kernel
    if (r.error) return code === 'ENOEXEC' ? 'Exec format error' : r.error.message;
    return r.status === 0 ? null : `an i386 test program did not run: exit status ${r.status ?? r.signal}`;
  } catch {
    return null; // the probe could not be written (a full disk): no evidence either way
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function isDirectoryWritable(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && isWritable(path);
}

/** `setting` names `path`, whose deepest existing part `existing` must be a writable directory (it is made with mkdir -p). */
function directoryProblems(setting: string, path: string, existing: string): UsageError[] {
  const st = existsSync(existing) ? statSync(existing) : undefined; // the user's own setting: a link to a directory is fine
  const what = existing === path ? `${setting} ${path}` : `${setting} ${path} cannot be created: ${existing}`;
  if (!st)
    return [
      new UsageError('invalid-setting', `${what} does not exist`, {
        hint: `create it (mkdir -p ${path}) or set ${setting} to an existing directory`,
      }),
    ];
  if (!st.isDirectory())
    return [new UsageError('invalid-setting', `${what} is not a directory`, { hint: `set ${setting} to a directory` })];
  if (!isWritable(existing))
    return [new UsageError('invalid-setting', `${what} is not writable`, { hint: `set ${setting} to a writable directory` })];
  return [];
}

/** The deepest existing path on the way to `path` (where mkdir -p would start). */
function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p) && p !== dirname(p)) p = dirname(p);
  return p;
}

function isWritable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
