// Run one phase's hooks, outside the image or inside its chroot, with environment.d sourced first.
import { chmodSync, existsSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { DEFAULT_RUN_PARTS_REGEX, type MergedEntry, selectHooks } from '../elements/hooks.js';
import { join } from 'node:path';
import type { BuildContext } from '../build/context.js';
import { CleanupStack } from '../core/cleanup-stack.js';
import { BuildError } from '../core/errors.js';
import { CommandError } from '../core/exec.js';
import type { Phase } from './phase-table.js';
import { bindHooks } from '../target/mounts.js';
import { killProcessesRootedIn } from '../target/processes.js';

export const CHROOT_HOOKS = '/tmp/in_target.d';
const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The per-hook runner: sources environment.d (byte order, set -eu -o pipefail), then execs the hook. */
const RUN_HOOK = `#!/bin/bash
# Written by disk-image-create: source environment.d like dib-run-parts, then run one hook.
set -eu
set -o pipefail
envdir=$1
shift
if [ -d "$envdir" ]; then
  for f in "$envdir"/*; do
    name=\${f##*/}
    [[ $name =~ ^[0-9A-Za-z_.-]+$ ]] || continue
    [ -f "$f" ] || continue
    if [ "\${DIB_DEBUG_TRACE:-0}" -gt 1 ]; then echo "dib-run-parts Sourcing environment file $f" >&2; set -x; fi
    source "$f"
    { set +x; } 2>/dev/null
  done
fi
exec "$@"
`;

export function writeHookRunner(hooksDir: string): void {
  const path = join(hooksDir, 'dib-run-hook');
  writeFileSync(path, RUN_HOOK);
  chmodSync(path, 0o755);
  // Fault injection for the test suite (see core/exec.ts): tools that hooks call fail as well.
  const faults = (process.env.DIB_TS_FAULT_COMMAND ?? '').split(',').filter((t) => /^[A-Za-z0-9._+-]+$/.test(t));
  if (faults.length) {
    mkdirSync(join(hooksDir, FAULT_BIN));
    for (const tool of faults) {
      writeFileSync(join(hooksDir, FAULT_BIN, tool), `#!/bin/sh\necho "${tool}: injected fault (DIB_TS_FAULT_COMMAND)" >&2\nexit 1\n`);
      chmodSync(join(hooksDir, FAULT_BIN, tool), 0o755);
    }
  }
}

const FAULT_BIN = 'fault-bin';

export interface PhaseOptions {
  /** Image root for this phase (TARGET_ROOT / TMP_MOUNT_PATH). */
  root: string;
  index: number;
  total: number;
}

export async function runPhase(ctx: BuildContext, phase: Phase, options: PhaseOptions): Promise<void> {
  await injectSignal(`before-${phase.name}`);
  const hooks = hooksAtRunTime(ctx, phase);
  const hasDir = ctx.plan.tree.dirs.has(phase.dir);
  // DIB: in-chroot phases (and their break points) only run when some element has the directory.
  if (phase.inChroot && !hasDir) {
    await injectSignal(`after-${phase.name}`);
    ctx.throwIfAborted();
    return;
  }
  const start = process.hrtime.bigint();
  ctx.throwIfAborted();
  ctx.log.emit({ type: 'phase-start', phase: phase.name, index: options.index, total: options.total, hooks: hooks.length, inChroot: phase.inChroot });
  await breakPoint(ctx, `before-${phase.name}`, phase.inChroot ? options.root : undefined);
  let ok = false;
  try {
    await CleanupStack.using(async (stack) => {
      if (phase.inChroot && hooks.length) await bindHooks(ctx.runner, ctx.hooksDir, options.root, stack);
      try {
        for (const hook of hooks) await runHook(ctx, phase, hook, options.root);
      } catch (error) {
        if (phase.inChroot || phase.name === 'block-device') await breakPoint(ctx, 'after-error', phase.inChroot && !ctx.env.break_outside_target ? options.root : undefined);
        throw error;
      } finally {
        if (phase.inChroot) await killProcessesRootedIn(options.root, ctx.log);
      }
    });
    ok = true;
  } finally {
    ctx.log.emit({ type: 'phase-end', phase: phase.name, ok, seconds: Number(process.hrtime.bigint() - start) / 1e9 });
  }
  await breakPoint(ctx, `after-${phase.name}`, phase.inChroot ? options.root : undefined);
  await injectSignal(`after-${phase.name}`);
  ctx.throwIfAborted();
}

async function runHook(ctx: BuildContext, phase: Phase, hook: { name: string; element: string }, root: string): Promise<void> {
  ctx.throwIfAborted();
  const label = `${hook.element}/${phase.dir}/${hook.name}`;
  const env: Record<string, string> = { ...ctx.env };
  if (phase.hasTargetRoot) env.TARGET_ROOT = root;
  let argv: string[];
  if (phase.inChroot) {
    delete env.TMPDIR;
    delete env.VIRTUAL_ENV;
    env.PATH = existsSync(join(ctx.hooksDir, FAULT_BIN)) ? `${CHROOT_HOOKS}/${FAULT_BIN}:${CHROOT_PATH}` : CHROOT_PATH;
    env.HOME = '/root';
    argv = ['chroot', root, '/bin/bash', `${CHROOT_HOOKS}/dib-run-hook`, `${CHROOT_HOOKS}/environment.d`, `${CHROOT_HOOKS}/${phase.dir}/${hook.name}`];
  } else {
    if (existsSync(join(ctx.hooksDir, FAULT_BIN))) env.PATH = `${join(ctx.hooksDir, FAULT_BIN)}:${env.PATH}`;
    argv = ['bash', join(ctx.hooksDir, 'dib-run-hook'), join(ctx.hooksDir, 'environment.d'), join(ctx.hooksDir, phase.dir, hook.name)];
  }
  ctx.log.emit({ type: 'hook-start', phase: phase.name, element: hook.element, hook: hook.name });
  const start = process.hrtime.bigint();
  let status = 0;
  try {
    await ctx.runner.run(argv, { env, label, cwd: phase.inChroot ? undefined : ctx.workDir });
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    status = error instanceof CommandError ? (error.status ?? -1) : -1;
    const tail = error instanceof CommandError ? error.tail : [];
    const failure = new BuildError(`hook ${phase.dir}/${hook.name} of element '${hook.element}' failed with exit status ${status} (phase ${phase.name}, ${phase.inChroot ? 'in the chroot' : 'outside the image'})`, {
      details: tail.length ? ['last output:', ...tail.map((l) => `  ${l}`)] : [],
      hint: `rerun with -x to trace the hook${phase.inChroot || phase.name === 'block-device' ? `, or with break=after-error to get a shell ${phase.inChroot ? 'in the chroot ' : ''}where it failed` : ''}`,
      cause: error,
    });
    throw failure;
  } finally {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    ctx.hookTimings.push({ phase: phase.name, element: hook.element, hook: hook.name, seconds });
    ctx.log.emit({ type: 'hook-end', phase: phase.name, element: hook.element, hook: hook.name, seconds, status });
  }
}

/**
 * Fault injection for the test suite: DIB_TS_FAULT_SIGNAL=SIGNAL@POINT sends this process SIGNAL at a
 * phase boundary (before-install, after-root, ...), as a user's Ctrl-C or a kill would.
 */
async function injectSignal(point: string): Promise<void> {
  const spec = process.env.DIB_TS_FAULT_SIGNAL;
  if (!spec) return;
  const [signal, at] = spec.split('@');
  if (at !== point) return;
  process.kill(process.pid, signal as NodeJS.Signals);
  await new Promise((r) => setTimeout(r, 50)); // let the handler run, as it would for a real signal
}

/**
 * The hooks to run, read from the merged tree when the phase starts (as dib-run-parts does): earlier
 * phases may add some, e.g. install-types links `install.d/<prefix>-<type>-install/*` at extra-data.
 * Each keeps the element that owns it, or the element of the directory a link points into.
 */
export function hooksAtRunTime(ctx: BuildContext, phase: Phase): MergedEntry[] {
  const dir = join(ctx.hooksDir, phase.dir);
  if (!existsSync(dir)) return [];
  const planned = ctx.plan.tree.dirs.get(phase.dir) ?? new Map<string, MergedEntry>();
  const ownerOf = (name: string): string => {
    const known = planned.get(name);
    if (known) return known.element;
    try {
      const target = readlinkSync(join(dir, name));
      const first = target.split('/').find((c) => c && c !== '.');
      return (first && planned.get(first)?.element) || '(generated)';
    } catch {
      return '(generated)';
    }
  };
  const entries = readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .map((name) => ({ name, path: join(dir, name), element: ownerOf(name), isDirectory: false, mergedFrom: [] }));
  return selectHooks(entries, ctx.env.RUN_PARTS_REGEX || DEFAULT_RUN_PARTS_REGEX).runs;
}

/** DIB's break points: `break=before-install,after-error` opens a shell (in the chroot for chroot phases). */
export async function breakPoint(ctx: BuildContext, point: string, chrootRoot?: string): Promise<void> {
  const wanted = (ctx.env.break ?? '').split(',').map((s) => s.trim());
  if (!wanted.includes(point)) return;
  process.stderr.write(`Starting debug shell. Exit to resume building.\nAt stage ${point}\n`);
  const cmd = ctx.env.break_cmd || 'bash';
  const env = { ...ctx.env };
  const argv = chrootRoot ? ['chroot', chrootRoot, 'bash', '-c', cmd] : ['bash', '-c', cmd];
  if (chrootRoot) env.PATH = CHROOT_PATH;
  await ctx.runner.run(argv, { env, interactive: true, okStatus: Array.from({ length: 256 }, (_, i) => i) });
  process.stderr.write('Resuming\n');
}
