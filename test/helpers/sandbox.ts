// Run shell as root in a throwaway view of this machine, so chroot-phase hooks (which write to /etc,
// /usr, ...) run in a unit test without root and without touching the host: a user and mount
// namespace (`unshare -rm`) where /etc /usr /root /opt /boot are copy-on-write overlays, /tmp and
// /run are empty tmpfs, /dev holds only null, zero, full, random, urandom and tty, and everything
// else (/, /var, /home, ...) is read-only. Needs unprivileged user namespaces and overlayfs
// (Linux >= 5.11). /var is not overlaid: overlayfs refuses a lower directory with mounts below it.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO } from './cli.js';

const OVERLAID = ['/etc', '/usr', '/root', '/opt', '/boot'];
const FRESH = ['/tmp', '/run'];
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface SandboxOptions {
  /** Bash run as root inside the sandbox (with set -eu -o pipefail). */
  script: string;
  /** The environment inside (besides HOME=/root and PATH). */
  env?: Record<string, string>;
  /** Directories put in front of PATH (host paths; they are bound into the sandbox). */
  path?: string[];
  /** Sandbox path -> host path, bind-mounted before the script runs. */
  binds?: Record<string, string>;
  /** Sandbox paths copied out when the script ends; read them with file()/link()/exists(). */
  collect?: string[];
}

export interface SandboxResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Contents of a collected file, or undefined when it did not exist at the end. */
  file(path: string): string | undefined;
  /** Target of a collected symlink, or undefined. */
  link(path: string): string | undefined;
  exists(path: string): boolean;
}

export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run `options.script` in a fresh sandbox; everything it wrote is gone afterwards (except collected copies). */
export async function runInSandbox(options: SandboxOptions): Promise<SandboxResult> {
  const base = mkdtempSync(join(tmpdir(), 'dib-ts-sandbox-'));
  const out = join(base, 'out');
  mkdirSync(out);
  const binds: Record<string, string> = {};
  // A checkout under /tmp or /run (CI clones anywhere) would vanish behind the fresh tmpfs: bind it back
  // at its own path, so hook scripts and lib/ stay reachable by the paths the tests use.
  if (FRESH.some((d) => REPO.startsWith(`${d}/`))) binds[REPO] = REPO;
  Object.assign(binds, options.binds ?? {});
  const pathDirs = (options.path ?? []).map((dir, i) => {
    const inside = `/run/sandbox-path-${i}`;
    binds[inside] = dir;
    return inside;
  });
  for (const target of Object.keys(binds)) {
    const writable = [...OVERLAID, ...FRESH].some((d) => target === d || target.startsWith(`${d}/`));
    if (!writable && !existsSync(target))
      throw new Error(`sandbox: bind target ${target} must exist or lie in ${[...OVERLAID, ...FRESH].join(' ')}`);
  }
  // The host's /tmp stays reachable as /run/host-tmp, for binds from it and for copying results out.
  const host = (p: string) => (p === '/tmp' || p.startsWith('/tmp/') ? `/run/host-tmp${p.slice(4)}` : p);
  const env = { HOME: '/root', PATH: [...pathDirs, SYSTEM_PATH].join(':'), ...(options.env ?? {}) };
  const lines = [
    'set -eu',
    `base=${shq(base)}`,
    `for d in ${OVERLAID.join(' ')}; do`,
    '  [ -d "$d" ] && [ ! -L "$d" ] || continue',
    '  mkdir -p "$base/upper$d" "$base/work$d"',
    '  mount -t overlay overlay -o "lowerdir=$d,upperdir=$base/upper$d,workdir=$base/work$d,userxattr" "$d"',
    'done',
    'mount -t tmpfs tmpfs /run',
    'mkdir /run/host-tmp /run/sandbox-out /run/sandbox-dev',
    'mount --rbind /tmp /run/host-tmp',
    `mount --bind ${shq(host(out))} /run/sandbox-out`,
    'mount -t tmpfs tmpfs /tmp',
    'mount -t tmpfs -o mode=755 tmpfs /run/sandbox-dev',
    'for n in null zero full random urandom tty; do touch /run/sandbox-dev/$n; mount --bind /dev/$n /run/sandbox-dev/$n; done',
    'ln -s /proc/self/fd /run/sandbox-dev/fd',
    'for i in 0:stdin 1:stdout 2:stderr; do ln -s /proc/self/fd/${i%%:*} /run/sandbox-dev/${i#*:}; done',
    'mkdir /run/sandbox-dev/pts /run/sandbox-dev/shm',
    'mount --move /run/sandbox-dev /dev',
    ...Object.entries(binds).map(([target, source]) => `mkdir -p ${shq(target)} && mount --bind ${shq(host(source))} ${shq(target)}`),
    'mount -o remount,bind,ro /',
    'mount -o remount,bind,ro /run/host-tmp',
    'set +e',
    `env -i ${Object.entries(env)
      .map(([k, v]) => shq(`${k}=${v}`))
      .join(' ')} bash -c ${shq(`set -eu\nset -o pipefail\n${options.script}`)}`,
    'status=$?',
    'set -e',
    ...(options.collect ?? []).map(
      (p) =>
        `if [ -e ${shq(p)} ] || [ -L ${shq(p)} ]; then mkdir -p ${shq('/run/sandbox-out' + dirname(p))} && cp -a ${shq(p)} ${shq('/run/sandbox-out' + p)}; fi`,
    ),
    'exit $status',
  ];
  try {
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('unshare', ['-rm', 'bash', '-c', lines.join('\n')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
    const collected = new Map<string, { kind: 'file' | 'dir' | 'link'; text?: string }>();
    const walk = (p: string) => {
      const full = join(out, p);
      const st = lstatSync(full);
      if (st.isSymbolicLink()) collected.set(p, { kind: 'link', text: readlinkSync(full) });
      else if (st.isDirectory()) {
        collected.set(p, { kind: 'dir' });
        for (const name of readdirSync(full)) walk(join(p, name));
      } else collected.set(p, { kind: 'file', text: readFileSync(full, 'utf8') });
    };
    for (const p of options.collect ?? []) if (existsSync(join(out, p)) || isLink(join(out, p))) walk(p);
    return {
      ...r,
      file: (p) => (collected.get(p)?.kind === 'file' ? collected.get(p)!.text : undefined),
      link: (p) => (collected.get(p)?.kind === 'link' ? collected.get(p)!.text : undefined),
      exists: (p) => collected.has(p),
    };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
