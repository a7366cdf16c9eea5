// The build command's orchestration: logging sinks, the one preparation, host checks, signals, stale
// recovery, the output lock, the pipeline, unwinding, the timing table, and --verify.
import { appendFileSync, existsSync, fstatSync, lstatSync } from 'node:fs';
import type { BuildConfig } from '../config/settings.js';
import { type CleanupFailure, errorMessage, settleCleanup } from '../core/cleanup-stack.js';
import { assertWritableDirectory, safeRemoveTree } from '../core/fs.js';
import { BuildError, InterruptedError, UsageError, asDibError } from '../core/errors.js';
import { Runner, baseEnvironment } from '../core/exec.js';
import { HumanSink, type Logger, NdjsonSink, fileLineWriter, inheritedDescriptor } from '../core/log.js';
import { installSignalHandlers } from '../core/signals.js';
import { runBuild } from '../phases/pipeline.js';
import { BuildContext } from './context.js';
import { lockOutput } from './output-lock.js';
import { checkHost } from './preflight.js';
import { prepareBuild } from './prepare.js';
import { cleanupStaleBuilds } from './stale.js';
import { StepStore } from '../cache/store.js';
import { recordBuiltImage, watchCacheDecisions } from './artifact-record.js';
import { type AuthConfig, loadAuthConfig } from '../upload/auth-config.js';
import { checkCredentials, uploadFiles } from '../upload/run-upload.js';
import type { PreparedBuild } from './prepare.js';

