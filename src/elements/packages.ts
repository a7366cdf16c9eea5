// package-installs.yaml/.json: parsing with validation, and DIB's per-phase squash (bugs fixed).
import { scalarText } from '../core/text.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { UsageError, throwIfProblems } from '../core/errors.js';
import { PACKAGE_PHASES } from '../phases/phase-table.js';

export interface PackageEntry {
  package: string;
  element: string;
  phase: string;
  uninstall: boolean;
  buildOnly: boolean;
  installtype?: string;
  arch?: string[];
  notArch?: string[];
  dibPythonVersion?: string;
  when: string[];
}

export type SquashedPackages = Record<string, { install: Array<[string, string]>; uninstall: Array<[string, string]> }>;

const KEYS = new Set(['phase', 'uninstall', 'build-only', 'installtype', 'arch', 'not-arch', 'dib_python_version', 'when']);
const WHEN = /^(\w+)\s*(=|!=)\s*(.*)$/;

export interface PackageInstalls {
  entries: PackageEntry[];
  /**
   * What DIB accepts silently and this tool warns about (unknown keys, phases that are never installed);
   * `--strict` makes them exit-2 errors.
   */
  warnings: UsageError[];
}

/**
 * Read an element's package-installs file (JSON first, then YAML, like DIB). Exit-2 errors point into the
 * file; where DIB is lenient (an unknown key is ignored, an entry for another phase never installed) the
 * problem is a warning instead.
 */
export function readPackageInstalls(element: { name: string; path: string }): PackageInstalls {
  const problems: UsageError[] = [];
  const warnings: UsageError[] = [];
  const entries: PackageEntry[] = [];
  for (const ext of ['json', 'yaml']) {
    const file = join(element.path, `package-installs.${ext}`);
    if (!existsSync(file)) continue;
    const problem = (where: string, what: string) =>
      new UsageError('invalid-package-installs', `${file}: ${where}: ${what}`, {
        hint: 'package-installs maps package names to nothing, a mapping of phase/uninstall/build-only/installtype/arch/not-arch/dib_python_version/when, or a list of such mappings',
      });
    const bad = (where: string, what: string) => problems.push(problem(where, what));
    const lenient = (where: string, what: string) => warnings.push(problem(where, what));
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      bad('unreadable', (error as NodeJS.ErrnoException).code ?? String(error));
      continue;
    }
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length) {
      const e = doc.errors[0];
      const line = e.linePos?.[0];
      bad(line ? `line ${line.line} column ${line.col}` : 'syntax', e.message.split('\n')[0]);
      continue;
    }
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: 100 }) as unknown;
    } catch (error) {
      // e.g. a billion-laughs alias bomb: "Excessive alias count indicates a resource exhaustion attack"
      bad('aliases', (error as Error).message);
      continue;
    }
    if (data === null || data === undefined) continue; // empty file: nothing to install (DIB crashes here)
    if (typeof data !== 'object' || Array.isArray(data)) {
      bad('top level', 'must be a mapping of package names');
      continue;
    }
    for (const [pkg, value] of Object.entries(data as Record<string, unknown>)) {
      const list = value === null || value === '' ? [{}] : Array.isArray(value) ? value : [value];
      list.forEach((params, i) => {
        const where = `'${pkg}'${Array.isArray(value) ? `[${i}]` : ''}`;
        if (params === null || params === '') params = {};
        if (typeof params !== 'object' || Array.isArray(params)) {
          bad(where, 'must be a mapping');
          return;
        }
        const p = params as Record<string, unknown>;
        for (const key of Object.keys(p))
          if (!KEYS.has(key)) lenient(`${where}.${key}`, `unknown key, ignored as DIB does (known: ${[...KEYS].join(', ')})`);
        const phase = p.phase === undefined ? 'install.d' : scalarText(p.phase);
        if (!(PACKAGE_PHASES as readonly string[]).includes(phase))
          lenient(`${where}.phase`, `'${phase}' is not one of ${PACKAGE_PHASES.join(', ')}: never installed, as in DIB`);
        if (p.arch !== undefined && p['not-arch'] !== undefined) bad(where, 'arch and not-arch given together');
        const when = p.when === undefined ? [] : Array.isArray(p.when) ? p.when.map(String) : [scalarText(p.when)];
        for (const w of when) if (!WHEN.test(w)) bad(`${where}.when`, `malformed condition '${w}' (expected VAR = value or VAR != value)`);
        entries.push({
          package: pkg,
          element: element.name,
          phase,
          uninstall: truthy(p.uninstall),
          buildOnly: truthy(p['build-only']),
          installtype: p.installtype === undefined ? undefined : scalarText(p.installtype),
          arch: p.arch === undefined ? undefined : splitList(p.arch),
          notArch: p['not-arch'] === undefined ? undefined : splitList(p['not-arch']),
          dibPythonVersion: p.dib_python_version === undefined ? undefined : scalarText(p.dib_python_version),
          when,
        });
      });
    }
  }
  throwIfProblems(problems);
  return { entries, warnings };
}

/**
 * Fold every element's entries into per-phase install/uninstall lists (DIB's package-installs-squash).
 * Fixed DIB bugs: `uninstall: false` does not uninstall; arch lists are trimmed; shadowed copies of an
 * element do not contribute; a `when` on an unset variable compares against the empty string.
 */
export function squashPackages(entries: PackageEntry[], env: Record<string, string | undefined>): SquashedPackages {
  const out: SquashedPackages = {};
  for (const e of entries) {
    const phase = (out[e.phase] ??= { install: [], uninstall: [] });
    const installed = phase.install.some(([p]) => p === e.package);
    const uninstalling = phase.uninstall.some(([p]) => p === e.package);
    let targets: Array<'install' | 'uninstall'>;
    if (e.uninstall || e.buildOnly) {
      if (installed && !uninstalling) {
        if (!e.buildOnly) continue;
        targets = ['install'];
      } else targets = e.buildOnly ? ['install', 'uninstall'] : ['uninstall'];
    } else {
      phase.uninstall = phase.uninstall.filter(([p]) => p !== e.package);
      targets = ['install'];
    }
    if (!entrySelected(e, env)) continue;
    for (const t of targets) phase[t].push([e.package, e.element]);
  }
  return out;
}

export function entrySelected(e: PackageEntry, env: Record<string, string | undefined>): boolean {
  if (e.installtype !== undefined) {
    const own = env[`DIB_INSTALLTYPE_${e.element.replace(/-/g, '_')}`] ?? env.DIB_DEFAULT_INSTALLTYPE ?? 'source';
    if (own !== e.installtype) return false;
  }
  const arch = env.ARCH ?? '';
  if (e.arch && !e.arch.includes(arch)) return false;
  if (e.notArch && e.notArch.includes(arch)) return false;
  if (e.dibPythonVersion !== undefined && e.dibPythonVersion !== (env.DIB_PYTHON_VERSION ?? '3')) return false;
  for (const w of e.when) {
    const [, name, op, value] = WHEN.exec(w)!;
    const actual = env[name] ?? '';
    if ((op === '=') !== (actual === value)) return false;
  }
  return true;
}

function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (typeof value === 'string') return !['', 'false', 'no', '0', 'off'].includes(value.toLowerCase());
  return true;
}

function splitList(value: unknown): string[] {
  return String(value)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
