// pkg-map: per-element package-name translation (release > distro > family > default; "" drops the package).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';

export interface PkgMap {
  default?: Record<string, string>;
  family?: Record<string, Record<string, string>>;
  distro?: Record<string, Record<string, string>>;
  release?: Record<string, Record<string, Record<string, string>>>;
}

const FAMILIES: Record<string, string> = {
  almalinux: 'redhat',
  fedora: 'redhat',
  rhel: 'redhat',
  centos: 'redhat',
  openeuler: 'redhat',
  rocky: 'redhat',
  debian: 'debian',
  ubuntu: 'debian',
  opensuse: 'suse',
  gentoo: 'gentoo',
};

export function readPkgMap(elementPath: string): PkgMap | undefined {
  const file = join(elementPath, 'pkg-map');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PkgMap;
  } catch (error) {
    throw new UsageError('invalid-pkg-map', `${file}: not valid JSON (${(error as Error).message})`, {
      hint: 'pkg-map files are JSON: {"default": {...}, "family": {...}, "distro": {...}, "release": {...}}',
    });
  }
}

/**
 * The package names one name maps to: a value may name several packages separated by spaces (DIB's own
 * bootloader map does, for Debian EFI), "" none; an unmapped name (missing-ok) stays itself.
 */
export function mappedPackageNames(map: PkgMap | undefined, name: string, distro: string, release: string): string[] {
  const mapped = mapPackage(map, name, distro, release);
  return mapped === undefined ? [name] : mapped.split(/\s+/).filter(Boolean);
}

/** Map one name; undefined means "not mapped" (callers with missing-ok keep the name). */
export function mapPackage(map: PkgMap | undefined, name: string, distro: string, release: string): string | undefined {
  if (!map) return undefined;
  const merged: Record<string, string> = { ...(map.default ?? {}) };
  const family = FAMILIES[distro];
  if (family) Object.assign(merged, map.family?.[family] ?? {});
  Object.assign(merged, map.distro?.[distro] ?? {});
  const major = /^(\d+)-stream$/.exec(release)?.[1] ?? release;
  Object.assign(merged, map.release?.[distro]?.[major] ?? {});
  return Object.prototype.hasOwnProperty.call(merged, name) ? merged[name] : undefined;
}
