// The shared .deb cache, safe for builds running at the same time. apt locks its archive directory
// (`/var/cache/apt/archives/lock`), so binding one shared directory into two builds makes the second
// stop on the first's lock. Each build gets a private archive directory instead, seeded with hard
// links to the shared pool's .deb files; the files it downloaded go back to the pool when its tree
// phases end (a link, or a copy renamed into place: the pool never holds a partial file).
import { copyFileSync, linkSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { lstatIfExists } from '../core/fs.js';
import { processStartTime } from '../core/ledger.js';

/** A package file name apt would keep in its archive (never `lock`, `partial/` or anything hidden). */
function isDeb(name: string): boolean {
  return name.endsWith('.deb') && !name.startsWith('.') && !name.includes('/');
}

/** Regular .deb files of `dir` (links and other types are ignored: the pool is untrusted input). */
function debsIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => isDeb(n) && lstatIfExists(join(dir, n))?.isFile());
}

/** Put `from` into `dir/name` without ever exposing a partial file: a hard link, else copy + rename. */
function publish(from: string, dir: string, name: string): boolean {
  try {
    linkSync(from, join(dir, name));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EXDEV' && code !== 'EPERM') throw error;
  }
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}`);
  try {
    copyFileSync(from, tmp);
    renameSync(tmp, join(dir, name));
    return true;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Make the build's private archive directory `dir`, seeded from `pool`; returns how many files it got. */
export function seedArchives(pool: string, dir: string): number {
  mkdirSync(join(dir, 'partial'), { recursive: true, mode: 0o755 });
  let seeded = 0;
  for (const name of debsIn(pool)) if (publish(join(pool, name), dir, name)) seeded++;
  return seeded;
}

/** Give the pool what the build downloaded (files it does not have yet); returns how many. */
export function returnArchives(dir: string, pool: string): number {
  mkdirSync(pool, { recursive: true, mode: 0o755 });
  let returned = 0;
  for (const name of debsIn(dir)) if (publish(join(dir, name), pool, name)) returned++;
  return returned;
}

/**
 * A private archive directory for this build under `aptDir/.builds/` (beside the pools: seeding is hard
 * links); those of builds that are gone (their pid and start time) are removed first.
 */
export function makePrivateArchive(aptDir: string): string {
  const builds = join(aptDir, '.builds');
  mkdirSync(builds, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(builds)) {
    const m = /^(\d+)-(\d+)-[0-9a-f]+$/.exec(name);
    if (m && processStartTime(Number(m[1])) !== m[2]) rmSync(join(builds, name), { recursive: true, force: true });
  }
  const dir = join(builds, `${process.pid}-${processStartTime(process.pid) ?? '0'}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { mode: 0o755 });
  return dir;
}
