// Run one phase of the plan: its hooks in the plan's order, outside the image or in its chroot, each
// through the hook runner (which sources the plan's environment files). Files an earlier phase created
// in the hooks tree (DIB allows it) are added as recorded plan amendments, never silently.
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildContext } from '../build/context.js';
import { BuildError } from '../core/errors.js';
import { CommandError } from '../core/exec.js';
import { sleep } from '../core/retry.js';
import { type MergedEntry, compareRunParts, selectEnvironmentFiles, selectHooks } from '../elements/hooks.js';
import type { PlannedHook } from '../elements/plan.js';
import { bindHooks } from '../target/mounts.js';
import { killProcessesRootedIn } from '../target/processes.js';
import { FAULT_BIN, HOOK_RUNNER, writeEnvironmentList } from './hook-runner.js';
import type { Phase } from './phase-table.js';

export const CHROOT_HOOKS = '/tmp/in_target.d';
export const CHROOT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PhaseOptions {
  /** Image root for this phase (TARGET_ROOT / TMP_MOUNT_PATH). */
  root: string;
  index: number;
  total: number;
  /**
   * How the phase's hooks are grouped and run (the phase cache runs each hook of a chroot phase as its
   * own step); `runGroup` runs some of them in order and returns their stdout. Default: all at once.
   */
  steps?: (hooks: PlannedHook[], runGroup: (group: PlannedHook[]) => Promise<string>) => Promise<string>;
}

/** Runs the phase; returns what its hooks wrote to stdout (DIB evaluates block-device.d's). */
export async function runPhase(ctx: BuildContext, phase: Phase, options: PhaseOptions): Promise<string> {
  await injectSignal(`before-${phase.name}`);
  amendEnvironmentFiles(ctx, phase);
  const hooks = hooksToRun(ctx, phase);
  // DIB: in-chroot phases (and their break points) only run when some element has the directory.
  if (phase.inChroot && !ctx.plan.tree.dirs.has(phase.dir)) {
    await injectSignal(`after-${phase.name}`);
    ctx.throwIfAborted();
    return '';
  }
  const start = process.hrtime.bigint();
  ctx.throwIfAborted();
  ctx.log.emit({
    type: 'phase-start',
    phase: phase.name,
    index: options.index,
    total: options.total,
    hooks: hooks.length,
    inChroot: phase.inChroot,
  });
  await breakPoint(ctx, `before-${phase.name}`, phase.inChroot ? options.root : undefined);
  let ok = false;
  let stdout: string;
  const runGroup = (group: PlannedHook[]) =>
    ctx.resources.using(async (scope) => {
      let out = '';
      if (phase.inChroot && group.length) await bindHooks(ctx.runner, ctx.hooksDir, options.root, scope);
      try {
        for (const hook of group) out += await runHook(ctx, phase, hook, options.root);
      } catch (error) {
        if (phase.inChroot || phase.name === 'block-device') {
          await breakPoint(ctx, 'after-error', phase.inChroot && !ctx.config.breakOutsideTarget ? options.root : undefined);
        }
        throw error;
      } finally {
        if (phase.inChroot) await killProcessesRootedIn(options.root, ctx.log);
      }
      return out;
    });
  try {
    stdout = options.steps ? await options.steps(hooks, runGroup) : await runGroup(hooks);
    ok = true;
  } finally {
    ctx.log.emit({ type: 'phase-end', phase: phase.name, ok, seconds: Number(process.hrtime.bigint() - start) / 1e9 });
  }
  await breakPoint(ctx, `after-${phase.name}`, phase.inChroot ? options.root : undefined);
  await injectSignal(`after-${phase.name}`);
  ctx.throwIfAborted();
  return stdout;
}

/** The argv that runs one hook (the same runner outside and inside the chroot). */
export function hookArgv(ctx: BuildContext, phase: Phase, hook: string): string[] {
  if (phase.inChroot)
    return ['chroot', ctx.mountDir, '/bin/bash', `${CHROOT_HOOKS}/${HOOK_RUNNER}`, CHROOT_HOOKS, `${CHROOT_HOOKS}/${phase.dir}/${hook}`];
  return ['bash', join(ctx.hooksDir, HOOK_RUNNER), ctx.hooksDir, join(ctx.hooksDir, phase.dir, hook)];
}

/** Run one hook; returns its stdout (newline-terminated). */
async function runHook(ctx: BuildContext, phase: Phase, hook: PlannedHook, root: string): Promise<string> {
  ctx.throwIfAborted();
  const label = `${hook.element}/${phase.dir}/${hook.name}`;
  const env: Record<string, string> = { ...ctx.env };
  if (phase.hasTargetRoot) env.TARGET_ROOT = root;
  const faults = existsSync(join(ctx.hooksDir, FAULT_BIN));
  let argv: string[];
  if (phase.inChroot) {
    delete env.TMPDIR;
    delete env.VIRTUAL_ENV;
    env.PATH = faults ? `${CHROOT_HOOKS}/${FAULT_BIN}:${CHROOT_PATH}` : CHROOT_PATH;
    env.HOME = '/root';
    argv = ['chroot', root, ...hookArgv(ctx, phase, hook.name).slice(2)];
  } else {
    if (faults) env.PATH = `${join(ctx.hooksDir, FAULT_BIN)}:${env.PATH}`;
    argv = hookArgv(ctx, phase, hook.name);
  }
  ctx.log.emit({ type: 'hook-start', phase: phase.name, element: hook.element, hook: hook.name });
  const start = process.hrtime.bigint();
  let status = 0;
  try {
    const { stdout } = await ctx.runner.run(argv, { env, label, cwd: phase.inChroot ? undefined : ctx.workDir });
    return stdout ? `${stdout}\n` : '';
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    status = error instanceof CommandError ? (error.status ?? -1) : -1;
    const tail = error instanceof CommandError ? error.tail : [];
    throw new BuildError(
      `hook ${phase.dir}/${hook.name} of element '${hook.element}' failed with exit status ${status} (phase ${phase.name}, ${phase.inChroot ? 'in the chroot' : 'outside the image'})`,
      {
        details: tail.length ? ['last output:', ...tail.map((l) => `  ${l}`)] : [],
        hint: `rerun with -x to trace the hook${phase.inChroot || phase.name === 'block-device' ? `, or with break=after-error to get a shell ${phase.inChroot ? 'in the chroot ' : ''}where it failed` : ''}`,
        cause: error,
      },
    );
  } finally {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    ctx.hookTimings.push({ phase: phase.name, element: hook.element, hook: hook.name, seconds });
    ctx.log.emit({ type: 'hook-end', phase: phase.name, element: hook.element, hook: hook.name, seconds, status });
  }
}

