// Run by the package-installs element (extra-data.d, outside the chroot, environment.d sourced): the
// plan's package-installs entries ($TMP_HOOKS_PATH/package-entries.json, never re-read from element
// copies) squashed by the plan's own function with the variables environment.d set, mapped through
// pkg-map, written as plain per-phase lists.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DibError } from '../core/errors.js';
import { PACKAGE_PHASES } from '../phases/phase-table.js';
import { type PackageEntry, squashPackages } from '../elements/packages.js';
import { mapPackage, readPkgMap } from '../elements/pkg-map.js';

function main(): number {
  const outDir = process.argv[2];
  if (!outDir) {
    process.stderr.write('usage: package-installs-squash OUTPUT_DIR\n');
    return 2;
  }
  const elements = Object.entries((parse(process.env.IMAGE_ELEMENT_YAML ?? '') ?? {}) as Record<string, string>).map(([name, path]) => ({
    name,
    path,
  }));
  const order = (process.env.IMAGE_ELEMENT ?? '').split(' ').filter(Boolean);
  elements.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  const entries = JSON.parse(readFileSync(join(process.env.TMP_HOOKS_PATH ?? '', 'package-entries.json'), 'utf8')) as PackageEntry[];
  const squashed = squashPackages(entries, process.env);
  const distro = process.env.DISTRO_NAME ?? '';
  const release = process.env.DIB_RELEASE ?? '';
  const maps = new Map(elements.map((e) => [e.name, readPkgMap(e.path)]));
  mkdirSync(outDir, { recursive: true });
  for (const phase of PACKAGE_PHASES) {
    for (const action of ['install', 'uninstall'] as const) {
      const names: string[] = [];
      for (const [pkg, element] of squashed[phase]?.[action] ?? []) {
        const mapped = mapPackage(maps.get(element), pkg, distro, release) ?? pkg;
        if (mapped && !names.includes(mapped)) names.push(mapped);
        process.stderr.write(`${phase} ${action}: ${pkg}${mapped !== pkg ? ` -> ${mapped || '(dropped)'}` : ''} (${element})\n`);
      }
      writeFileSync(join(outDir, `${phase}.${action}`), names.map((n) => `${n}\n`).join(''));
    }
  }
  writeFileSync(join(outDir, 'package-installs.json'), JSON.stringify(squashed, null, 1) + '\n');
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  process.stderr.write(`error: ${(error as Error).message}\n`);
  if (error instanceof DibError && error.hint) process.stderr.write(`hint: ${error.hint}\n`);
  process.exitCode = 1;
}
