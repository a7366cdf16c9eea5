// The per-phase package lists the package-installs hooks hand to install-packages: the squash, mapped
// through each element's pkg-map, one apt package name per entry.
import { PACKAGE_PHASES } from '../phases/phase-table.js';
import { type PackageEntry, type SquashedPackages, squashPackages } from './packages.js';
import { type PkgMap, mappedPackageNames } from './pkg-map.js';

export interface PackageLists {
  squashed: SquashedPackages;
  /** `<phase>.install` / `<phase>.uninstall` → package names, deduplicated, in squash order. */
  lists: Record<string, string[]>;
  /** One line per squashed package: what it mapped to (for the log). */
  notes: string[];
}

export function packageLists(
  entries: PackageEntry[],
  env: Record<string, string | undefined>,
  maps: Map<string, PkgMap | undefined>,
): PackageLists {
  const squashed = squashPackages(entries, env);
  const distro = env.DISTRO_NAME ?? '';
  const release = env.DIB_RELEASE ?? '';
  const lists: Record<string, string[]> = {};
  const notes: string[] = [];
  for (const phase of PACKAGE_PHASES) {
    for (const action of ['install', 'uninstall'] as const) {
      const names: string[] = [];
      for (const [pkg, element] of squashed[phase]?.[action] ?? []) {
        // A value naming several packages ("a b") becomes several names: apt gets each separately.
        const mapped = mappedPackageNames(maps.get(element), pkg, distro, release);
        for (const name of mapped) if (!names.includes(name)) names.push(name);
        const shown = mapped.join(' ');
        notes.push(`${phase} ${action}: ${pkg}${shown !== pkg ? ` -> ${shown || '(dropped)'}` : ''} (${element})`);
      }
      lists[`${phase}.${action}`] = names;
    }
  }
  return { squashed, lists, notes };
}
