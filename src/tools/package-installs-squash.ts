// Run by the package-installs element (extra-data.d, outside the chroot, environment.d sourced): the
// plan's package-installs entries ($TMP_HOOKS_PATH/package-entries.json, never re-read from element
// copies) squashed by the plan's own function with the variables environment.d set, mapped through
// pkg-map, written as plain per-phase lists.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DibError } from '../core/errors.js';
import type { PackageEntry } from '../elements/packages.js';
import { packageLists } from '../elements/package-lists.js';
import { readPkgMap } from '../elements/pkg-map.js';

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
  const maps = new Map(elements.map((e) => [e.name, readPkgMap(e.path)]));
  const { squashed, lists, notes } = packageLists(entries, process.env, maps);
  for (const note of notes) process.stderr.write(`${note}\n`);
  mkdirSync(outDir, { recursive: true });
  for (const [file, names] of Object.entries(lists)) writeFileSync(join(outDir, file), names.map((n) => `${n}\n`).join(''));
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
