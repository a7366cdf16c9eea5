// Root-only, real Debian builds (debootstrap, apt in the chroot): the phase cache reuses what did not
// change, says why a step ran again, computes a shared missing step once, survives corruption and a kill
// mid-store, and its image tree equals one built with --no-cache. The builds use their own image caches
// (the shared test cache's debootstrap tarball and .deb pool linked in), so hits and misses are exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, spawnUntil } from '../helpers/cli.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { ensureCachedBaseTree, hookScript, newImageCache, tinyOsElement } from '../helpers/tiny-os.js';
import { writeTree } from '../helpers/tree.js';

const SHARED = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const root = `/var/tmp/dib-ts-cache-${process.pid}`;
const tmp = join(root, 'tmp');
const out = join(root, 'out');
const elements = join(root, 'elements');
const env = { TMP_DIR: tmp, ELEMENTS_PATH: elements };
const ELEMENTS = ['-n', 'debian-minimal', 'cache-probe'];

interface CacheEvent {
  type: 'cache';
  step: string;
  decision: 'hit' | 'miss' | 'uncacheable';
  reasons: string[];
}

const newCache = (name: string) => newImageCache(SHARED, join(root, name));

function probe(
  version: { install?: string; static?: string; env?: string; packages?: string; final?: string; tool?: string; sleep?: number } = {},
) {
  writeTree(join(elements, 'cache-probe'), {
    'element-deps': 'install-static\npackage-installs\n',
    'environment.d': {
      '10-probe.bash': `export DIB_PROBE_VALUE=\${DIB_PROBE_VALUE:-${version.env ?? 'one'}}\n${version.tool ? `export PROBE_TOOL_SETTING=${version.tool}\n` : ''}`,
    },
    static: { etc: { 'probe-static': `${version.static ?? 's1'}\n` } },
    'package-installs.yaml': `${version.packages ?? 'less'}:\n`,
    'install.d': {
      '60-probe': hookScript(
        `${version.sleep ? `sleep ${version.sleep}\n` : ''}echo "install ${version.install ?? 'v1'} $DIB_PROBE_VALUE \${DIB_PROBE:-unset}" > /etc/probe-install`,
      ),
    },
    'finalise.d': { '90-probe': hookScript(`echo "final ${version.final ?? 'v1'}" > /etc/probe-final`) },
  });
}

async function build(cache: string, name: string, extra: string[] = [], extraEnv: Record<string, string> = {}) {
  const events = join(out, `${name}.events`);
  rmSync(events, { force: true });
  const r = await runCli(
    'disk-image-create',
    ['--image-cache', cache, '--events', events, '-t', 'tar', '-o', join(out, name), ...extra, ...ELEMENTS],
    { ...env, ...extraEnv },
    { timeout: 1_800_000 },
  );
  return { ...r, decisions: cacheEvents(events) };
}

function cacheEvents(file: string): CacheEvent[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string })
    .filter((e): e is CacheEvent => e.type === 'cache');
}

const steps = (d: CacheEvent[], decision: CacheEvent['decision']) => d.filter((e) => e.decision === decision).map((e) => e.step);

function expectBuilt(r: { status: number | null; stderr: string }): void {
  expect(r.stderr.slice(-3000)).toContain('Build completed successfully');
  expect(r.status).toBe(0);
}

/** Every entry of an image tar: type, mode, owner, size, content digest, link target, xattrs. */
function treeOf(tarFile: string): Map<string, string> {
  const dir = `${tarFile}.x`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  execFileSync('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', dir, '-xf', tarFile]);
  const xattrs = new Map<string, string>();
  const dump = execFileSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: dir, maxBuffer: 1 << 28 }).toString();
  for (const block of dump.split('\n\n')) {
    const [head, ...attrs] = block.split('\n').filter(Boolean);
    if (head?.startsWith('# file: ')) xattrs.set(head.slice(8).replace(/^\.\//, ''), attrs.sort().join(','));
  }
  const entries = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(dir, r);
      const st = lstatSync(p);
      const content = st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : st.isSymbolicLink() ? readlinkSync(p) : '';
      entries.set(r, [st.mode.toString(8), st.uid, st.gid, st.isFile() ? st.size : 0, st.rdev, content, xattrs.get(r) ?? ''].join(' '));
      if (st.isDirectory()) walk(r);
    }
  };
  walk('');
  rmSync(dir, { recursive: true, force: true });
  return entries;
}

