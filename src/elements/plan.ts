// The build plan: resolved elements, merged hooks per phase, environment files and packages.
import { UsageError, throwIfProblems } from '../core/errors.js';
import { readPkgMap } from './pkg-map.js';
import { staticSymlinkProblems } from './static-files.js';
import { PHASES, type Phase } from '../phases/phase-table.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type HooksTree, type MergedEntry, DEFAULT_RUN_PARTS_REGEX, mergeHooksTree, selectEnvironmentFiles, selectHooks } from './hooks.js';
import { orderElements } from './order.js';
import { type PackageEntry, type SquashedPackages, readPackageInstalls, squashPackages } from './packages.js';
import { type ResolveOptions, type ResolvedElement, resolveElements } from './resolve.js';
import { type ElementIndex, loadElementIndex } from './search-path.js';

export interface ElementSelection {
  index: ElementIndex;
  elements: ResolvedElement[];
  providedBy: Map<string, string>;
  warnings: string[];
}

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

export interface SelectOptions extends ResolveOptions {
  elementsPath: string | undefined;
  /** Override the built-in element directory (tests); null: none. */
  builtinDir?: string | null;
}

/** Resolve and order; every problem is a UsageError (exit 2). */
export function selectElements(requested: string[], options: SelectOptions): ElementSelection {
  const index = options.builtinDir === undefined ? loadElementIndex(options.elementsPath) : loadElementIndex(options.elementsPath, options.builtinDir);
  const { set, providedBy, warnings } = resolveElements(index, requested, options);
  return { index, elements: orderElements(set, providedBy), providedBy, warnings };
}

/**
 * disk-image-create's list pre-processing: `base` first unless skipped. (The `vm` → block-device default
 * is applied by the resolver through `defaultBlockDevice`, so it also works when `vm` is a dependency.)
 * Unlike DIB, an `IMAGE_ELEMENT` in the caller's environment is not prepended.
 */
export function buildElementList(requested: string[], options: { skipBase: boolean }): string[] {
  return options.skipBase || requested.includes('base') ? [...requested] : ['base', ...requested];
}

/** The default block-device element for `vm` on this architecture (DIB: efi on arm64/aarch64). */
export function defaultBlockDeviceFor(arch: string): string {
  return arch === 'arm64' || arch === 'aarch64' ? 'block-device-efi' : 'block-device-mbr';
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
