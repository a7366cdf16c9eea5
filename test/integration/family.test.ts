// Root-only, real Debian builds: `diskimage-builder` builds a family at once on one image cache — the
// shareable root.d computed once, each image's environment its own (read back from inside the images), a
// failing image leaving the others intact, SIGINT leaving nothing behind — and the shipped examples (both
// formats) build, are skipped, uploaded and reused whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runCli, spawnUntil } from '../helpers/cli.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { ensureCachedBaseTree, hookScript, newImageCache, tinyOsElement } from '../helpers/tiny-os.js';
import { writeTree } from '../helpers/tree.js';
import { startOpenStack } from '../helpers/openstack.js';

const SHARED = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const root = `/var/tmp/dib-ts-family-${process.pid}`;
const tmp = join(root, 'tmp');
const out = join(root, 'out');
const elements = join(root, 'elements');
// TMPDIR too: the family's private record directory must be gone afterwards as well.
const env = { TMP_DIR: tmp, TMPDIR: tmp, ELEMENTS_PATH: elements };

interface Manifest {
  images: Array<{
    name: string;
    status: string;
    log: string | null;
    files: Array<{ path: string; format: string; size: number; sha256: string; md5: string }>;
    cache?: { hits: number; misses: number };
    failedHook?: string;
    settings: { environment: Record<string, string> };
  }>;
}

const newCache = (name: string) => newImageCache(SHARED, join(root, name));
// The first test's cache: root.d is computed there once; --stop-on-failure reuses it.
let familyCache: string;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const member = (tar: string, path: string) => execFileSync('tar', ['-xOf', tar, path]).toString();
const readManifest = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Manifest;
const tempLeftovers = () =>
  readdirSync(tmp).filter((n) => n.startsWith('dib-family-') || n.startsWith('dib_build.') || n.startsWith('dib_image.'));

beforeAll(async () => {
  mkdirSync(tmp, { recursive: true });
  mkdirSync(out, { recursive: true });
  mkdirSync(SHARED, { recursive: true });
  writeTree(join(elements, 'fam-probe'), {
    'install.d': { '60-family-mark': hookScript('echo "${DIB_FAMILY_MARK:-unset} ${DIB_FAMILY_ONLY_B:-unset}" > /etc/family-mark') },
  });
  writeTree(join(elements, 'fam-fail'), { 'install.d': { '70-fail-on-purpose': hookScript('echo "failing on purpose" >&2; exit 3') } });
  writeTree(join(elements, 'fam-slow'), { 'install.d': { '60-take-a-while': hookScript('sleep 300') } });
  writeTree(join(elements, 'tiny-os'), tinyOsElement());
  await ensureCachedBaseTree(SHARED, env, out);
  familyCache = newCache('cache-family');
}, 1_800_000);
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

