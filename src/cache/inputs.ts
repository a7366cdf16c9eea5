// What the step cache keys beyond the hooks themselves: an element's declared inputs (its `cache-inputs`
// file) and the content of every element file that is not a hook of a later phase. Read at preparation
// (no root, no side effects); a malformed `cache-inputs` is an exit-2 error naming the file and line.
//
// cache-inputs, one declaration per line (# comments):
//   env NAME                   a variable the element's hooks read (keyed even when it is not DIB_*)
//   path /ABSOLUTE/PATH        a host file or directory the hooks read (keyed by content; may start
//                              with ${VAR}, e.g. ${HOME}/.ssh/id_ed25519.pub)
//   apt-suite MIRROR SUITE     an apt suite the hooks install from: keyed by the package indexes its
//                              InRelease lists for the build's architecture (${VAR} from environment.d)
//   uncacheable [DIR.d/HOOK]   never reuse that hook's result, whichever element has it (or, alone,
//                              any hook of this element);
//                              what follows it in the build is not reused either
//   shareable DIR.d/HOOK       this element's hook depends only on the element's own files, the variables
//                              its env lines name (and ARCH) and its declared paths and suites: while a
//                              build's steps are all such hooks, images with other element lists and
//                              settings share them (a family's common root.d runs once)
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import fg from 'fast-glob';
import { UsageError, throwIfProblems } from '../core/errors.js';
import type { BuildPlan } from '../elements/plan.js';
import { PHASES } from '../phases/phase-table.js';
import { sha256 } from './manifest.js';

export const CACHE_INPUTS_FILE = 'cache-inputs';

export interface AptSuite {
  element: string;
  /** As written: `${VAR}` references are expanded from the sourced environment at build time. */
  mirror: string;
  suite: string;
}

export interface CacheInputs {
  env: string[];
  paths: string[];
  aptSuites: AptSuite[];
  /** `ELEMENT` (all its hooks) or `DIR.d/HOOK` (that hook, whichever element owns it: names are unique per phase). */
  uncacheable: string[];
  /** `data ELEMENT/PATH` → digest, for every element file that is not a hook run in a phase. */
  elementData: Record<string, string>;
  /** What each element declared itself (a shareable hook is keyed on its own element's declarations only). */
  byElement: Record<string, { env: string[]; paths: string[] }>;
  /** `ELEMENT DIR.d/HOOK` for each hook its element declares shareable. */
  shareable: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function readCacheInputs(plan: BuildPlan): CacheInputs {
  const inputs: CacheInputs = { env: [], paths: [], aptSuites: [], uncacheable: [], elementData: {}, byElement: {}, shareable: [] };
  const problems: UsageError[] = [];
  for (const element of plan.elements) {
    const file = join(element.path, CACHE_INPUTS_FILE);
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (!st) continue;
    if (!st.isFile()) {
      problems.push(bad(file, 0, 'is not a regular file', 'make cache-inputs a plain text file'));
      continue;
    }
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((raw, i) => {
        const line = raw.replace(/#.*/, '').trim();
        if (!line) return;
        const [word, ...args] = line.split(/\s+/);
        const where = i + 1;
        const own = (inputs.byElement[element.name] ??= { env: [], paths: [] });
        if (word === 'env' && args.length === 1 && NAME.test(args[0])) {
          inputs.env.push(args[0]);
          own.env.push(args[0]);
        } else if (word === 'path' && args.length === 1 && /^(\/|\$)/.test(args[0])) {
          inputs.paths.push(args[0]);
          own.paths.push(args[0]);
        } else if (word === 'shareable' && args.length === 1 && isHookName(args[0])) inputs.shareable.push(`${element.name} ${args[0]}`);
        else if (word === 'apt-suite' && args.length === 2)
          inputs.aptSuites.push({ element: element.name, mirror: args[0], suite: args[1] });
        else if (word === 'uncacheable' && args.length === 0) inputs.uncacheable.push(element.name);
        else if (word === 'uncacheable' && args.length === 1 && isHookName(args[0])) inputs.uncacheable.push(args[0]);
        else problems.push(bad(file, where, `cannot read "${raw.trim()}"`, SYNTAX_HINT));
      });
  }
  throwIfProblems(problems);
  inputs.env = [...new Set(inputs.env)].sort();
  inputs.paths = [...new Set(inputs.paths)].sort();
  inputs.elementData = elementData(plan);
  return inputs;
}

const SYNTAX_HINT =
  'each line is one of: env NAME | path /ABSOLUTE/PATH | apt-suite MIRROR SUITE | uncacheable [DIR.d/HOOK] | shareable DIR.d/HOOK (see README, "Phase cache")';

function bad(file: string, line: number, what: string, hint: string): UsageError {
  return new UsageError('cache-inputs', `${file}${line ? `:${line}` : ''}: ${what}`, { hint });
}

function isHookName(spec: string): boolean {
  const [dir, name, ...rest] = spec.split('/');
  return rest.length === 0 && !!name && PHASES.some((p) => p.dir === dir);
}

/**
 * Every file of every chosen element, except the hooks a phase runs (keyed by their own step) and
 * environment.d (keyed per step, as the hook runner sources it) and READMEs: static/, bin/, package
 * lists, pkg-map, files a hook reads next to itself. A link is keyed by its target.
 */
function elementData(plan: BuildPlan): Record<string, string> {
  const hooks = new Set<string>();
  for (const p of plan.phases) for (const h of p.hooks) hooks.add(`${h.element}/${p.phase.dir}/${h.name}`);
  const data: Record<string, string> = {};
  for (const element of plan.elements) {
    const files = fg.sync('**', { cwd: element.path, dot: true, onlyFiles: false, followSymbolicLinks: false, markDirectories: true });
    for (const rel of files.sort()) {
      if (rel.endsWith('/') || rel.startsWith('environment.d/') || /^README/i.test(rel)) continue;
      if (hooks.has(`${element.name}/${rel}`)) continue;
      const path = join(element.path, rel);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) data[`data ${element.name}/${rel}`] = `link:${readlinkSync(path)}`;
      else if (st.isFile()) data[`data ${element.name}/${rel}`] = `${st.mode & 0o777}:${sha256(readFileSync(path))}`;
    }
  }
  return data;
}

/** Whether `hook` of `element` in phase directory `dir` is declared uncacheable. */
export function isUncacheable(inputs: CacheInputs, element: string, dir: string, hook: string): boolean {
  return inputs.uncacheable.includes(element) || inputs.uncacheable.includes(`${dir}/${hook}`);
}

/** Whether `element` declares its hook `dir/hook` shareable between images (see the file format above). */
export function isShareable(inputs: CacheInputs, element: string, dir: string, hook: string): boolean {
  return inputs.shareable.includes(`${element} ${dir}/${hook}`);
}

/** Expand `${VAR}` / `$VAR` from `env` (no shell: nothing else is interpreted). */
export function expandVariables(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, a: string, b: string) => env[a ?? b] ?? '');
}