export async function runDiskImageCreate(config: BuildConfig, argv: string[], log: Logger): Promise<number> {
  if (config.cleanupStale) return cleanupStale(config, log);
  if (config.cachePrune) return pruneCache(config, log, 0);
  if (!config.elements.length) {
    throw new UsageError('usage', 'At least one distribution root element must be specified', {
      hint: 'e.g. disk-image-create vm (base and the default OS are added), or debian-minimal vm',
    });
  }
  attachSinks(config, log);
  const decisions = watchCacheDecisions(log);

  // Everything that can be decided without root, before anything is created.
  const prepared = prepareBuild(config, { argv, env: process.env });
  log.info(`Building elements: ${prepared.requested.join(' ')}`);
  prepared.plan.warnings.forEach((w) => log.warn(w));
  log.info(`Expanded element dependencies to: ${prepared.plan.elements.map((e) => e.name).join(' ')}`);
  checkHost(prepared, process.env);
  // --upload: the credentials are checked before anything is built (exit 2 when there are none).
  const uploadAuth = config.upload ? uploadTargets(prepared, config) : undefined;
  if (uploadAuth) await checkCredentials(uploadAuth, log);

  for (const secret of prepared.secrets) log.redactor.add(secret);
  const guard = installSignalHandlers(log);
  const runner = new Runner(log, guard.signal, baseEnvironment());
  const ctx = new BuildContext(prepared, log, runner, guard.signal);
  const started = Date.now();
  // NAME.d/ (the manifests) is made by hooks during the build: a failed build does not leave a new one.
  const manifestsDir = `${ctx.outputStem}.d`;
  const manifestsExisted = existsSync(manifestsDir);
  let primary: unknown;
  try {
    await cleanupStaleBuilds(runner, log, config.tmpDir);
    lockOutput(config.lockfiles, ctx.outputStem, ctx.stack);
    const result = await runBuild(ctx);
    for (const out of result.outputs) log.emit({ type: 'result', message: `Image file ${out} created...`, data: { path: out } });
  } catch (error) {
    primary = guard.received ? new InterruptedError(guard.received) : asDibError(error);
  }
  const failures = await ctx.stack.unwind((label) => log.debug(`cleanup: ${label}`));
  if (primary !== undefined && !manifestsExisted) failures.push(...removeNewManifests(manifestsDir));
  guard.dispose();
  log.emit({ type: 'timings', rows: ctx.hookTimings });
  if (config.manifest) {
    const unwritten = await recordBuiltImage(ctx, { decisions, started, primary, interrupted: !!guard.received });
    if (unwritten !== undefined && primary === undefined)
      primary = new BuildError(`cannot write the manifest ${config.manifest}: ${errorMessage(unwritten)}`, {
        hint: 'the image was built; its outputs are in place',
      });
    else if (unwritten !== undefined) log.warn(`cannot write the manifest ${config.manifest}: ${errorMessage(unwritten)}`);
  }
  settleCleanup(failures, primary);
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrowing what the build threw, unchanged
  if (primary !== undefined) throw primary;
  log.info(`Build completed successfully in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  // The size bound, applied after every build; steps used in the last hour stay (a running build may have them stacked).
  if (config.cache) pruneCache(config, log, 3600_000);
  const verified = config.verify ? await verifyBuilt(ctx) : 0;
  if (verified !== 0 || !uploadAuth) return verified;
  await uploadBuilt(ctx, uploadAuth, log);
  return 0;
}

/** The credentials --upload will use, and that the build makes something Glance takes. */
function uploadTargets(prepared: PreparedBuild, config: BuildConfig): AuthConfig {
  if (!prepared.outputs.some((o) => o.type.glance))
    throw new UsageError(
      'usage',
      `--upload: none of the outputs (${prepared.outputs.map((o) => o.type.name).join(', ')}) is an image Glance takes`,
      {
        hint: 'add qcow2 or raw to -t',
      },
    );
  return loadAuthConfig({ cloud: config.osCloud || undefined });
}

/** --upload: each output Glance takes, one run (the disk is named after the image, NAME-vmlinuz/-initrd, NAME-TYPE for more). */
async function uploadBuilt(ctx: BuildContext, auth: AuthConfig, log: Logger): Promise<void> {
  const files = ctx.prepared.outputs.filter((o) => o.type.glance).map((o) => o.path);
  await uploadFiles(
    files,
    { visibility: 'private', tags: [], properties: {}, useImport: false, replace: true, waitSeconds: 600 },
    log,
    auth,
  );
}

function removeNewManifests(dir: string): CleanupFailure[] {
  try {
    if (lstatSync(dir).isDirectory()) safeRemoveTree(dir);
    return [];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return [{ label: `remove ${dir}`, error, manual: `rm -rf ${dir}` }];
  }
}

/** --logfile, --events and the quiet console (DIB_QUIET; quiet by default with a log file). */
function attachSinks(config: BuildConfig, log: Logger): void {
  for (const file of [config.logfile, config.eventsFile]) if (file && file !== '-') assertAppendable(file);
  if (config.manifest) assertWritableDirectory(config.manifest, '--manifest');
  if (config.eventsFile) log.addSink(new NdjsonSink(config.eventsFile));
  if (config.logfile) {
    log.addSink(new HumanSink(fileLineWriter(config.logfile), { timestamps: true }));
    log.emit({ type: 'notice', message: `Output logs going to: ${config.logfile}` });
  }
  if (log.console) log.console.quiet = config.quiet;
  log.debugEnabled = config.debugTrace > 0;
}

/** --cleanup-stale: release what builds killed outright left behind, as their ledgers name it. */
async function cleanupStale(config: BuildConfig, log: Logger): Promise<number> {
  if (process.getuid?.() !== 0)
    throw new UsageError('not-root', 'disk-image-create --cleanup-stale must run as root', { hint: 'run it with sudo' });
  const released = await cleanupStaleBuilds(new Runner(log), log, config.tmpDir);
  process.stdout.write(released.length ? `${released.map((r) => `released: ${r}`).join('\n')}\n` : 'nothing to release\n');
  return 0;
}

/** --cache-prune (and the bound after each build): least recently used phase cache steps first. */
function pruneCache(config: BuildConfig, log: Logger, keepMs: number): number {
  const store = StepStore.open(config.imageCache, log);
  if (!store) return 0;
  const removed = store.prune(config.cacheMaxSize * 1024 ** 3, keepMs);
  const freed = removed.reduce((n, e) => n + e.bytes, 0);
  if (removed.length || keepMs === 0)
    log.info(
      `phase cache: removed ${removed.length} step${removed.length === 1 ? '' : 's'} (${(freed / 1024 ** 2).toFixed(0)} MiB) to stay within ${config.cacheMaxSize} GiB`,
    );
  return 0;
}

/** --verify: image-verify on the qcow2 (or raw) just built, with the build's elements' checks. */
async function verifyBuilt(ctx: BuildContext): Promise<number> {
  // checkHost made sure there is one.
  const disk = (ctx.prepared.outputs.find((o) => o.type.name === 'qcow2') ?? ctx.prepared.outputs.find((o) => o.type.name === 'raw'))!;
  const { verifyAndReport } = await import('../verify/report.js');
  return verifyAndReport(
    {
      image: disk.path,
      tmpDir: ctx.config.tmpDir,
      seed: 'config-drive',
      user: ctx.config.verifyUser,
      timeoutSeconds: ctx.config.verifyTimeout,
      memoryMiB: 1024,
      diskBytes: 4 * 1024 ** 3,
      offlineOnly: false,
      uefi: false,
      elementDirs: new Map(ctx.plan.elements.map((e) => [e.name, e.path])),
      only: [],
    },
    ctx.log,
  );
}

/** --logfile / --events must be writable before the build starts (not a crash on the first log line). */
function assertAppendable(file: string): void {
  try {
    const fd = inheritedDescriptor(file);
    if (fd !== undefined) fstatSync(fd);
    else appendFileSync(file, '');
  } catch (error) {
    throw new UsageError('invalid-output', `cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? errorMessage(error)})`, {
      hint: 'give --logfile/--events a path in an existing, writable directory',
    });
  }
}
