// tiny-os: an operating-system element that unpacks the cached debootstrap tree and installs nothing —
// a chroot-able root in seconds, for integration tests about the engine rather than about Debian.
import { existsSync, linkSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from './cli.js';
import type { TreeSpec } from './tree.js';

export const hookScript = (body: string) => ({ exec: `#!/bin/bash\nset -eu\n${body}\n` });

export function tinyOsElement(): TreeSpec {
  return {
    'element-provides': 'operating-system\n',
    'environment.d': { '10-tiny-os': 'export DISTRO_NAME=debian DIB_RELEASE=bookworm DIB_INIT_SYSTEM=systemd\n' },
    'root.d': {
      '10-unpack-cached-debootstrap': hookScript(
        't=$(ls "$DIB_IMAGE_CACHE"/debootstrap-debian-bookworm-amd64-*.tar | head -1)\ntar -C "$TARGET_ROOT" -xf "$t"',
      ),
    },
  };
}

/** Make sure the image cache holds a debootstrap tree (one real build of debian-minimal when it does not). */
export async function ensureCachedBaseTree(cache: string, env: Record<string, string>, outDir: string): Promise<void> {
  if (readdirSync(cache, { withFileTypes: true }).some((d) => /^debootstrap-debian-bookworm-amd64-.*\.tar$/.test(d.name))) return;
  // Only the shipped elements: the caller's ELEMENTS_PATH may not exist yet (the seed can be the first build).
  const { ELEMENTS_PATH: _callersElements, ...seedEnv } = env;
  const r = await runCli(
    'disk-image-create',
    ['--image-cache', cache, '-n', '-t', 'tar', '-o', join(outDir, 'seed'), 'debian-minimal'],
    seedEnv,
    {
      timeout: 1_800_000,
    },
  );
  if (r.status !== 0) throw new Error(`could not make the cached base tree:\n${r.stderr.slice(-2000)}`);
}

/**
 * An image cache of its own (so phase cache hits and misses are exact), with the shared test cache's
 * debootstrap tarball and .deb pool linked in.
 */
export function newImageCache(shared: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  // Finished debootstrap tarballs and their digests only (never another build's .partial file).
  for (const f of readdirSync(shared).filter((n) => /^debootstrap-.*\.tar(\.sha256)?$/.test(n))) linkIfThere(join(shared, f), join(dir, f));
  if (existsSync(join(shared, 'apt'))) linkPool(join(shared, 'apt'), join(dir, 'apt'));
  return dir;
}

/** A hard link of `from` at `to`, unless `from` was renamed or removed meanwhile. */
function linkIfThere(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Hard-link the finished .deb files of a shared apt pool (not the builds' private directories or
 * partial downloads): another test file's build may be adding to it at the same time, and a file that
 * is renamed or removed meanwhile is simply not linked.
 */
function linkPool(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.name === '.builds' || entry.name === 'partial' || entry.name === 'lock') continue;
    if (entry.isDirectory()) linkPool(join(from, entry.name), join(to, entry.name));
    else if (entry.isFile() && entry.name.endsWith('.deb')) linkIfThere(join(from, entry.name), join(to, entry.name));
  }
}
