// The build plan: resolved elements, merged hooks per phase, environment files and packages.
import { UsageError, throwIfProblems } from '../core/errors.js';
import { readPkgMap } from './pkg-map.js';
import { staticSymlinkProblems } from './static-files.js';
import { PHASES, type Phase } from '../phases/phase-table.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type HooksTree, type MergedEntry, DEFAULT_RUN_PARTS_REGEX, mergeHooksTree, selectEnvironmentFiles, selectHooks } from './hooks.js';
import { type PackageEntry, type SquashedPackages, readPackageInstalls, squashPackages } from './packages.js';
import type { ElementSelection } from './select.js';

export { type ElementSelection, type SelectOptions, buildElementList, defaultBlockDeviceFor, selectElements } from './select.js';

export interface PhasePlan {
  phase: Phase;
  hooks: MergedEntry[];
  ignored: Array<{ entry: MergedEntry; reason: string }>;
}

export interface BuildPlan extends ElementSelection {
  tree: HooksTree;
  phases: PhasePlan[];
  environmentFiles: MergedEntry[];
  packageEntries: PackageEntry[];
  packages: SquashedPackages;
}

export function planBuild(selection: ElementSelection, env: Record<string, string | undefined>): BuildPlan {
  const tree = mergeHooksTree(selection.elements);
  const regex = env.RUN_PARTS_REGEX || DEFAULT_RUN_PARTS_REGEX;
  try {
    new RegExp(regex);
  } catch {
    throw new UsageError('invalid-setting', `RUN_PARTS_REGEX is not a valid regular expression: ${regex}`, { hint: `the default is ${DEFAULT_RUN_PARTS_REGEX}` });
  }
  const hasInstallTypes = selection.elements.some((e) => e.name === 'install-types');
  const phases = PHASES.map((phase) => {
    const dir = tree.dirs.get(phase.dir);
    const entries = [...(dir ? dir.values() : [])];
    if (phase.dir === 'install.d' && hasInstallTypes) entries.push(...installTypeLinks(entries, env));
    const { runs, ignored } = selectHooks(entries, regex);
    return { phase, hooks: runs, ignored };
  });
  const envDir = tree.dirs.get('environment.d');
  const environmentFiles = envDir ? selectEnvironmentFiles(envDir.values()) : [];
  const problems: UsageError[] = [];
  for (const e of selection.elements) {
    try {
      readPkgMap(e.path);
    } catch (error) {
      if (error instanceof UsageError) problems.push(error);
      else throw error;
    }
    problems.push(...staticSymlinkProblems(e));
  }
  throwIfProblems(problems);
  const packageEntries = selection.elements.flatMap((e) => readPackageInstalls(e));
  return { ...selection, tree, phases, environmentFiles, packageEntries, packages: squashPackages(packageEntries, env) };
}

/**
 * What install-types will link into install.d at extra-data: the scripts of
 * `<prefix>-<type>-install/` for DIB_INSTALLTYPE_<prefix> (dashes as underscores) or the default type.
 */
function installTypeLinks(entries: MergedEntry[], env: Record<string, string | undefined>): MergedEntry[] {
  const out: MergedEntry[] = [];
  const fallback = env.DIB_DEFAULT_INSTALLTYPE || 'source';
  for (const entry of entries) {
    const m = /^(.+)-([^-]+)-install$/.exec(entry.name);
    if (!m || !entry.isDirectory) continue;
    const wanted = env[`DIB_INSTALLTYPE_${m[1].replace(/-/g, '_')}`] ?? fallback;
    if (m[2] !== wanted) continue;
    for (const source of [entry.path, ...entry.mergedFrom]) {
      for (const name of readdirSync(source).sort()) out.push({ name, element: entry.element, path: join(source, name), isDirectory: false, mergedFrom: [] });
    }
  }
  return out;
}