describe('diskimage-builder builds a family at once', () => {
  it('four images in parallel: root.d built once and reused by the others, each environment only in its image, the failing one alone fails (exit 1) and the manifest says so', async () => {
    const cache = familyCache;
    const file = join(root, 'family.yaml');
    const entry = (name: string, extra: string) =>
      `- imagename: ${name}\n  skip-base: true\n  image-cache: ${cache}\n  types: [tar]\n  elements: [debian-minimal, fam-probe]\n${extra}`;
    writeFileSync(
      file,
      [
        entry('fam-a', '  environment: {DIB_FAMILY_MARK: a}\n'),
        entry('fam-b', '  environment: {DIB_FAMILY_MARK: b, DIB_FAMILY_ONLY_B: "yes"}\n'),
        // DIB's merge rule: an entry without imagename continues the previous image (lists appended).
        '- types: [tgz]\n',
        entry('fam-c', ''),
        entry('fam-d', ''),
        '- elements: [fam-fail]\n',
      ].join(''),
    );
    const manifest = join(out, 'family.json');
    const r = await runCli(
      'diskimage-builder',
      ['-j', '2', '--output-directory', out, '--manifest', manifest, file],
      { ...env, DIB_EXPLAIN_CACHE: '1' },
      { timeout: 2_400_000 },
    );
    expect(r.stderr).toMatch(/fam-d\s+failed/);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('failing hook: install.d/70-fail-on-purpose (fam-fail), exit 3');

    // Each environment is its own: read back from inside each image.
    expect(member(join(out, 'fam-a.tar'), './etc/family-mark')).toBe('a unset\n');
    expect(member(join(out, 'fam-b.tar'), './etc/family-mark')).toBe('b yes\n');
    expect(execFileSync('tar', ['-xzOf', join(out, 'fam-b.tgz'), './etc/family-mark']).toString()).toBe('b yes\n');
    expect(member(join(out, 'fam-c.tar'), './etc/family-mark')).toBe('unset unset\n');
    expect(existsSync(join(out, 'fam-d.tar'))).toBe(false);

    // root.d (debootstrap, the base install) computed by one build; the other three waited and reused it.
    const logs = ['fam-a', 'fam-b', 'fam-c', 'fam-d'].map((n) => readFileSync(join(out, `${n}.log`), 'utf8'));
    expect(logs.filter((l) => /cache miss root\.d/.test(l))).toHaveLength(1);
    expect(logs.filter((l) => /cache hit {2}root\.d/.test(l))).toHaveLength(3);

    const m = readManifest(manifest);
    expect(m.images.map((i) => [i.name, i.status])).toEqual([
      ['fam-a', 'built'],
      ['fam-b', 'built'],
      ['fam-c', 'built'],
      ['fam-d', 'failed'],
    ]);
    const b = m.images[1];
    expect(b.files.map((f) => f.format)).toEqual(['tar', 'tgz']);
    for (const f of b.files) {
      expect(f.sha256).toBe(sha256(f.path));
      expect(f.md5).toBe(createHash('md5').update(readFileSync(f.path)).digest('hex'));
    }
    expect(b.settings.environment).toEqual({ DIB_FAMILY_MARK: 'b', DIB_FAMILY_ONLY_B: 'yes' });
    expect(m.images.reduce((n, i) => n + (i.cache?.hits ?? 0), 0)).toBeGreaterThanOrEqual(3);
    const d = m.images[3];
    expect(d.files).toEqual([]);
    expect(d.failedHook).toBe('install.d/70-fail-on-purpose (fam-fail), exit 3');
    expect(readFileSync(d.log!, 'utf8')).toMatch(/error: .*70-fail-on-purpose/);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
    expect(tempLeftovers()).toEqual([]);
  });

  it('SIGINT mid-family: every build unwinds, exit 130, no output, mount, loop device or work directory left', async () => {
    const file = join(root, 'interrupted.yaml');
    const cache = newCache('cache-interrupt');
    writeFileSync(
      file,
      ['x', 'y']
        .map(
          (n) =>
            `- imagename: int-${n}\n  skip-base: true\n  image-cache: ${cache}\n  types: [tar]\n  elements: [debian-minimal, fam-probe]\n`,
        )
        .join(''),
    );
    const manifest = join(out, 'interrupted.json');
    const run = await spawnUntil(
      'diskimage-builder',
      ['-j', '2', '--output-directory', out, '--manifest', manifest, file],
      env,
      ': phase root',
    );
    // Both builds are under way (debootstrap or waiting for it) when the signal comes.
    await new Promise((r) => setTimeout(r, 8000));
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(readdirSync(out).filter((n) => n.startsWith('int-') && !n.endsWith('.log'))).toEqual([]);
    expect(readManifest(manifest).images.map((i) => i.status)).toEqual(['interrupted', 'interrupted']);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
    expect(tempLeftovers()).toEqual([]);
  });

  it('--stop-on-failure: the first failure stops the other build cleanly (interrupted, no output), exit 1', async () => {
    const file = join(root, 'stop.yaml');
    // tiny-os (the cached debootstrap tree, no apt): both builds reach install.d within seconds.
    const cache = familyCache;
    writeFileSync(
      file,
      [
        `- imagename: stop-slow\n  skip-base: true\n  image-cache: ${cache}\n  types: [tar]\n  elements: [tiny-os, fam-slow]\n`,
        `- imagename: stop-fail\n  skip-base: true\n  image-cache: ${cache}\n  types: [tar]\n  elements: [tiny-os, fam-fail]\n`,
      ].join(''),
    );
    const manifest = join(out, 'stop.json');
    const r = await runCli(
      'diskimage-builder',
      ['-j', '2', '--stop-on-failure', '--output-directory', out, '--manifest', manifest, file],
      env,
      {
        timeout: 1_200_000,
      },
    );
    expect(r.status).toBe(1);
    expect(readManifest(manifest).images.map((i) => [i.name, i.status])).toEqual([
      ['stop-slow', 'interrupted'],
      ['stop-fail', 'failed'],
    ]);
    expect(readdirSync(out).filter((n) => n.startsWith('stop-') && !n.endsWith('.log'))).toEqual([]);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
    expect(tempLeftovers()).toEqual([]);
  });

  // One image of the shipped examples (the cheapest, in CI's time budget); the other two are planned with
  // both files by test/unit/family (--dry-run) and their element sets are built and booted elsewhere.
  it('the examples (their debian-minimal image): built from the TripleO file; the DIB file skips it and --upload puts it into Glance; with --no-skip it is the same image (reused whole)', async () => {
    const dir = join(out, 'examples');
    mkdirSync(dir);
    const manifest = join(dir, 'manifest.json');
    const shared = { ...env, DIB_IMAGE_CACHE: SHARED };
    const only = ['--image-name', 'debian-minimal'];
    const tripleo = await runCli(
      'diskimage-builder',
      [...only, '--output-directory', dir, '--manifest', manifest, join(REPO, 'examples', 'family-tripleo.yaml')],
      shared,
      { timeout: 3_000_000 },
    );
    expect(tripleo.stderr.slice(-3000)).not.toMatch(/failed/);
    expect(tripleo.status).toBe(0);
    const built = readManifest(manifest);
    expect(built.images.map((i) => [i.name, i.status])).toEqual([['debian-minimal', 'built']]);
    for (const image of built.images) {
      const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', 'qcow2', image.files[0].path]).toString()) as {
        format: string;
      };
      expect(info.format).toBe('qcow2');
    }

    // Outputs in place: skipped (TripleO's rule) — nothing built; --upload puts the three into a real Glance.
    const stack = await startOpenStack();
    try {
      const skipped = await runCli(
        'diskimage-builder',
        [...only, '--upload', '--output-directory', dir, join(REPO, 'examples', 'family-dib.yaml')],
        { ...shared, ...stack.env() },
        { timeout: 900_000 },
      );
      expect(skipped.status).toBe(0);
      expect(skipped.stderr).toMatch(/debian-minimal\s+skipped/);
      for (const image of built.images) {
        const shown = JSON.parse(stack.openstack(['image', 'show', '-f', 'json', image.name])) as {
          status: string;
          checksum: string;
          disk_format: string;
        };
        expect(shown).toMatchObject({ status: 'active', disk_format: 'qcow2', checksum: image.files[0].md5 });
      }
    } finally {
      await stack.stop();
    }

    // --no-skip: DIB's format of the same family decides the same images, so each is reused whole.
    const again = await runCli(
      'diskimage-builder',
      [...only, '--no-skip', '--output-directory', dir, '--manifest', manifest, join(REPO, 'examples', 'family-dib.yaml')],
      shared,
      { timeout: 1_800_000 },
    );
    expect(again.status).toBe(0);
    const reused = readManifest(manifest);
    expect(reused.images.map((i) => [i.name, i.status])).toEqual([['debian-minimal', 'reused']]);
    expect(reused.images.map((i) => i.files[0].sha256)).toEqual(built.images.map((i) => i.files[0].sha256));
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });
});
