// The DIB infrastructure elements upstream-style element trees depend on (source-repositories,
// cache-url, svc-map, dib-python, sysctl, modprobe, dhcp-all-interfaces, ...) and the $_LIB shell
// library: their hooks and helpers run against temporary trees (chroot-phase hooks in a namespace
// sandbox, see helpers/sandbox.ts) and each element resolves with element-info.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { REPO, runCli } from '../../helpers/cli.js';
import { runInSandbox, shq } from '../../helpers/sandbox.js';
import { tempDir, writeTree } from '../../helpers/tree.js';

const ELEMENTS = join(REPO, 'elements');
const LIB = join(REPO, 'lib');
const NEW_ELEMENTS = [
  'source-repositories',
  'cache-url',
  'svc-map',
  'dib-python',
  'sysctl',
  'modprobe',
  'modprobe-blacklist',
  'dhcp-all-interfaces',
  'journal-to-console',
  'element-manifest',
  'pip-and-virtualenv',
  'no-final-image',
];
const dir = tempDir('dib-ts-infra-');
afterAll(() => dir.remove());
let n = 0;
const fresh = (name: string) => {
  const p = join(dir.path, `${name}-${n++}`);
  mkdirSync(p, { recursive: true });
  return p;
};
const hook = (element: string, rel: string) => join(ELEMENTS, element, rel);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}
/** Run a command to completion without blocking the event loop (the HTTP test server must answer). */
function run(argv: string[], env: Record<string, string | undefined> = {}, cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      env: { PATH: process.env.PATH, HOME: dir.path, LANG: 'C.UTF-8', ...env },
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}
const bash = (script: string, env: Record<string, string | undefined> = {}) =>
  run(['bash', '-c', `set -eu\nset -o pipefail\n${script}`], env);
const fakeBin = (name: string, body: string) => {
  const bin = fresh(`bin-${name}`);
  writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
  chmodSync(join(bin, name), 0o755);
  return bin;
};
const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.email=t@example.org', '-c', 'user.name=t', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    env: { ...process.env, HOME: dir.path },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
    .toString()
    .trim();