/**
 * What differs between the two builds and why (README, "Phase cache"): the initramfs embeds the time it
 * was generated; ldconfig's aux-cache records the library files' inode numbers and change times; the dpkg manifest is named after the image; dib_arguments and dib_environment record
 * the command line (another -o, --no-cache). Everything else — every file's type, mode, owner, size,
 * content, link target and xattrs — is equal.
 */
const EXPECTED_TO_DIFFER = [
  /^boot\/initrd\.img-[^/]+$/,
  /^var\/cache\/ldconfig\/aux-cache$/,
  /^etc\/dib-manifests\/dib-manifest-dpkg-(equal-warm|apt-1)$/,
  /^etc\/dib-manifests\/dib_(arguments|environment)$/,
];

let cache: string;

beforeAll(async () => {
  mkdirSync(tmp, { recursive: true });
  mkdirSync(out, { recursive: true });
  mkdirSync(SHARED, { recursive: true });
  await ensureCachedBaseTree(SHARED, env, out);
  cache = newCache('cache-a');
  probe();
  writeTree(join(elements, 'tiny-os'), tinyOsElement());
}, 1_800_000);
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

describe('the phase cache on real Debian builds', () => {
  it('cold: every tree step runs and is stored; an identical rebuild under another name reuses every one (hits only)', async () => {
    const cold = await build(cache, 'cold');
    expectBuilt(cold);
    expect(steps(cold.decisions, 'hit')).toEqual([]);
    const stored = steps(cold.decisions, 'miss');
    expect(stored).toEqual(expect.arrayContaining(['root.d', 'extra-data.d', 'install.d/60-probe', 'post-root.d']));
    const warm = await build(cache, 'warm');
    expectBuilt(warm);
    expect(steps(warm.decisions, 'miss')).toEqual(['outputs']); // named after the image: not reused
    expect(steps(warm.decisions, 'hit')).toEqual(stored.filter((s) => s !== 'outputs'));
    expect(warm.stderr).toMatch(/60-probe\s+0\.000\s+hit/);
    expect(readFileSync(join(out, 'warm.tar')).length).toBeGreaterThan(10_000_000);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });

  it('nothing changed: the stored outputs are reused (the old output rotated, the same content) and the log says so', async () => {
    const first = await build(cache, 'reuse');
    expectBuilt(first);
    const digest = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
    const before = digest(join(out, 'reuse.tar'));
    const again = await build(cache, 'reuse');
    expectBuilt(again);
    expect(again.stderr).toMatch(/phase cache: nothing that decides the image changed; reusing its stored outputs/);
    expect(steps(again.decisions, 'miss')).toEqual([]);
    expect(steps(again.decisions, 'hit')).toContain('outputs');
    expect(digest(join(out, 'reuse.tar'))).toBe(before);
    expect(readdirSync(out).filter((f) => /^reuse-\d{4}\.\d\d\.\d\d-.*\.tar$/.test(f))).toHaveLength(1);
    expect(readdirSync(join(out, 'reuse.d', 'dib-manifests')).length).toBeGreaterThan(0);
  });

  it('an edited install.d hook: the steps before it are reused, it runs again and --explain-cache says its content changed', async () => {
    probe({ install: 'v2' });
    const r = await build(cache, 'hook-edit', ['--explain-cache']);
    expectBuilt(r);
    const missed = steps(r.decisions, 'miss');
    expect(missed[0]).toBe('install.d/60-probe');
    expect(steps(r.decisions, 'hit')).toEqual(expect.arrayContaining(['root.d', 'extra-data.d']));
    expect(r.decisions.find((e) => e.step === 'install.d/60-probe')!.reasons).toEqual(['install.d/60-probe: content changed']);
    expect(r.stderr).toContain('install.d/60-probe: content changed');
    const tree = treeOf(join(out, 'hook-edit.tar'));
    expect(tree.get('etc/probe-install')).toBeDefined();
    expect(execFileSync('tar', ['-xOf', join(out, 'hook-edit.tar'), './etc/probe-install']).toString()).toBe('install v2 one unset\n');
  });

  it('an edited environment file, static file, package list and variable of another element: the shareable root.d is reused, the next step runs again and the miss names each', async () => {
    probe({ install: 'v2', env: 'two', static: 's2', packages: 'jq' });
    const r = await build(cache, 'many-edits', ['--explain-cache'], { DIB_PROBE: 'set' });
    expectBuilt(r);
    // root.d's hooks (debootstrap, dpkg, debian-minimal) are declared shareable: none of these inputs is theirs.
    expect(steps(r.decisions, 'hit')).toEqual(['root.d']);
    expect(steps(r.decisions, 'miss')[0]).toBe('extra-data.d');
    const reasons = r.decisions.find((e) => e.step === 'extra-data.d')!.reasons;
    expect(reasons).toEqual(
      expect.arrayContaining([
        'environment.d/10-probe.bash: content changed',
        'element file cache-probe/static/etc/probe-static: content changed',
        'element file cache-probe/package-installs.yaml: content changed',
        'variable DIB_PROBE: added',
      ]),
    );
    expect(execFileSync('tar', ['-xOf', join(out, 'many-edits.tar'), './etc/probe-install']).toString()).toBe('install v2 two set\n');
    expect(execFileSync('tar', ['-tf', join(out, 'many-edits.tar')]).toString()).toContain('./usr/bin/jq');
  });

  it("a variable outside DIB_* that another element's environment.d exports (it could steer apt or debootstrap): the shareable root.d is a miss that says why (the build is interrupted there)", async () => {
    probe({ install: 'v2', env: 'two', static: 's2', packages: 'jq', tool: 'x' });
    const events = join(out, 'tool-setting.events');
    const reason = 'cache miss root.d: variable PROBE_TOOL_SETTING (after environment.d): added\n';
    const run = await spawnUntil(
      'disk-image-create',
      ['--image-cache', cache, '--events', events, '--explain-cache', '-t', 'tar', '-o', join(out, 'tool-setting'), ...ELEMENTS],
      { ...env, DIB_PROBE: 'set' },
      reason,
    );
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    const decisions = cacheEvents(events);
    expect(decisions.map((e) => [e.step, e.decision])).toEqual([['root.d', 'miss']]);
    expect(decisions[0].reasons).toEqual(['variable PROBE_TOOL_SETTING (after environment.d): added']);
    expect(existsSync(join(out, 'tool-setting.tar'))).toBe(false);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
    probe({ install: 'v2', env: 'two', static: 's2', packages: 'jq' });
  });

  it('two real Debian builds at once on one image cache, uncached, both install packages (no apt lock between them)', async () => {
    const run = (name: string) => build(cache, name, ['--no-cache'], { DIB_PROBE: 'set' });
    const [one, two] = await Promise.all([run('apt-1'), run('apt-2')]);
    expectBuilt(one);
    expectBuilt(two);
    expect(one.decisions).toEqual([]);
    expect(one.stderr + two.stderr).not.toContain('Could not get lock');
    // They really ran at the same time: root.d of both (apt-get dist-upgrade and installs) overlapped.
    const span = (name: string) => {
      const events = readFileSync(join(out, `${name}.events`), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; phase?: string; time: string });
      const start = events.find((e) => e.type === 'phase-start' && e.phase === 'root')!.time;
      const end = events.find((e) => e.type === 'phase-end' && e.phase === 'root')!.time;
      return [Date.parse(start), Date.parse(end)];
    };
    const [a, b] = [span('apt-1'), span('apt-2')];
    expect(Math.max(a[0], b[0])).toBeLessThan(Math.min(a[1], b[1]));
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });

  it('a tree built from the warm cache equals one built with --no-cache (file list, contents, owners, modes, xattrs) but for the documented list', async () => {
    const warm = await build(cache, 'equal-warm', [], { DIB_PROBE: 'set' });
    expectBuilt(warm);
    // Another name: the outputs are not reused, the tree is restored from the stored layers.
    expect(steps(warm.decisions, 'miss')).toEqual(['outputs']);
    // The uncached build of the same inputs: apt-1, built with --no-cache by the test before.
    const a = treeOf(join(out, 'equal-warm.tar'));
    const b = treeOf(join(out, 'apt-1.tar'));
    const differ = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k)).sort();
    const unexpected = differ.filter((k) => !EXPECTED_TO_DIFFER.some((re) => re.test(k)));
    expect(unexpected.map((k) => `${k}: cached ${a.get(k) ?? 'absent'} / uncached ${b.get(k) ?? 'absent'}`)).toEqual([]);
    expect(a.size).toBeGreaterThan(5000);
  });

  it('a corrupt stored step is detected on restore: a warning, that step and the ones after it built again, never used', async () => {
    const entries = readdirSync(join(cache, 'steps')).filter((n) => !n.startsWith('.'));
    // The stored install.d/60-probe of the current inputs (earlier chains stored other versions of it;
    // the chain after another root.d stored the same content too: both are damaged).
    const victims = entries.filter((id) => {
      const file = join(cache, 'steps', id, 'layer', 'etc', 'probe-install');
      return existsSync(file) && readFileSync(file, 'utf8') === 'install v2 two set\n';
    });
    expect(victims.length).toBeGreaterThanOrEqual(1);
    for (const victim of victims) truncateSync(join(cache, 'steps', victim, 'layer', 'etc', 'probe-install'), 3);
    const r = await build(cache, 'corrupt', [], { DIB_PROBE: 'set' });
    expectBuilt(r);
    expect(r.stderr).toMatch(
      /warning: phase cache: the stored step install\.d\/60-probe \(\w+\) does not match its digest; removed, building it again/,
    );
    expect(steps(r.decisions, 'miss')[0]).toBe('install.d/60-probe');
    expect(steps(r.decisions, 'hit')).toContain('root.d');
    expect(execFileSync('tar', ['-xOf', join(out, 'corrupt.tar'), './etc/probe-install']).toString()).toBe('install v2 two set\n');
  });

  it('a SIGKILL while a step is being stored leaves nothing a later build uses; --cleanup-stale and the next build recover', async () => {
    probe({ install: 'v3', env: 'two', static: 's2', packages: 'jq' });
    const killed = await build(cache, 'killed', [], { DIB_PROBE: 'set', DIB_TS_FAULT_STORE: 'SIGKILL@install.d/60-probe' });
    expect(killed.status).toBeNull();
    expect(readdirSync(join(cache, 'steps')).filter((n) => n.startsWith('.tmp-'))).toHaveLength(1);
    const stale = await runCli('disk-image-create', ['--cleanup-stale'], env);
    expect(stale.status).toBe(0);
    const r = await build(cache, 'after-kill', [], { DIB_PROBE: 'set' });
    expectBuilt(r);
    expect(steps(r.decisions, 'miss')[0]).toBe('install.d/60-probe');
    expect(readdirSync(join(cache, 'steps')).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });

  it('two builds at once that need the same missing steps compute each once: the second waits and reuses', async () => {
    // A new install.d hook (taking 20 s): it and every step after it are missing for both builds.
    probe({ install: 'v4', env: 'two', static: 's2', packages: 'jq', sleep: 20 });
    const started = [build(cache, 'flight-1', [], { DIB_PROBE: 'set' }), build(cache, 'flight-2', [], { DIB_PROBE: 'set' })];
    const [one, two] = await Promise.all(started);
    expectBuilt(one);
    expectBuilt(two);
    // The outputs are named after each image: each build writes its own.
    const tree = (d: CacheEvent[], decision: CacheEvent['decision']) => steps(d, decision).filter((s) => s !== 'outputs');
    const order = one.decisions.map((e) => e.step).filter((s) => s !== 'outputs');
    const missing = order.slice(order.indexOf('install.d/60-probe'));
    expect(missing.length).toBeGreaterThan(1);
    expect(tree(one.decisions, 'hit')).toContain('root.d');
    const missed = [...tree(one.decisions, 'miss'), ...tree(two.decisions, 'miss')].sort();
    expect(missed).toEqual([...new Set(missed)]); // no step computed twice
    expect(missed).toEqual([...missing].sort()); // and each missing one computed by one of them
    expect(one.stderr + two.stderr).toMatch(/phase cache: waiting for build \d+, which is computing step /);
  });

  it('a step store on a read-only filesystem: the build goes on uncached and says so', async () => {
    const ro = newCache('cache-ro');
    mkdirSync(join(ro, 'steps'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,mode=0700', 'tmpfs', join(ro, 'steps')]);
    try {
      const r = await runCli('disk-image-create', ['--image-cache', ro, '-n', '-t', 'tar', '-o', join(out, 'ro'), 'tiny-os'], env, {
        timeout: 600_000,
      });
      expectBuilt(r);
      expect(r.stderr).toMatch(/warning: phase cache: .*steps is not writable \(EROFS\); building without the cache/);
      expect(existsSync(join(out, 'ro.tar'))).toBe(true);
    } finally {
      execFileSync('umount', [join(ro, 'steps')]);
    }
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });
});
