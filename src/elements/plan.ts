// The build plan made from resolved elements: hooks per phase in run order (install-type links
// included), environment files in sourcing order, and the packages. The build executes exactly this.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, throwIfProblems } from '../core/errors.js';
import { PHASES, type Phase } from '../phases/phase-table.js';
import { type HooksTree, type MergedEntry, mergeHooksTree, selectEnvironmentFiles, selectHooks } from './hooks.js';
import { type PackageEntry, type SquashedPackages, readPackageInstalls, squashPackages } from './packages.js';
import { readPkgMap } from './pkg-map.js';
import type { ElementSelection } from './select.js';
import { elementLinkProblems, staticSymlinkProblems } from './static-files.js';

export { type ElementSelection, type SelectOptions, buildElementList, defaultBlockDeviceFor, selectElements } from './select.js';

/** A hook the build runs: a file of an element, or an install-types link to one. */
export interface PlannedHook extends MergedEntry {
  /** For install-type links: the link's target inside the phase directory (`<prefix>-<type>-install/<name>`). */
  link?: string;
}

export interface PhasePlan {
  phase: Phase;
  hooks: PlannedHook[];
  ignored: Array<{ entry: MergedEntry; reason: string }>;
}

/** An environment.d file: an element's, or one the engine writes (with its content). */
export interface PlannedEnvironmentFile extends MergedEntry {
  content?: string;
}

export interface PackagePlan {
  /** Every element's package-installs entries, in element order (the build's squash reads these). */
  entries: PackageEntry[];
  /** The squash with the variables known before the build. */
  squashed: SquashedPackages;
  /**
   * Entries whose selection depends on variables (when, installtype, dib_python_version) that
   * environment.d files may still change: decided again, by the same squash, once they are sourced.
   */
  decidedAtRunTime: PackageEntry[];
}

export interface BuildPlan extends ElementSelection {
  /**
   * Problems DIB ignores (unknown package-installs keys and phases): also in `warnings`; exit-2 errors
   * under --strict.
   */
  lenient: UsageError[];
  tree: HooksTree;
  phases: PhasePlan[];
  environmentFiles: PlannedEnvironmentFile[];
  packages: PackagePlan;
}

export interface PlanInputs {
  /** The variables hooks will see (before environment.d). */
  env: Record<string, string | undefined>;
  runPartsRegex: string;
  installType: string;
}

/** The engine's own environment file: DIB_DEFAULT_INSTALLTYPE for hooks (as DIB's disk-image-create writes it). */
export const INSTALL_TYPE_FILE = '11-dib-install-type.bash';

export function planBuild(selection: ElementSelection, inputs: PlanInputs): BuildPlan {
  // Links leaving an element first: nothing below is read through them.
  throwIfProblems(selection.elements.flatMap((e) => elementLinkProblems(e)));
  const tree = mergeHooksTree(selection.elements);
  const hasInstallTypes = selection.elements.some((e) => e.name === 'install-types');
  const phases = PHASES.map((phase) => {
    const dir = tree.dirs.get(phase.dir);
    const entries: PlannedHook[] = [...(dir ? dir.values() : [])];
    if (phase.dir === 'install.d' && hasInstallTypes) entries.push(...installTypeLinks(entries, inputs));
    const { runs, ignored } = selectHooks(entries, inputs.runPartsRegex);
    return { phase, hooks: runs, ignored };
  });
  const envDir = tree.dirs.get('environment.d');
  const generated: PlannedEnvironmentFile = {
    name: INSTALL_TYPE_FILE,
    element: '(engine)',
    path: '',
    isDirectory: false,
    mergedFrom: [],
    content: `export DIB_DEFAULT_INSTALLTYPE=\${DIB_DEFAULT_INSTALLTYPE:-"${inputs.installType.replace(/["$`\\]/g, '')}"}\n`,
  };
  const environmentFiles = [
    ...(envDir ? selectEnvironmentFiles(envDir.values()) : []).filter((f) => f.name !== INSTALL_TYPE_FILE),
    generated,
  ].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
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
  const lenient: UsageError[] = [];
  const entries = selection.elements.flatMap((e) => {
    const read = readPackageInstalls(e);
    lenient.push(...read.warnings);
    return read.entries;
  });
  const packages: PackagePlan = {
    entries,
    squashed: squashPackages(entries, inputs.env),
    decidedAtRunTime: entries.filter((e) => e.when.length || e.installtype !== undefined || e.dibPythonVersion !== undefined),
  };
  const warnings = [...selection.warnings, ...lenient.map((w) => w.message)];
  return { ...selection, warnings, lenient, tree, phases, environmentFiles, packages };
}

/**
 * DIB's install-types rule: for each `install.d/<prefix>-<type>-install/` directory, its scripts run in
 * install.d when DIB_INSTALLTYPE_<prefix> (dashes as underscores) — or the default install type — is
 * <type>. The engine makes the links when it prepares the hooks tree.
 */
export function installTypeLinks(entries: MergedEntry[], inputs: Pick<PlanInputs, 'env' | 'installType'>): PlannedHook[] {
  const out: PlannedHook[] = [];
  for (const entry of entries) {
    const m = /^(.+)-([^-]+)-install$/.exec(entry.name);
    if (!m || !entry.isDirectory) continue;
    const wanted = inputs.env[`DIB_INSTALLTYPE_${m[1].replace(/-/g, '_')}`] ?? inputs.installType;
    if (m[2] !== wanted) continue;
    for (const source of [entry.path, ...entry.mergedFrom]) {
      for (const name of readdirSync(source).sort()) {
        if (name.startsWith('.')) continue;
        out.push({
          name,
          element: entry.element,
          path: join(source, name),
          isDirectory: false,
          mergedFrom: [],
          link: `${entry.name}/${name}`,
        });
      }
    }
  }
  return out;
}