describe('the sandbox for chroot-phase hooks', () => {
  it('sees this checkout at its own path, wherever it is cloned (even below /tmp, which it replaces)', async () => {
    const r = await runInSandbox({ script: `test -f ${shq(join(REPO, 'package.json'))} && test -d ${shq(join(REPO, 'elements'))}` });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('lib/ (what upstream elements source through $_LIB)', () => {
  it("die prints ERROR: on stderr and exits with the failed command's status, or 1 after a success", async () => {
    const failed = await bash(`source "$_LIB/die"; (exit 3) || die "cannot continue"`, { _LIB: LIB });
    expect(failed.status).toBe(3);
    expect(failed.stderr).toBe('ERROR: cannot continue\n');
    const after = await bash(`source "$_LIB/die"; if true; then die "bad input"; fi`, { _LIB: LIB });
    expect(after.status).toBe(1);
  });

  it('img-defaults (found next to itself without _LIB) sets the DIB defaults and keeps values already set', async () => {
    const r = await bash(
      `source ${LIB}/img-defaults; source ${LIB}/img-defaults; echo "$ARCH $FS_TYPE $IMAGE_TYPE $IMAGE_NAME $DIB_OFFLINE|$PATH"`,
      { PATH: '/usr/bin:/bin', FS_TYPE: 'xfs' },
    );
    expect(r.stderr).toBe('');
    const arch = execFileSync('dpkg', ['--print-architecture']).toString().trim();
    expect(r.stdout).toBe(`${arch} xfs qcow2 image |/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin\n`);
    expect((await bash(`source ${LIB}/common-defaults; echo $ARCH`, { ARCH: 'arm64' })).stdout).toBe('arm64\n');
  });

  it('check_element fails outside a build and passes when TMP_HOOKS_PATH is the merged hooks tree', async () => {
    const outside = await bash(`source ${LIB}/common-functions; check_element; echo unreachable`);
    expect(outside.status).toBe(1);
    expect(outside.stderr).toContain('only works in a hook run by disk-image-create');
    expect((await bash(`source ${LIB}/common-functions; check_element; echo fine`, { TMP_HOOKS_PATH: dir.path })).stdout).toBe('fine\n');
  });

  it("mount_dev_pts_options gives the host's /dev/pts options as one -o argument", async () => {
    const options = execFileSync('findmnt', ['--first-only', '--noheadings', '--output', 'OPTIONS', '/dev/pts']).toString().trim();
    expect((await bash(`source ${LIB}/common-functions; mount_dev_pts_options`)).stdout).toBe(`-o ${options}\n`);
  });

  it('run_in_target runs the command line with sh -c in a chroot of TMP_MOUNT_PATH, with HOME=/root and no host TMPDIR', async () => {
    const log = join(fresh('chroot-log'), 'argv');
    const bin = fakeBin('chroot', `printf '%s\\n' "$@" > ${log}`);
    writeFileSync(join(bin, 'sudo'), '#!/bin/bash\n[ "$1" = -E ] && shift\nexec "$@"\n');
    chmodSync(join(bin, 'sudo'), 0o755);
    const r = await bash(`source ${LIB}/img-functions; run_in_target apt-get install -y "two words"`, {
      PATH: `${bin}:${process.env.PATH}`,
      TMP_MOUNT_PATH: '/tmp/tree',
      TMPDIR: '/host/tmp',
    });
    expect(r.status).toBe(0);
    expect(readFileSync(log, 'utf8').split('\n').slice(0, -1)).toEqual([
      '/tmp/tree',
      'env',
      '-u',
      'TMPDIR',
      '-u',
      'VIRTUAL_ENV',
      'HOME=/root',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'sh',
      '-c',
      'apt-get install -y two words',
    ]);
    expect((await bash(`source ${LIB}/img-functions; run_in_target true`)).stderr).toContain('needs TMP_MOUNT_PATH');
  });

  it('select_boot_kernel_initrd picks the newest kernel by version and the initrd of that same version', async () => {
    const root = fresh('kernel');
    writeTree(root, {
      boot: {
        'vmlinuz-6.1.0-9-amd64': '',
        'initrd.img-6.1.0-9-amd64': '',
        'vmlinuz-6.1.0-10-amd64': '',
        'initrd.img-6.1.0-10-amd64': '',
        'initrd.img-6.1.0-11-amd64': '',
        'vmlinuz-6.1.0-12-amd64.old': '',
        'config-6.1.0-10-amd64': '',
      },
    });
    const r = await bash(`source ${LIB}/img-functions; select_boot_kernel_initrd ${root}; echo "$BOOTDIR $KERNEL $RAMDISK"`);
    expect(r.stdout).toBe(`${root}/boot vmlinuz-6.1.0-10-amd64 initrd.img-6.1.0-10-amd64\n`);
    const patterns = await bash(`source ${LIB}/img-functions; select_boot_kernel_initrd ${root}; echo "$KERNEL $RAMDISK"`, {
      DIB_BAREMETAL_KERNEL_PATTERN: 'vmlinuz-*-9-*',
      DIB_BAREMETAL_INITRD_PATTERN: 'initrd.img-*',
    });
    expect(patterns.stdout).toBe('vmlinuz-6.1.0-9-amd64 initrd.img-6.1.0-11-amd64\n');
    rmSync(join(root, 'boot/initrd.img-6.1.0-10-amd64'));
    const missing = await bash(`source ${LIB}/img-functions; select_boot_kernel_initrd ${root}`);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe(`ERROR: no initrd for vmlinuz-6.1.0-10-amd64 in ${root}/boot\n`);
  });

  it('unmount_dir unmounts everything below a directory, deepest first, even paths with spaces, and not the directory itself', async () => {
    const r = await runInSandbox({
      script: `
source ${LIB}/common-functions
mkdir -p /tmp/tree && mount -t tmpfs top /tmp/tree
mkdir -p "/tmp/tree/with space/inner" /tmp/tree/other
mount -t tmpfs a "/tmp/tree/with space" && mkdir "/tmp/tree/with space/inner" && mount -t tmpfs b "/tmp/tree/with space/inner"
mount -t tmpfs c /tmp/tree/other
unmount_dir /tmp/tree
findmnt -rn -o TARGET | grep '^/tmp/tree' || true`,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'Unmounting /tmp/tree/with space/inner\nUnmounting /tmp/tree/with space\nUnmounting /tmp/tree/other\n/tmp/tree\n',
    );
  });

  it('kill_chroot_processes stops the processes rooted in the tree and leaves the others running', async () => {
    const r = await runInSandbox({
      script: `
source ${LIB}/common-functions
mkdir -p /tmp/tree/usr && mount --bind /usr /tmp/tree/usr
for l in bin lib lib64 sbin; do [ -e /$l ] && ln -s usr/$l /tmp/tree/$l; done
chroot /tmp/tree /usr/bin/sleep 300 & inside=$!
sleep 300 & outside=$!
while [ "$(readlink /proc/$inside/root)" != /tmp/tree ]; do sleep 0.05; done
kill_chroot_processes /tmp/tree
wait $inside || echo "inside ended: $?"
kill -0 $outside && echo "outside still running"
kill $outside`,
    });
    expect(r.stdout).toMatch(/^Killing chroot process: sleep \(\d+\)\ninside ended: 143\noutside still running\n$/);
  });
});

describe('cache-url', () => {
  const CACHE_URL = hook('cache-url', 'bin/cache-url');
  let server: Server;
  let base = '';
  const requests: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  let body = 'version 1\n';
  let modified = new Date('2024-01-02T03:04:05Z');
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push({ url: req.url!, headers: req.headers });
      if (req.url === '/file') {
        const since = req.headers['if-modified-since'];
        if (since && new Date(since).getTime() >= modified.getTime()) {
          res.writeHead(304).end();
          return;
        }
        res.writeHead(200, { 'Last-Modified': modified.toUTCString(), 'Content-Type': 'text/plain' }).end(body);
      } else res.writeHead(404).end('no such thing');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  const env = { no_proxy: '*', NO_PROXY: '*', DIB_CACHE_URL_RETRIES: '0' };

  it('downloads a file, then asks with If-Modified-Since and keeps the cached copy while the server has nothing newer', async () => {
    const dest = join(fresh('cache'), 'sub/file');
    const first = await run([CACHE_URL, `${base}/file`, dest], env);
    expect(first.status).toBe(0);
    expect(first.stdout).toBe(`Downloaded ${base}/file to ${dest}\n`);
    expect(readFileSync(dest, 'utf8')).toBe('version 1\n');
    expect(statSync(dest).mtime.getTime()).toBe(modified.getTime());
    const again = await run([CACHE_URL, `${base}/file`, dest], env);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe(`Server copy has not changed. Using the cached copy of ${base}/file\n`);
    expect(requests.at(-1)!.headers['if-modified-since']).toBe(modified.toUTCString());
    body = 'version 2\n';
    modified = new Date('2024-02-02T00:00:00Z');
    const changed = await run([CACHE_URL, `${base}/file`, dest], env);
    expect(changed.stdout).toBe(`Server copy of ${base}/file has changed; downloaded it to ${dest}\n`);
    expect(readFileSync(dest, 'utf8')).toBe('version 2\n');
    expect(readdirSync(join(dest, '..'))).toEqual(['file']);
  });

  it('-f sends no-cache and no If-Modified-Since, and downloads again', async () => {
    const dest = join(fresh('cache'), 'file');
    await run([CACHE_URL, `${base}/file`, dest], env);
    const forced = await run([CACHE_URL, '-f', `${base}/file`, dest], env);
    expect(forced.status).toBe(0);
    expect(requests.at(-1)!.headers['cache-control']).toBe('no-cache, must-revalidate');
    expect(requests.at(-1)!.headers['if-modified-since']).toBeUndefined();
  });

  it('a 404 exits 44 and leaves the cached copy and no temporary file', async () => {
    const cache = fresh('cache');
    writeFileSync(join(cache, 'old'), 'cached\n');
    const r = await run([CACHE_URL, `${base}/missing`, join(cache, 'old')], env);
    expect(r.status).toBe(44);
    expect(r.stderr).toBe(`cache-url: ${base}/missing: not found (404)\n`);
    expect(readFileSync(join(cache, 'old'), 'utf8')).toBe('cached\n');
    expect(readdirSync(cache)).toEqual(['old']);
  });

  it("an unreachable server exits 1 with curl's reason; a missing argument prints usage and exits 1", async () => {
    const cache = fresh('cache');
    const r = await run([CACHE_URL, 'http://127.0.0.1:1/x', join(cache, 'x')], env);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cache-url: could not download http://127.0.0.1:1/x (curl exit 7)');
    expect(readdirSync(cache)).toEqual([]);
    const usage = await run([CACHE_URL, 'http://x/'], env);
    expect(usage.status).toBe(1);
    expect(usage.stderr).toMatch(/^usage: cache-url \[-f\] URL DEST/);
  });

  it('file:// URLs are copied, and not again while the source is not newer', async () => {
    const src = join(fresh('src'), 'data');
    writeFileSync(src, 'local\n');
    utimesSync(src, new Date('2020-01-01'), new Date('2020-01-01'));
    const dest = join(fresh('cache'), 'data');
    expect((await run([CACHE_URL, `file://${src}`, dest], env)).stdout).toBe(`Downloaded file://${src} to ${dest}\n`);
    const again = await run([CACHE_URL, `file://${src}`, dest], env);
    expect(again.stdout).toContain('Using the cached copy');
    expect(readFileSync(dest, 'utf8')).toBe('local\n');
  });
});

describe('source-repositories', () => {
  const HOOK = hook('source-repositories', 'extra-data.d/98-source-repositories');
  let src = '';
  let other = '';
  let tarball = '';
  const sha: Record<string, string> = {};
  const cache = fresh('image-cache');
  beforeAll(() => {
    src = fresh('upstream');
    git(src, 'init', '-q');
    writeFileSync(join(src, 'VERSION'), 'one\n');
    git(src, 'add', 'VERSION');
    git(src, 'commit', '-qm', 'one');
    git(src, 'tag', 'v1');
    sha.v1 = git(src, 'rev-parse', 'HEAD');
    git(src, 'checkout', '-qb', 'stable/2023.1');
    writeFileSync(join(src, 'VERSION'), 'stable\n');
    git(src, 'commit', '-qam', 'stable');
    sha.stable = git(src, 'rev-parse', 'HEAD');
    git(src, 'checkout', '-q', 'main');
    writeFileSync(join(src, 'VERSION'), 'review\n');
    git(src, 'commit', '-qam', 'a change under review');
    sha.review = git(src, 'rev-parse', 'HEAD');
    git(src, 'update-ref', 'refs/changes/72/61972/8', 'HEAD');
    git(src, 'reset', '-q', '--hard', 'v1');
    writeFileSync(join(src, 'VERSION'), 'main\n');
    git(src, 'commit', '-qam', 'main');
    sha.main = git(src, 'rev-parse', 'HEAD');
    other = fresh('mirror');
    git(other, 'init', '-q');
    writeFileSync(join(other, 'VERSION'), 'mirror\n');
    git(other, 'add', 'VERSION');
    git(other, 'commit', '-qm', 'mirror');
    const t = fresh('tar');
    writeTree(t, { 'pkg-1.0': { 'setup.py': 'setup()\n', sub: { 'data.txt': 'data\n' } } });
    tarball = join(t, 'pkg-1.0.tar.gz');
    execFileSync('tar', ['-C', t, '-czf', tarball, 'pkg-1.0']);
  });

  /** Run the hook as disk-image-create would: a fresh image tree and hooks tree, the shared cache. */
  async function fetchSources(lines: string, env: Record<string, string> = {}) {
    const work = fresh('build');
    const mnt = join(work, 'mnt');
    const hooks = join(work, 'hooks');
    mkdirSync(mnt);
    mkdirSync(join(hooks, 'bin'), { recursive: true });
    mkdirSync(join(hooks, 'environment.d'));
    copyFileSync(hook('cache-url', 'bin/cache-url'), join(hooks, 'bin/cache-url'));
    chmodSync(join(hooks, 'bin/cache-url'), 0o755);
    writeFileSync(join(hooks, 'source-repository-test'), lines);
    const r = await run(['bash', HOOK], {
      TMP_MOUNT_PATH: mnt,
      TMP_HOOKS_PATH: hooks,
      DIB_IMAGE_CACHE: cache,
      IMAGE_NAME: join(work, 'out/my-image'),
      DIB_MANIFEST_IMAGE_DIR: '/etc/dib-manifests',
      DIB_DEFAULT_INSTALLTYPE: 'source',
      SRC: src,
      no_proxy: '*',
      ...env,
    });
    const read = (p: string) => (existsSync(join(mnt, p)) ? readFileSync(join(mnt, p), 'utf8') : undefined);
    const gitIn = (p: string, ...args: string[]) => git(join(mnt, p), ...args);
    return { ...r, mnt, read, gitIn, envFile: () => readFileSync(join(hooks, 'environment.d/01-source-repositories-environment'), 'utf8') };
  }

  it('clones a git source at its default branch into the image, with origin, the list and the git manifest', async () => {
    const r = await fetchSources(`# comment\n\nproj git /opt/stack/proj ${src}\n`);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.read('opt/stack/proj/VERSION')).toBe('main\n');
    expect(r.gitIn('opt/stack/proj', 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
    expect(r.gitIn('opt/stack/proj', 'remote', 'get-url', 'origin')).toBe(src);
    expect(r.read('etc/dib-source-repositories')).toBe('/opt/stack/proj\n');
    expect(r.read('etc/dib-manifests/dib-manifest-git-my-image')).toBe(`proj git /opt/stack/proj ${src} ${sha.main}\n`);
    const key = execFileSync('sha1sum', { input: `git_${src}\n` })
      .toString()
      .split(' ')[0];
    expect(existsSync(join(cache, 'source-repositories', `proj_${key}`))).toBe(true);
    expect(r.envFile()).toBe('export DIB_REPOTYPE_proj=git\n');
  });

  it('DIB_REPOREF_<name> picks a branch, a tag, a commit or a Gerrit change ref; other characters in the name become _', async () => {
    const line = `my-proj git /opt/p ${src} main\n`;
    const branch = await fetchSources(line, { DIB_REPOREF_my_proj: 'stable/2023.1' });
    expect(branch.read('opt/p/VERSION')).toBe('stable\n');
    expect(branch.gitIn('opt/p', 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('stable/2023.1');
    const tag = await fetchSources(line, { DIB_REPOREF_my_proj: 'v1' });
    expect(tag.read('opt/p/VERSION')).toBe('one\n');
    expect(tag.gitIn('opt/p', 'rev-parse', 'HEAD')).toBe(sha.v1);
    const commit = await fetchSources(line, { DIB_REPOREF_my_proj: sha.stable });
    expect(commit.gitIn('opt/p', 'rev-parse', 'HEAD')).toBe(sha.stable);
    const change = await fetchSources(line, { DIB_REPOREF_my_proj: 'refs/changes/72/61972/8' });
    expect(change.stderr).toBe('');
    expect(change.read('opt/p/VERSION')).toBe('review\n');
    expect(change.read('etc/dib-manifests/dib-manifest-git-my-image')).toBe(`my-proj git /opt/p ${src} ${sha.review}\n`);
    const missing = await fetchSources(line, { DIB_REPOREF_my_proj: 'no-such-branch' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`source-repositories: ${src} has no commit for ref 'no-such-branch'`);
  });

  it('DIB_REPOLOCATION_<name> replaces the location, and expands $VARIABLES in the file', async () => {
    const r = await fetchSources('proj git /opt/p $SRC\n', { DIB_REPOLOCATION_proj: other });
    expect(r.read('opt/p/VERSION')).toBe('mirror\n');
    expect(r.gitIn('opt/p', 'remote', 'get-url', 'origin')).toBe(other);
    expect((await fetchSources('proj git /opt/p $SRC v1\n')).read('opt/p/VERSION')).toBe('one\n');
  });

  it('updates the cache from the source on the next build, but not with DIB_OFFLINE when the cache has the ref', async () => {
    const repo = fresh('moving');
    git(repo, 'init', '-q');
    writeFileSync(join(repo, 'f'), '1\n');
    git(repo, 'add', 'f');
    git(repo, 'commit', '-qm', '1');
    const line = `moving git /opt/m ${repo} main\n`;
    expect((await fetchSources(line)).read('opt/m/f')).toBe('1\n');
    writeFileSync(join(repo, 'f'), '2\n');
    git(repo, 'commit', '-qam', '2');
    const offline = await fetchSources(line, { DIB_OFFLINE: '1' });
    expect(offline.stdout).toContain('DIB_OFFLINE: main is in the cache; not updating');
    expect(offline.read('opt/m/f')).toBe('1\n');
    expect((await fetchSources(line)).read('opt/m/f')).toBe('2\n');
  });

  it('unpacks tarballs: "." keeps the top directory, "*" takes its contents, a sub-directory only that', async () => {
    const all = await fetchSources(`pkg tar /opt/pkg file://${tarball} .\n`);
    expect(all.stderr).toBe('');
    expect(all.read('opt/pkg/pkg-1.0/setup.py')).toBe('setup()\n');
    const contents = await fetchSources(`pkg tar /opt/pkg ${tarball} *\n`);
    expect(contents.read('opt/pkg/setup.py')).toBe('setup()\n');
    expect(contents.read('opt/pkg/sub/data.txt')).toBe('data\n');
    const sub = await fetchSources(`pkg tar /opt/pkg ${tarball} pkg-1.0/sub\n`);
    expect(readdirSync(join(sub.mnt, 'opt/pkg'))).toEqual(['data.txt']);
    expect(readdirSync(join(sub.mnt, 'tmp'))).toEqual([]);
    const noRef = await fetchSources(`pkg tar /opt/pkg ${tarball}\n`);
    expect(noRef.stdout).toContain("warning: no ref given for a tarball; using '*'");
    expect(noRef.read('opt/pkg/setup.py')).toBe('setup()\n');
  });

  it('copies a file source, and with DIB_OFFLINE reuses the cached copy when the source is gone', async () => {
    const f = join(fresh('file'), 'settings.conf');
    writeFileSync(f, 'a = 1\n');
    const line = `settings file /etc/app/settings.conf ${f}\n`;
    const first = await fetchSources(line);
    expect(first.read('etc/app/settings.conf')).toBe('a = 1\n');
    expect(lstatSync(join(first.mnt, 'etc/app/settings.conf')).mode & 0o777).toBe(0o644);
    rmSync(f);
    const offline = await fetchSources(line, { DIB_OFFLINE: '1' });
    expect(offline.status).toBe(0);
    expect(offline.read('etc/app/settings.conf')).toBe('a = 1\n');
  });

  it('package sources and non-source install types fetch nothing and steer install-types through environment.d', async () => {
    const r = await fetchSources(`viapkg package\nproj git /opt/p ${src}\n`, { DIB_INSTALLTYPE_proj: 'package' });
    expect(r.status).toBe(0);
    expect(existsSync(join(r.mnt, 'opt/p'))).toBe(false);
    expect(r.stdout).toContain('proj: install type is package, not source; not fetching');
    expect(r.envFile()).toBe(
      'export DIB_REPOTYPE_viapkg=package\nexport DIB_INSTALLTYPE_viapkg=${DIB_INSTALLTYPE_viapkg:-package}\nexport DIB_REPOTYPE_proj=git\n',
    );
    const overridden = await fetchSources(`proj git /opt/p ${src}\n`, { DIB_REPOTYPE_proj: 'package' });
    expect(existsSync(join(overridden.mnt, 'opt/p'))).toBe(false);
  });

  it('NO_SOURCE_REPOSITORIES=1 fetches nothing', async () => {
    const r = await fetchSources(`proj git /opt/p ${src}\n`, { NO_SOURCE_REPOSITORIES: '1' });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('NO_SOURCE_REPOSITORIES is set: not fetching any source repository\n');
    expect(readdirSync(r.mnt)).toEqual([]);
  });

  it('refuses two sources with one destination, an unparsable line, and a destination leading out of the image', async () => {
    const dup = await fetchSources(`a git /opt/x ${src}\nb git /opt/x ${other}\n`);
    expect(dup.status).toBe(1);
    expect(dup.stderr).toBe("source-repositories: repositories 'a' and 'b' both use the destination /opt/x\n");
    const bad = await fetchSources('proj svn /opt/p http://example.org/\n');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("source-repository-test: cannot parse 'proj svn /opt/p http://example.org/'");
    const work = fresh('escape');
    mkdirSync(join(work, 'mnt'));
    symlinkSync(work, join(work, 'mnt/opt'));
    const escape = await fetchSources(`proj git /opt/p ${src}\n`, { TMP_MOUNT_PATH: join(work, 'mnt') });
    expect(escape.status).toBe(1);
    expect(escape.stderr).toContain('destination /opt/p leads out of the image');
    expect(existsSync(join(work, 'p'))).toBe(false);
  });
});

describe('svc-map', () => {
  const COLLECT = hook('svc-map', 'extra-data.d/10-collect-svc-map-files');
  const MERGE = hook('svc-map', 'pre-install.d/11-merge-svc-map-files');
  const SVC_MAP = hook('svc-map', 'bin/svc-map');
  // Service names no host package installs a unit for: the sandbox sees the host's /lib/systemd/system.
  const files = {
    nova: 'nova-api:\n  default: openstack-nova-api\n  debian: nova-api\nnova-compute:\n  default: openstack-nova-compute\n',
    glance: 'image-svc:\n  redhat: openstack-image-svc\n  ubuntu: image-svc-ubuntu\n',
  };
  function collected() {
    const d = fresh('svc-map.d');
    for (const [e, text] of Object.entries(files)) writeFileSync(join(d, e), text);
    return d;
  }

  it('extra-data copies the svc-map file of every element of the build into the image', async () => {
    const els = fresh('els');
    writeTree(els, { nova: { 'svc-map': files.nova }, glance: { 'svc-map': files.glance }, plain: { 'element-deps': '' } });
    const mnt = fresh('mnt');
    const r = await run(['bash', COLLECT], {
      TMP_MOUNT_PATH: mnt,
      'BASH_FUNC_get_image_element_array%%': `() {  echo "[nova]=${els}/nova [glance]=${els}/glance [plain]=${els}/plain "\n}`,
    });
    expect(r.status).toBe(0);
    expect(readdirSync(join(mnt, 'tmp/svc-map.d')).sort()).toEqual(['glance', 'nova']);
    expect(readFileSync(join(mnt, 'tmp/svc-map.d/nova'), 'utf8')).toBe(files.nova);
  });

  it("merges them choosing distro, then family, then default, then the name; svc-map prints the mapping or an installed unit's own name", async () => {
    const r = await runInSandbox({
      script: `cp -r /tmp/collected /tmp/svc-map.d\nbash ${MERGE}\n[ ! -e /tmp/svc-map.d ] && echo 'copies removed'\nmkdir -p /usr/lib/systemd/system && touch /usr/lib/systemd/system/nova-compute.service\n${SVC_MAP} nova-api nova-compute image-svc unknown-svc`,
      env: { DISTRO_NAME: 'debian' },
      binds: { '/tmp/collected': collected() },
      collect: ['/usr/share/svc-map/services'],
    });
    expect(r.stderr).toBe('');
    expect(r.file('/usr/share/svc-map/services')).toBe('image-svc: image-svc\nnova-api: nova-api\nnova-compute: openstack-nova-compute\n');
    expect(r.stdout).toBe('svc-map: 3 services for debian\ncopies removed\nnova-api\nnova-compute\nimage-svc\nunknown-svc\n');
    const ubuntu = await runInSandbox({
      script: `cp -r /tmp/collected /tmp/svc-map.d\nbash ${MERGE}\n${SVC_MAP} image-svc nova-api`,
      env: { DISTRO_NAME: 'ubuntu' },
      binds: { '/tmp/collected': collected() },
    });
    expect(ubuntu.stdout).toBe('svc-map: 3 services for ubuntu\nimage-svc-ubuntu\nnova-api\n');
  });

  it('the same service in two elements fails the build naming both', async () => {
    const d = collected();
    writeFileSync(join(d, 'zaqar'), 'nova-api:\n  default: other\n');
    const r = await runInSandbox({
      script: `cp -r /tmp/collected /tmp/svc-map.d\nbash ${MERGE}`,
      env: { DISTRO_NAME: 'debian' },
      binds: { '/tmp/collected': d },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('svc-map: service nova-api is in the svc-map files of both nova and zaqar\n');
  });
});

describe('dib-python', () => {
  const ENV_FILE = hook('dib-python', 'environment.d/50-dib-python-version.bash');
  it('exports DIB_PYTHON=python3 and DIB_PYTHON_VERSION=3, and refuses another version with the reason', async () => {
    expect((await bash(`source ${ENV_FILE}; echo "$DIB_PYTHON $DIB_PYTHON_VERSION"`)).stdout).toBe('python3 3\n');
    const two = await bash(`source ${ENV_FILE}; echo unreachable`, { DIB_PYTHON_VERSION: '2' });
    expect(two.status).toBe(1);
    expect(two.stdout).toBe('');
    expect(two.stderr).toContain('DIB_PYTHON_VERSION=2 is not available: Debian bookworm has only Python 3');
  });

  it('links /usr/bin/dib-python to python3 in the image, and cleanup removes the link', async () => {
    const r = await runInSandbox({
      script: `bash ${hook('dib-python', 'pre-install.d/01-dib-python')}\n/usr/bin/dib-python -c 'import sys; print(sys.version_info[0])'`,
      collect: ['/usr/bin/dib-python'],
    });
    expect(r.stderr).toBe('');
    expect(r.link('/usr/bin/dib-python')).toBe('/usr/bin/python3');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('3');
    // The cleanup hook works inside the chroot (never through the image's links): give the target a
    // shell and rm with their libraries, and run the hook as root of a user namespace.
    const root = fresh('target');
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    for (const lib of ['lib/x86_64-linux-gnu/libc.so.6', 'lib64/ld-linux-x86-64.so.2']) {
      mkdirSync(join(root, lib, '..'), { recursive: true });
      copyFileSync(`/${lib}`, join(root, lib));
    }
    mkdirSync(join(root, 'bin'));
    for (const tool of ['sh', 'rm']) copyFileSync(`/bin/${tool}`, join(root, 'bin', tool));
    for (const tool of ['sh', 'rm']) chmodSync(join(root, 'bin', tool), 0o755);
    symlinkSync('/usr/bin/python3', join(root, 'usr/bin/dib-python'));
    expect((await run(['unshare', '-r', 'bash', hook('dib-python', 'cleanup.d/50-dib-python')], { TARGET_ROOT: root })).status).toBe(0);
    expect(readdirSync(join(root, 'usr/bin'))).toEqual([]);
  });
});

describe('sysctl', () => {
  const bin = join(ELEMENTS, 'sysctl/bin');
  it('sysctl-write-value writes /etc/sysctl.d/NAME.conf, accepts the same value again and refuses a different one', async () => {
    const r = await runInSandbox({
      script: `${bin}/sysctl-write-value net.ipv4.ip_forward 1 "routing for the bootstrap VM"\n${bin}/sysctl-write-value net.ipv4.ip_forward 1\n${bin}/sysctl-write-value net.ipv4.ip_forward 0 || echo "refused: $?"`,
      collect: ['/etc/sysctl.d/net.ipv4.ip_forward.conf'],
    });
    expect(r.file('/etc/sysctl.d/net.ipv4.ip_forward.conf')).toBe('# routing for the bootstrap VM\nnet.ipv4.ip_forward = 1\n');
    expect(r.stdout).toBe(
      'net.ipv4.ip_forward = 1 (from the next boot, /etc/sysctl.d/net.ipv4.ip_forward.conf)\nnet.ipv4.ip_forward = 1 is already set in /etc/sysctl.d/net.ipv4.ip_forward.conf\nrefused: 1\n',
    );
    expect(r.stderr).toContain("sysctl-write-value: conflicting setting for net.ipv4.ip_forward: asked for '0'");
  });

  it('sysctl-set-value checks the key exists before writing it', async () => {
    const r = await runInSandbox({
      script: `${bin}/sysctl-set-value kernel.no_such_knob 1 || echo "refused: $?"\n${bin}/sysctl-set-value kernel.panic 10`,
      collect: ['/etc/sysctl.d/kernel.panic.conf', '/etc/sysctl.d/kernel.no_such_knob.conf'],
    });
    expect(r.stdout).toContain('refused: 1');
    expect(r.stderr).toContain('sysctl-set-value: invalid sysctl key: kernel.no_such_knob');
    expect(r.exists('/etc/sysctl.d/kernel.no_such_knob.conf')).toBe(false);
    expect(r.file('/etc/sysctl.d/kernel.panic.conf')).toBe('# Written by the diskimage-builder sysctl element.\nkernel.panic = 10\n');
  });
});

describe('modprobe and modprobe-blacklist', () => {
  it("extra-data copies the elements' modprobe.d/*.conf files into /etc/modprobe.d of the image", async () => {
    const hooks = fresh('hooks');
    writeTree(hooks, {
      'modprobe.d': { 'disable-nouveau.conf': 'blacklist nouveau\noptions nouveau modeset=0\n', README: 'not a conf file' },
    });
    const mnt = fresh('mnt');
    const r = await run(['bash', hook('modprobe', 'extra-data.d/50-copy-modprobe-conf')], { TMP_HOOKS_PATH: hooks, TMP_MOUNT_PATH: mnt });
    expect(r.status).toBe(0);
    expect(readdirSync(join(mnt, 'etc/modprobe.d'))).toEqual(['disable-nouveau.conf']);
    expect(readFileSync(join(mnt, 'etc/modprobe.d/disable-nouveau.conf'), 'utf8')).toBe('blacklist nouveau\noptions nouveau modeset=0\n');
  });

  it('install.d blacklists each module of DIB_MODPROBE_BLACKLIST once and refreshes the initramfs', async () => {
    const fake = fakeBin('update-initramfs', 'echo "update-initramfs $*" >> /tmp/calls');
    const script = `mkdir -p /etc/modprobe.d && echo 'blacklist igb' > /etc/modprobe.d/blacklist.conf\ntouch /boot/initrd.img-6.1.0-10-amd64\nbash ${hook('modprobe', 'install.d/80-blacklist-modules')}\ncat /tmp/calls`;
    const r = await runInSandbox({
      script,
      env: { DIB_MODPROBE_BLACKLIST: 'igb floppy  pcspkr floppy' },
      path: [fake],
      collect: ['/etc/modprobe.d/blacklist.conf'],
    });
    expect(r.stderr).toBe('');
    expect(r.file('/etc/modprobe.d/blacklist.conf')).toBe('blacklist igb\nblacklist floppy\nblacklist pcspkr\n');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('update-initramfs -u -k all');
    const none = await runInSandbox({
      script: `touch /boot/initrd.img-6.1.0-10-amd64\nbash ${hook('modprobe', 'install.d/80-blacklist-modules')}\n[ -e /tmp/calls ] && echo called || echo not called`,
      path: [fake],
    });
    expect(none.stdout).toBe('not called\n');
  });

  it('modprobe-blacklist stops the build at root.d when DIB_MODPROBE_BLACKLIST is not set', async () => {
    const check = hook('modprobe-blacklist', 'root.d/01-require-modprobe-blacklist');
    const unset = await run(['bash', check]);
    expect(unset.status).toBe(1);
    expect(unset.stderr).toBe('modprobe-blacklist: please set DIB_MODPROBE_BLACKLIST (space-separated module names)\n');
    expect((await run(['bash', check], { DIB_MODPROBE_BLACKLIST: 'igb' })).status).toBe(0);
  });
});

describe('dhcp-all-interfaces', () => {
  const SCRIPT = hook('dhcp-all-interfaces', 'static/usr/local/sbin/dhcp-all-interfaces.sh');
  /** A fake /sys/class/net and fake network tools (ifquery knows ens4 and what the script wrote). */
  function fakes() {
    const sys = fresh('sys-class-net');
    const nic = (type: number, carrier: number) => ({ addr_assign_type: `${type}\n`, carrier: `${carrier}\n` });
    writeTree(sys, { lo: nic(0, 1), ens3: nic(0, 1), ens4: nic(0, 1), veth0: nic(1, 1), ens5: nic(0, 0), 'ens3.100': nic(2, 1) });
    const bin = fresh('net-bin');
    const tools: Record<string, string> = {
      ifquery: 'grep -qs "^iface $1 " /etc/network/interfaces.d/* && exit 0\n[ "$1" = ens4 ]',
      ifup: 'echo "ifup $*" >> /tmp/ifup.log',
      ip: 'exit 0',
      sleep: 'exit 0',
      rdisc6: '[ "$4" = ens3 ] || exit 2\necho "Stateful address conf.    :           No"\necho "Stateful other conf.      :          Yes"',
    };
    for (const [name, body] of Object.entries(tools)) {
      writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    }
    return { binds: { '/sys/class/net': sys }, path: [bin] };
  }

  it('configures DHCP for unconfigured NICs with a cable (and a VLAN of one), not for configured, virtual or unplugged ones', async () => {
    const r = await runInSandbox({
      script: `mkdir -p /etc/network /etc/default && echo DHCP_TIMEOUT=2 > /etc/default/dhcp-all-interfaces\nbash ${SCRIPT}\nbash ${SCRIPT} ens3\ncat /tmp/ifup.log`,
      ...fakes(),
      collect: ['/etc/network/interfaces.d'],
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      [
        'ens3: DHCP configured in /etc/network/interfaces.d/dhcp-all-interfaces-ens3',
        'ens3.100: DHCP configured in /etc/network/interfaces.d/dhcp-all-interfaces-ens3.100',
        'ens4: already configured',
        'ens5: no link after 2s; skipping',
        'veth0: no hardware MAC address (a virtual device); skipping',
        'ens3: already configured',
        'ifup ens3',
        '',
      ].join('\n'),
    );
    expect(r.file('/etc/network/interfaces.d/dhcp-all-interfaces-ens3')).toBe(
      'auto ens3\niface ens3 inet dhcp\niface ens3 inet6 auto\n    dhcp 1\n',
    );
    expect(r.file('/etc/network/interfaces.d/dhcp-all-interfaces-ens3.100')).toBe('auto ens3.100\niface ens3.100 inet dhcp\n');
  });

  it('started for one interface (as the unit does) it configures and brings up that one only; without a cable it does nothing', async () => {
    const r = await runInSandbox({
      script: `mkdir -p /etc/network /etc/default && echo DHCP_TIMEOUT=1 > /etc/default/dhcp-all-interfaces\nbash ${SCRIPT} ens3.100\nbash ${SCRIPT} ens5\nbash ${SCRIPT} gone0\ncat /tmp/ifup.log`,
      ...fakes(),
      collect: ['/etc/network/interfaces.d'],
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        'ens3.100: DHCP configured in /etc/network/interfaces.d/dhcp-all-interfaces-ens3.100',
        'ens5: no link after 1s; skipping',
        'gone0: not a network interface here; nothing to do',
        'ifup ens3.100',
        '',
      ].join('\n'),
    );
    expect(r.exists('/etc/network/interfaces.d/dhcp-all-interfaces-ens5')).toBe(false);
  });

  it('install.d writes the unit with twice DIB_DHCP_TIMEOUT, the udev rule, the timeout for the script and dhclient', async () => {
    const r = await runInSandbox({
      script: `install -D -m 0755 ${SCRIPT} /usr/local/sbin/dhcp-all-interfaces.sh\nmkdir -p /etc/dhcp && printf 'retry 60;\\n#timeout 60;\\n' > /etc/dhcp/dhclient.conf\nbash ${hook('dhcp-all-interfaces', 'install.d/50-dhcp-all-interfaces')}`,
      env: { DIB_DHCP_TIMEOUT: '45', DIB_INIT_SYSTEM: 'systemd' },
      collect: [
        '/usr/lib/systemd/system/dhcp-interface@.service',
        '/etc/udev/rules.d/99-dhcp-all-interfaces.rules',
        '/etc/default/dhcp-all-interfaces',
        '/etc/dhcp/dhclient.conf',
      ],
    });
    expect(r.stderr).toBe('');
    const unit = r.file('/usr/lib/systemd/system/dhcp-interface@.service')!;
    expect(unit).toContain('ExecStart=/usr/local/sbin/dhcp-all-interfaces.sh %i\n');
    expect(unit).toContain('TimeoutStartSec=90s\n');
    expect(unit).toContain('After=network.target\nBefore=network-online.target\n');
    expect(r.file('/etc/udev/rules.d/99-dhcp-all-interfaces.rules')).toContain(
      'SUBSYSTEM=="net", ACTION=="add", KERNEL!="lo", TAG+="systemd", ENV{SYSTEMD_WANTS}+="dhcp-interface@$name.service"\n',
    );
    expect(r.file('/etc/default/dhcp-all-interfaces')).toContain('\nDHCP_TIMEOUT=45\n');
    expect(r.file('/etc/dhcp/dhclient.conf')).toBe(
      '# disabled by dhcp-all-interfaces: retry 60;\n#timeout 60;\ntimeout 45; # set by dhcp-all-interfaces\n',
    );
  });

  it('install.d refuses a bad DIB_DHCP_TIMEOUT and a non-systemd image', async () => {
    const h = hook('dhcp-all-interfaces', 'install.d/50-dhcp-all-interfaces');
    const bad = await runInSandbox({ script: `bash ${h}`, env: { DIB_DHCP_TIMEOUT: '30s', DIB_INIT_SYSTEM: 'systemd' } });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("DIB_DHCP_TIMEOUT must be a whole number of seconds, not '30s'");
    const sysv = await runInSandbox({ script: `bash ${h}`, env: { DIB_INIT_SYSTEM: 'sysv' } });
    expect(sysv.status).toBe(1);
    expect(sysv.stderr).toContain('only systemd images are supported (DIB_INIT_SYSTEM=sysv)');
  });

  it('install.d/60 drops fixed eth* stanzas, keeps others, and leaves /etc/network/interfaces sourcing interfaces.d', async () => {
    const r = await runInSandbox({
      script: `mkdir -p /etc/network/interfaces.d && cd /etc/network/interfaces.d && touch eth0 eth1.cfg 60-bootstrap-ens4\necho 'auto eth0' > /etc/network/interfaces\nbash ${hook('dhcp-all-interfaces', 'install.d/60-remove-cloud-image-interfaces')}`,
      collect: [
        '/etc/network/interfaces',
        '/etc/network/interfaces.d/eth0',
        '/etc/network/interfaces.d/eth1.cfg',
        '/etc/network/interfaces.d/60-bootstrap-ens4',
      ],
    });
    expect(r.status).toBe(0);
    expect(r.file('/etc/network/interfaces')).toBe('auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n');
    expect(r.exists('/etc/network/interfaces.d/eth0')).toBe(false);
    expect(r.exists('/etc/network/interfaces.d/eth1.cfg')).toBe(false);
    expect(r.exists('/etc/network/interfaces.d/60-bootstrap-ens4')).toBe(true);
  });
});

describe('journal-to-console, element-manifest, pip-and-virtualenv', () => {
  it('journal-to-console makes journald forward to the console', async () => {
    const r = await runInSandbox({
      script: `bash ${hook('journal-to-console', 'post-install.d/30-journal-to-console')}`,
      collect: ['/etc/systemd/journald.conf.d/log-to-console.conf'],
    });
    expect(r.file('/etc/systemd/journald.conf.d/log-to-console.conf')).toBe('[Journal]\nForwardToConsole=yes\n');
  });

  it("element-manifest lists the build's elements one per line where manifests does, or at DIB_ELEMENT_MANIFEST_PATH", async () => {
    const h = hook('element-manifest', 'extra-data.d/75-inject-element-manifest');
    const mnt = fresh('mnt');
    const env = { TMP_MOUNT_PATH: mnt, IMAGE_ELEMENT: 'dib-init-system  base vm debian', DIB_MANIFEST_IMAGE_DIR: '/etc/dib-manifests' };
    expect((await run(['bash', h], env)).stdout).toBe('element-manifest: 4 elements in /etc/dib-manifests/dib-element-manifest\n');
    expect(readFileSync(join(mnt, 'etc/dib-manifests/dib-element-manifest'), 'utf8')).toBe('dib-init-system\nbase\nvm\ndebian\n');
    await run(['bash', h], { ...env, DIB_ELEMENT_MANIFEST_PATH: '/root/elements.txt' });
    expect(readFileSync(join(mnt, 'root/elements.txt'), 'utf8')).toBe('dib-init-system\nbase\nvm\ndebian\n');
    const relative = await run(['bash', h], { ...env, DIB_ELEMENT_MANIFEST_PATH: 'elements.txt' });
    expect(relative.status).toBe(1);
    expect(relative.stderr).toContain("must be an absolute path in the image, not 'elements.txt'");
  });

  it('pip-and-virtualenv defaults to the package type, exports the pip and venv commands, and refuses the source type with the reason', async () => {
    const envFile = hook('pip-and-virtualenv', 'environment.d/51-pip-and-virtualenv-default.bash');
    expect(
      (await bash(`source ${envFile}; echo "$DIB_INSTALLTYPE_pip_and_virtualenv|$DIB_PYTHON_PIP|$DIB_PYTHON_VIRTUALENV"`)).stdout,
    ).toBe('package|/usr/bin/python3 -m pip|/usr/bin/python3 -m venv\n');
    const check = hook('pip-and-virtualenv', 'root.d/01-check-pip-install-type');
    expect((await bash(`source ${envFile}; bash ${check}`)).status).toBe(0);
    const source = await bash(`source ${envFile}; bash ${check}`, { DIB_INSTALLTYPE_pip_and_virtualenv: 'source' });
    expect(source.status).toBe(1);
    expect(source.stderr).toContain(
      "install type 'source' is not supported: the 'source' type downloads get-pip.py and packages from PyPI, and this build cannot reach PyPI",
    );
  });

  it("pip-and-virtualenv removes root's pip cache unless DIB_DISABLE_PIP_CLEANUP=1", async () => {
    const h = hook('pip-and-virtualenv', 'post-install.d/89-clean-up-pip-cache');
    const cleaned = await runInSandbox({
      script: `mkdir -p /root/.cache/pip/http && touch /root/.cache/pip/http/x\nbash ${h}`,
      collect: ['/root/.cache/pip'],
    });
    expect(cleaned.exists('/root/.cache/pip')).toBe(false);
    const kept = await runInSandbox({
      script: `mkdir -p /root/.cache/pip/http && touch /root/.cache/pip/http/x\nbash ${h}`,
      env: { DIB_DISABLE_PIP_CLEANUP: '1' },
      collect: ['/root/.cache/pip'],
    });
    expect(kept.exists('/root/.cache/pip/http/x')).toBe(true);
  });
});

describe('the new elements in the shipped tree', () => {
  const PHASES = /^(root|extra-data|pre-install|install|post-install|post-root|block-device|pre-finalise|finalise|cleanup)\.d$/;
  const hooksOf = (element: string) =>
    readdirSync(join(ELEMENTS, element))
      .filter((d) => PHASES.test(d))
      .flatMap((d) => readdirSync(join(ELEMENTS, element, d)).map((h) => `${d}/${h}`));

  it.each(NEW_ELEMENTS)('%s resolves with element-info and has a README', async (name) => {
    const r = await runCli('element-info', [name], { ELEMENTS_PATH: '' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split(' ')).toContain(name);
    expect(readFileSync(join(ELEMENTS, name, 'README.md'), 'utf8')).toMatch(new RegExp(`^# ${name}\\n`));
  });

  it('all of them plan together with a default Debian vm build (no duplicate hook names)', async () => {
    const r = await runCli('element-info', ['--plan', 'vm', 'debian', ...NEW_ELEMENTS], {
      ELEMENTS_PATH: '',
      DIB_MODPROBE_BLACKLIST: 'floppy',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('98-source-repositories');
  });

  it('their hook names are used by no other shipped element, and the hooks follow the house header', () => {
    const others = readdirSync(ELEMENTS).filter((e) => !NEW_ELEMENTS.includes(e) && statSync(join(ELEMENTS, e)).isDirectory());
    const taken = new Set(others.flatMap(hooksOf));
    for (const element of NEW_ELEMENTS) {
      for (const h of hooksOf(element)) {
        expect(taken.has(h), `${element}/${h} clashes with another element`).toBe(false);
        expect(h).toMatch(/^[a-z-]+\.d\/\d\d-[a-z0-9]+(-[a-z0-9]+)+$/);
        const path = join(ELEMENTS, element, h);
        expect(statSync(path).mode & 0o111, `${element}/${h} is executable`).toBe(0o111);
        expect(readFileSync(path, 'utf8').split('\n').slice(0, 4)).toEqual([
          '#!/bin/bash',
          'if [ "${DIB_DEBUG_TRACE:-0}" -gt 0 ]; then set -x; fi',
          'set -eu',
          'set -o pipefail',
        ]);
      }
    }
  });

  it('element-deps name shipped elements', () => {
    for (const element of NEW_ELEMENTS) {
      const deps = join(ELEMENTS, element, 'element-deps');
      if (!existsSync(deps)) continue;
      for (const dep of readFileSync(deps, 'utf8').split('\n').filter(Boolean))
        expect(existsSync(join(ELEMENTS, dep)), `${element} -> ${dep}`).toBe(true);
    }
  });
});