/**
 * The plan's hooks for this phase, amended by what earlier phases changed in the hooks tree (some DIB
 * elements write hooks at extra-data): each addition or removal is an event and a log line.
 */
export function hooksToRun(ctx: BuildContext, phase: Phase, options: { quiet?: boolean } = {}): PlannedHook[] {
  const amend = (...args: Parameters<typeof recordAmendment>) => {
    if (!options.quiet) recordAmendment(...args);
  };
  const planned = ctx.plan.phases.find((p) => p.phase.name === phase.name)!;
  const dir = join(ctx.hooksDir, phase.dir);
  const present = new Set(existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : []);
  const known = new Set([...planned.hooks.map((h) => h.name), ...planned.ignored.map((i) => i.entry.name)]);
  const runs = planned.hooks.filter((h) => {
    if (present.has(h.name)) return true;
    amend(ctx, phase, 'removed', h.name, h.element, 'an earlier phase removed it from the hooks tree');
    return false;
  });
  const fromDir = [...present]
    .filter((n) => !known.has(n))
    .map((name) => ({ name, path: join(dir, name), element: ownerOf(ctx, phase, name), isDirectory: false, mergedFrom: [] }));
  const added = selectHooks(fromDir, ctx.config.runPartsRegex).runs;
  for (const h of added) {
    const reason = /-install\//.test(linkTarget(ctx, phase, h.name) ?? '')
      ? 'install type chosen by an environment.d variable'
      : 'created in the hooks tree by an earlier phase';
    amend(ctx, phase, 'added', h.name, h.element, reason);
  }
  return [...runs, ...added].sort((a, b) => compareRunParts(a.name, b.name));
}

/** Environment files an earlier phase added to environment.d are sourced from now on (as dib-run-parts would). */
function amendEnvironmentFiles(ctx: BuildContext, phase: Phase): void {
  const dir = join(ctx.hooksDir, 'environment.d');
  if (!existsSync(dir)) return;
  const known = new Set(ctx.environmentFiles);
  const entries: MergedEntry[] = readdirSync(dir).map((name) => ({
    name,
    path: join(dir, name),
    element: known.has(name) ? '' : '(generated)',
    isDirectory: false,
    mergedFrom: [],
  }));
  const selected = selectEnvironmentFiles(entries).map((e) => e.name);
  const added = selected.filter((n) => !known.has(n));
  const removed = ctx.environmentFiles.filter((n) => !selected.includes(n));
  if (!added.length && !removed.length) return;
  for (const name of added) recordAmendment(ctx, phase, 'added', `environment.d/${name}`, '(generated)', 'created by an earlier phase');
  for (const name of removed) recordAmendment(ctx, phase, 'removed', `environment.d/${name}`, '', 'removed by an earlier phase');
  ctx.environmentFiles = selected;
  writeEnvironmentList(ctx.hooksDir, selected);
}

/** Record a difference between the plan and what runs: an event, rendered as a log line. */
function recordAmendment(
  ctx: BuildContext,
  phase: Phase,
  change: 'added' | 'removed',
  name: string,
  element: string,
  reason: string,
): void {
  ctx.log.emit({ type: 'plan-amendment', phase: phase.name, change, name, element, reason });
}

/** The element of a file found in the tree: the planned owner of the directory a link points into. */
function ownerOf(ctx: BuildContext, phase: Phase, name: string): string {
  const first = linkTarget(ctx, phase, name)
    ?.split('/')
    .find((c) => c && c !== '.');
  return (first && ctx.plan.tree.dirs.get(phase.dir)?.get(first)?.element) || '(generated)';
}

function linkTarget(ctx: BuildContext, phase: Phase, name: string): string | undefined {
  try {
    return readlinkSync(join(ctx.hooksDir, phase.dir, name));
  } catch {
    return undefined;
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
  process.kill(process.pid, signal);
  await sleep(50); // let the handler run, as it would for a real signal
}

/** DIB's break points: `break=before-install,after-error` opens a shell (in the chroot for chroot phases). */
export async function breakPoint(ctx: BuildContext, point: string, chrootRoot?: string): Promise<void> {
  if (!ctx.config.breakPoints.includes(point)) return;
  ctx.log.emit({ type: 'break', point, state: 'start', message: `Starting debug shell. Exit to resume building.\nAt stage ${point}` });
  const env = { ...ctx.env };
  const argv = chrootRoot ? ['chroot', chrootRoot, 'bash', '-c', ctx.config.breakCmd] : ['bash', '-c', ctx.config.breakCmd];
  if (chrootRoot) env.PATH = CHROOT_PATH;
  await ctx.runner.run(argv, { env, interactive: true, okStatus: Array.from({ length: 256 }, (_, i) => i) });
  ctx.log.emit({ type: 'break', point, state: 'resume', message: 'Resuming' });
}
