// Upstream's dib-lint rules, applied to every shipped element: each rule lists every offending file.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import fg from 'fast-glob';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../helpers/cli.js';
import { ELEMENTS_DIR, isShellShebang, shebangOf, shippedElements } from '../../helpers/shipped.js';

/** DIB's phase directories: every file in them is a hook run by dib-run-parts. */
const PHASE_DIRS = [
  'root.d',
  'extra-data.d',
  'pre-install.d',
  'install.d',
  'post-install.d',
  'post-root.d',
  'block-device.d',
  'pre-finalise.d',
  'finalise.d',
  'cleanup.d',
];
/** dib-run-parts' default RUN_PARTS_REGEX: other names (with a dot, say) are silently skipped. */
const HOOK_NAME = /^[0-9A-Za-z_-]+$/;
const TRACE_LINE = 'if [ "${DIB_DEBUG_TRACE:-0}" -gt 0 ]; then set -x; fi';
/** Directories merged across the elements of a build, where two elements may not ship the same name. */
const MERGED_DIRS = [...PHASE_DIRS, 'environment.d', 'bin'];

const elements = shippedElements();
const rel = (path: string) => relative(REPO, path);
const isExecutable = (path: string) => (statSync(path).mode & 0o111) !== 0;
const filesIn = (dir: string) => {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
};
/** Every file under elements/ with its first line, for the rules that apply to all scripts. */
const allFiles = fg
  .sync('**', { cwd: ELEMENTS_DIR, dot: true, onlyFiles: true })
  .sort()
  .map((f) => join(ELEMENTS_DIR, f));
const shellFiles = allFiles.filter((f) => isShellShebang(shebangOf(f)) || /\/(environment|image-verify)\.d\/[^/]+$/.test(f));
const hooks = elements.flatMap((e) =>
  PHASE_DIRS.flatMap((d) =>
    filesIn(join(ELEMENTS_DIR, e, d)).map((name) => ({ element: e, dir: d, name, path: join(ELEMENTS_DIR, e, d, name) })),
  ),
);

