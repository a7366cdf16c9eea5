// Upstream DIB's build of an element list (Debian's disk-image-create through scripts/upstream-dib.sh),
// reduced to its installed-package manifest and kept under /var/tmp keyed by everything that decides
// that list: the elements, the settings, DIB's version and the state of the Debian archive (the hashes
// of the Packages indexes the build installs from). Each CI run then costs one build, ours; upstream's
// is redone only when one of those changed.
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './cli.js';

export const UPSTREAM_ROOT = process.env.DIB_TS_UPSTREAM_CACHE ?? '/var/tmp/dib-ts-upstream';

export interface DpkgPackage {
  package: string;
  arch: string;
  version: string;
  status: string;
}

/** A dib-manifest-dpkg-NAME file (DIB's dpkg element writes JSON: {"packages": [...]}) as sorted lines. */
export function readDpkgManifest(path: string): string[] {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { packages: DpkgPackage[] };
  return doc.packages.map((p) => `${p.package}:${p.arch} ${p.version} ${p.status}`).sort();
}

/** What the archive offers now: the SHA256 of each suite's main Packages index for ARCH (from InRelease). */
export async function archiveState(suites: Array<{ mirror: string; suite: string }>, arch: string): Promise<string[]> {
  const out: string[] = [];
  for (const { mirror, suite } of suites) {
    const url = `${mirror.replace(/\/+$/, '')}/dists/${suite}/InRelease`;
    const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const text = await response.text();
    const sha = text.slice(text.indexOf('\nSHA256:'));
    const line = sha.split('\n').find((l) => l.trim().endsWith(` main/binary-${arch}/Packages`));
    if (!line) throw new Error(`${url}: no SHA256 line for main/binary-${arch}/Packages`);
    out.push(`${suite} ${line.trim().split(/\s+/)[0]}`);
  }
  return out;
}

export interface UpstreamManifest {
  /** Sorted `package:arch version status` lines. */
  packages: string[];
  /** Whether this run built it (false: reused from an earlier run). */
  built: boolean;
  dir: string;
}

/**
 * Upstream's dpkg manifest for `elements` built with `env` (DIB's own variables only), from the cache
 * or by building once. `archive` is what archiveState returned; it goes into the key.
 */
export async function upstreamDpkgManifest(
  elements: string[],
  env: Record<string, string>,
  archive: string[],
  options: { timeoutMs: number },
): Promise<UpstreamManifest> {
  const dib = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'python3-diskimage-builder']).toString();
  const keyDoc = { elements, env, dib, archive };
  const key = createHash('sha256').update(JSON.stringify(keyDoc)).digest('hex').slice(0, 16);
  const dir = join(UPSTREAM_ROOT, key);
  const manifest = join(dir, 'dpkg-manifest.json');
  if (existsSync(manifest)) return { packages: readDpkgManifest(manifest), built: false, dir };

  const work = join(UPSTREAM_ROOT, `build-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const log = join(work, 'build.log');
  const status = await new Promise<number | null>((resolve) => {
    const child = spawn(join(REPO, 'scripts', 'upstream-dib.sh'), ['-o', join(work, 'image'), ...elements], {
      cwd: work,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LANG: 'C.UTF-8',
        DIB_IMAGE_CACHE: join(UPSTREAM_ROOT, 'image-cache'),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const file = createWriteStream(log);
    child.stdout.pipe(file);
    child.stderr.pipe(file);
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const built = join(work, 'image.d', 'dib-manifests', 'dib-manifest-dpkg-image');
  if (status !== 0 || !existsSync(built)) {
    const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-40).join('\n') : '';
    throw new Error(`upstream DIB build failed (status ${status}); log ${log}:\n${tail}`);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'key.json'), JSON.stringify(keyDoc, null, 1) + '\n');
  renameSync(log, join(dir, 'build.log'));
  writeFileSync(manifest + '.partial', readFileSync(built));
  renameSync(manifest + '.partial', manifest);
  rmSync(work, { recursive: true, force: true });
  return { packages: readDpkgManifest(manifest), built: true, dir };
}
