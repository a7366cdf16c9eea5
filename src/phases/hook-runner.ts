// The hooks tree a build runs from ($TMP_HOOKS_PATH), written from the plan: the elements' merged
// directories, the install-type links, the engine's environment file, the list of environment files in
// sourcing order, the runner that sources that list and then runs one hook, and DIB's `dib-run-parts`
// for hooks that run a directory of scripts themselves. Also the hooks' ELEMENTS_PATH: one link per
// chosen element.
import { chmodSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildPlan } from '../elements/plan.js';
import { DIB_RUN_PARTS, DIB_RUN_PARTS_SCRIPT } from './dib-run-parts.js';

/** The list the runner sources, one environment.d file name per line, in the plan's order. */
export const ENVIRONMENT_LIST = 'environment-files';
export const HOOK_RUNNER = 'dib-run-hook';
/** The plan's package-installs entries, read by the package squash hook (so it never re-reads elements). */
export const PACKAGE_ENTRIES = 'package-entries.json';
/** Stand-ins for tools that hooks call, for the test suite's fault injection (see writeFaultTools). */
export const FAULT_BIN = 'fault-bin';

/**
 * `dib-run-hook HOOKS_DIR HOOK [ARGS]`: source the environment files the plan lists (set -eu,
 * pipefail, traced at -xx like dib-run-parts), then exec the hook. It never globs: the order is the plan's.
 */
export const HOOK_RUNNER_SCRIPT = `#!/bin/bash
# Written by disk-image-create from the build plan: source its environment files in order, then run one hook.
set -eu
set -o pipefail
hooks=$1
shift
mapfile -t files < "$hooks/${ENVIRONMENT_LIST}"
for name in "\${files[@]}"; do
    if [ "\${DIB_DEBUG_TRACE:-0}" -gt 1 ]; then
        echo "dib-run-parts Sourcing environment file $hooks/environment.d/$name" >&2
        set -x
    fi
    # shellcheck source=/dev/null
    source "$hooks/environment.d/$name"
    { set +x; } 2>/dev/null
done
exec "$@"
`;

export function writeHooksTree(plan: BuildPlan, hooksDir: string): void {
  mkdirSync(hooksDir);
  for (const [dir, entries] of plan.tree.dirs) {
    const target = join(hooksDir, dir);
    mkdirSync(target, { recursive: true });
    for (const entry of entries.values()) {
      for (const source of [entry.path, ...entry.mergedFrom]) {
        cpSync(source, join(target, entry.name), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true });
      }
    }
  }
  for (const entry of plan.tree.topFiles.values()) cpSync(entry.path, join(hooksDir, entry.name), { preserveTimestamps: true });
  for (const p of plan.phases) {
    for (const hook of p.hooks) if (hook.link) symlinkSync(hook.link, join(hooksDir, p.phase.dir, hook.name));
  }
  const envDir = join(hooksDir, 'environment.d');
  mkdirSync(envDir, { recursive: true });
  for (const f of plan.environmentFiles) if (f.content !== undefined) writeFileSync(join(envDir, f.name), f.content);
  writeEnvironmentList(
    hooksDir,
    plan.environmentFiles.map((f) => f.name),
  );
  writeFileSync(join(hooksDir, PACKAGE_ENTRIES), JSON.stringify(plan.packages.entries));
  writeFileSync(join(hooksDir, HOOK_RUNNER), HOOK_RUNNER_SCRIPT);
  chmodSync(join(hooksDir, HOOK_RUNNER), 0o755);
  // DIB copies its own dib-run-parts over whatever an element put there; so do we.
  writeFileSync(join(hooksDir, DIB_RUN_PARTS), DIB_RUN_PARTS_SCRIPT);
  chmodSync(join(hooksDir, DIB_RUN_PARTS), 0o755);
  writeFaultTools(hooksDir);
}

/**
 * The ELEMENTS_PATH hooks see: a new directory with one link `<name> -> <chosen element>` per element of
 * the build. Tools that search ELEMENTS_PATH themselves (upstream's package-installs-squash reads every
 * copy it finds) then see exactly the copies resolution chose, never a shadowed one.
 */
export function writeElementLinks(plan: Pick<BuildPlan, 'elements'>, dir: string): string {
  mkdirSync(dir);
  for (const e of plan.elements) symlinkSync(e.path, join(dir, e.name));
  return dir;
}

export function writeEnvironmentList(hooksDir: string, names: string[]): void {
  writeFileSync(join(hooksDir, ENVIRONMENT_LIST), names.map((n) => `${n}\n`).join(''));
}

/** Fault injection for the test suite (DIB_TS_FAULT_COMMAND, see core/exec.ts): tools hooks call fail too. */
function writeFaultTools(hooksDir: string): void {
  const faults = (process.env.DIB_TS_FAULT_COMMAND ?? '').split(',').filter((t) => /^[A-Za-z0-9._+-]+$/.test(t));
  if (!faults.length) return;
  mkdirSync(join(hooksDir, FAULT_BIN));
  for (const tool of faults) {
    writeFileSync(join(hooksDir, FAULT_BIN, tool), `#!/bin/sh\necho "${tool}: injected fault (DIB_TS_FAULT_COMMAND)" >&2\nexit 1\n`);
    chmodSync(join(hooksDir, FAULT_BIN, tool), 0o755);
  }
}