describe('dib-lint rules over the shipped elements', () => {
  it('sees the shipped elements and their hooks', () => {
    expect(elements).toContain('base');
    expect(hooks.map((h) => rel(h.path))).toContain('elements/debootstrap/root.d/08-debootstrap');
  });

  it('every element has a README.md', () => {
    expect(
      elements
        .filter((e) => !statSync(join(ELEMENTS_DIR, e, 'README.md'), { throwIfNoEntry: false })?.isFile())
        .map((e) => `elements/${e}`),
    ).toEqual([]);
  });

  it('hooks are executable regular files with a shebang and a name dib-run-parts runs (no dots)', () => {
    const problems: string[] = [];
    for (const h of hooks) {
      if (!statSync(h.path).isFile()) problems.push(`${rel(h.path)}: not a regular file`);
      else {
        if (!HOOK_NAME.test(h.name)) problems.push(`${rel(h.path)}: name does not match ${HOOK_NAME.source}; dib-run-parts would skip it`);
        if (!isExecutable(h.path)) problems.push(`${rel(h.path)}: not executable`);
        if (shebangOf(h.path) === undefined) problems.push(`${rel(h.path)}: no shebang`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('bash hooks follow DIB_DEBUG_TRACE and set -e, -u and -o pipefail', () => {
    const problems: string[] = [];
    for (const h of hooks.filter((x) => statSync(x.path).isFile() && /bash/.test(shebangOf(x.path) ?? ''))) {
      const lines = readFileSync(h.path, 'utf8').split('\n');
      if (!lines.some((l) => l.trim() === TRACE_LINE)) problems.push(`${rel(h.path)}: no '${TRACE_LINE}'`);
      if (!lines.some((l) => /^set -[^ ]*e/.test(l))) problems.push(`${rel(h.path)}: not set -e`);
      if (!lines.some((l) => /^set -[^ ]*u/.test(l))) problems.push(`${rel(h.path)}: not set -u`);
      if (!lines.some((l) => /^set -o pipefail/.test(l))) problems.push(`${rel(h.path)}: not set -o pipefail`);
    }
    expect(problems).toEqual([]);
  });

  it('scripts with a shebang are executable, bash ones use exactly #!/bin/bash, and all end with a newline', () => {
    const problems: string[] = [];
    for (const f of allFiles) {
      const shebang = shebangOf(f);
      if (shebang === undefined) continue;
      if (!isExecutable(f)) problems.push(`${rel(f)}: has a shebang but is not executable`);
      if (/bash/.test(shebang) && shebang !== '#!/bin/bash') problems.push(`${rel(f)}: '${shebang}' instead of #!/bin/bash`);
      if (!readFileSync(f, 'utf8').endsWith('\n')) problems.push(`${rel(f)}: no newline at the end`);
    }
    expect(problems).toEqual([]);
  });

  it('environment.d files are named NN-name.bash, are not executable and do not set -x', () => {
    const problems: string[] = [];
    for (const e of elements) {
      for (const name of filesIn(join(ELEMENTS_DIR, e, 'environment.d'))) {
        const path = join(ELEMENTS_DIR, e, 'environment.d', name);
        if (!/^[0-9]{2}-[A-Za-z0-9_-]+\.bash$/.test(name)) problems.push(`${rel(path)}: not named NN-name.bash`);
        if (isExecutable(path)) problems.push(`${rel(path)}: executable (it is sourced, not run)`);
        if (/set -x/.test(readFileSync(path, 'utf8'))) problems.push(`${rel(path)}: sets tracing (set -x)`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('shell files do not hide a failure in export VAR=$(...), use no tab indents and do not call which', () => {
    const problems: string[] = [];
    for (const f of shellFiles) {
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const where = `${rel(f)}:${i + 1}`;
          if (/^\s*#/.test(line)) return;
          if (/export .*\$\(/.test(line))
            problems.push(`${where}: export and command substitution on one line hide its exit status; assign first`);
          if (/^ *\t/.test(line)) problems.push(`${where}: tab indent`);
          if (/(^|[\s;&|(])which\s/.test(line)) problems.push(`${where}: 'which' is not always installed; use command -v`);
        });
    }
    expect(problems).toEqual([]);
  });

  it('hook, environment.d and bin names are unique across elements that can be built together', () => {
    const provides = new Map(elements.map((e) => [e, listFile(join(ELEMENTS_DIR, e, 'element-provides'))]));
    // Two providers of the same name never share a build (the resolver rejects it), so they may reuse names.
    const exclusive = (a: string, b: string) => provides.get(a)!.some((p) => provides.get(b)!.includes(p));
    const problems: string[] = [];
    for (const dir of MERGED_DIRS) {
      const owners = new Map<string, string[]>();
      for (const e of elements) for (const name of filesIn(join(ELEMENTS_DIR, e, dir))) owners.set(name, [...(owners.get(name) ?? []), e]);
      for (const [name, owning] of owners) {
        for (let i = 0; i < owning.length; i++) {
          for (const other of owning.slice(i + 1))
            if (!exclusive(owning[i], other)) problems.push(`${dir}/${name}: in both ${owning[i]} and ${other}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('element-deps lists are sorted (C order) without duplicates', () => {
    const problems: string[] = [];
    for (const e of elements) {
      const deps = listFile(join(ELEMENTS_DIR, e, 'element-deps'));
      const sorted = [...new Set(deps)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      if (deps.join('\n') !== sorted.join('\n'))
        problems.push(`elements/${e}/element-deps: ${deps.join(' ')} (expected ${sorted.join(' ')})`);
    }
    expect(problems).toEqual([]);
  });
});

/** Non-blank lines of an element list file (element-deps, element-provides); [] when absent. */
function listFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}
