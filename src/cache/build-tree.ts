// The image tree during root.d … post-root.d, as a sequence of steps. Two strategies, one interface:
//
// * PlainTree (--no-cache, break points): a directory; kernel filesystems mounted once after root.d and
//   kept until the tree phases end (DIB's behaviour).
// * LayeredTree (the phase cache): an overlay mounted at $TMP_MOUNT_PATH whose lower layers are stored
//   steps. Each step (a phase outside the image, or ONE hook of a chroot phase) is keyed (manifest.ts);
//   a stored step is stacked without running; a missing one runs on a fresh upper directory, which is
//   then unmounted and moved into the store as that step's layer. Mounts a hook made below the tree end
//   with its step (the engine re-binds its own: kernel filesystems, the apt archive).
import { lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import fg from 'fast-glob';
import type { BuildContext } from '../build/context.js';
import { type Resources } from '../core/resources.js';
import { pathInTree } from '../core/tree-read.js';
import type { PlannedHook } from '../elements/plan.js';
import { HOOK_RUNNER } from '../phases/hook-runner.js';
import { type Phase, phaseByName } from '../phases/phase-table.js';
import { hooksToRun } from '../phases/run-phase.js';
import { mountKernelFilesystems, mountOwned, unmountTree } from '../target/mounts.js';
import { killProcessesRootedIn } from '../target/processes.js';
import { restoreResolvConf, swapInResolvConf } from '../target/resolv-conf.js';
import { type CacheInputs, expandVariables, isUncacheable } from './inputs.js';
import { type Manifest, environmentEntries, explainDifference, manifestKey, sha256 } from './manifest.js';
import { type HooksDelta, type OutputsEntry, type StepEntry, StepStore } from './store.js';
import { aptSuiteFingerprint } from './world.js';

export interface StepDescription {
  /** `root.d`, `install.d/60-my-app`, `packages` */
  id: string;
  phase: Phase;
  hooks: PlannedHook[];
  /** Kernel filesystems, the host's resolv.conf and the apt archive are needed (every step after root.d). */
  mounted: boolean;
  /** Step-specific manifest entries (e.g. the -p package list). */
  extra?: Manifest;
}

export interface BuildTree {
  begin(sourced: Record<string, string>): Promise<void>;
  step(desc: StepDescription, body: () => Promise<string>): Promise<string>;
  /** After post-root.d: the finished tree at ctx.builtDir (nothing mounted below it but itself). */
  finish(): Promise<void>;
  /** The finished tree is no longer needed (it was copied into the disk). */
  releaseBuilt(): Promise<void>;
  /**
   * Whole-image reuse, after post-root.d: the stored outputs of an image whose every input is unchanged
   * (the tree's key, the later phases' hooks, the layout, the output settings), or undefined.
   */
  reusableOutputs(extra: Manifest): Promise<OutputsEntry | undefined>;
  /** Store the outputs just written for reuse (after a successful build). */
  storeOutputs(files: Map<string, string>, manifestsDir: string): Promise<void>;
}

/** The phases after the tree: their hooks are part of the outputs' key. */
const LATE_PHASES = ['block-device', 'pre-finalise', 'finalise', 'cleanup'];

/** Overlay lower layers: beyond this the option page could overflow; later steps run uncached. */
const MAX_LAYERS = 90;

export function openBuildTree(ctx: BuildContext): BuildTree {
  const reason = !ctx.config.cache
    ? 'off (--no-cache)'
    : ctx.config.breakPoints.length
      ? 'off: break points are set (a debug shell can change the tree in ways no key sees)'
      : undefined;
  if (reason) {
    ctx.log.info(`phase cache: ${reason}`);
    return new PlainTree(ctx);
  }
  const store = StepStore.open(ctx.config.imageCache, ctx.log);
  return store ? new LayeredTree(ctx, store) : new PlainTree(ctx);
}

/** Mount scope of the tree while hooks run in it: kernel filesystems, resolv.conf, the apt archive. */
async function mountTreeServices(ctx: BuildContext, root: string, scope: Resources, aptArchive: boolean): Promise<void> {
  swapInResolvConf(root);
  scope.defer('restore the image resolv.conf', () => restoreResolvConf(root));
  await mountKernelFilesystems(ctx.runner, root, scope);
  const archives = ctx.env.DIB_APT_ARCHIVES;
  const target = pathInTree(root, 'var/cache/apt/archives');
  if (aptArchive && archives && target && lstatSync(target, { throwIfNoEntry: false })?.isDirectory()) {
    await mountOwned(ctx.runner, ['mount', '--bind', archives], target, scope);
  }
  scope.defer('stop processes left in the tree', async () => {
    await killProcessesRootedIn(root, ctx.log);
  });
}

class PlainTree implements BuildTree {
  private scope?: Resources;
  constructor(private readonly ctx: BuildContext) {}

  begin(): Promise<void> {
    mkdirSync(this.ctx.mountDir, { mode: 0o755 });
    this.ctx.resources.defer('unmount the build tree', () => this.leave());
    return Promise.resolve();
  }

  async step(desc: StepDescription, body: () => Promise<string>): Promise<string> {
    if (desc.mounted && !this.scope) {
      this.scope = this.ctx.resources.nested();
      // dpkg's root.d bound the apt archive already and it stays mounted until the tree phases end.
      await mountTreeServices(this.ctx, this.ctx.mountDir, this.scope, false);
    }
    return body();
  }

  private async leave(): Promise<void> {
    await killProcessesRootedIn(this.ctx.mountDir, this.ctx.log);
    const scope = this.scope;
    this.scope = undefined;
    await scope?.release();
    await unmountTree(this.ctx.runner, this.ctx.mountDir);
  }

  async finish(): Promise<void> {
    await this.leave();
    rmSync(join(this.ctx.mountDir, 'lost+found'), { recursive: true, force: true });
    renameSync(this.ctx.mountDir, this.ctx.builtDir);
  }

  releaseBuilt(): Promise<void> {
    return Promise.resolve();
  }

  reusableOutputs(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  storeOutputs(): Promise<void> {
    return Promise.resolve();
  }
}

class LayeredTree implements BuildTree {
  private layers: StepEntry[] = [];
  private parent = 'none';
  private scope?: Resources;
  private upper?: string;
  private upperCount = 0;
  /** Set once a step could not be keyed or stored: everything after it runs uncached in the current upper. */
  private broken?: string;
  private globals: Manifest = {};
  private builtScope?: Resources;
  private outputs?: { key: string; manifest: Manifest };

  constructor(
    private readonly ctx: BuildContext,
    private readonly store: StepStore,
  ) {}

  private get inputs(): CacheInputs {
    return this.ctx.prepared.cacheInputs;
  }

  async begin(sourced: Record<string, string>): Promise<void> {
    mkdirSync(this.ctx.mountDir, { mode: 0o755 });
    mkdirSync(join(this.store.root, '.empty'), { recursive: true, mode: 0o755 });
    this.ctx.resources.defer('unmount the build tree', () => this.leave());
    this.globals = await this.globalEntries(sourced);
  }

  async step(desc: StepDescription, body: () => Promise<string>): Promise<string> {
    const { ctx } = this;
    if (this.broken) {
      await this.enter(desc.mounted);
      return body();
    }
    const manifest = this.manifestFor(desc);
    const key = manifestKey(manifest);
    const uncacheable = desc.hooks.find((h) => isUncacheable(this.inputs, h.element, desc.phase.dir, h.name));
    if (uncacheable) {
      this.breakChain(desc, `${uncacheable.element} declares ${desc.phase.dir}/${uncacheable.name} uncacheable`);
      await this.enter(desc.mounted);
      return body();
    }
    if (this.layers.filter((l) => !l.empty).length >= MAX_LAYERS) {
      this.breakChain(desc, `${MAX_LAYERS} layers stacked; the rest of the tree phases run uncached`);
      await this.enter(desc.mounted);
      return body();
    }
    let entry = this.store.lookup(key);
    if (entry) return this.hit(desc, entry);
    const release = await this.store.lock(key, ctx.signal, (pid) =>
      ctx.log.info(`phase cache: waiting for build ${pid}, which is computing step ${desc.id}`),
    );
    try {
      entry = this.store.lookup(key);
      if (entry) return this.hit(desc, entry);
      const reasons = this.explain(manifest);
      const firstRow = ctx.hookTimings.length;
      const hooksBefore = desc.phase.inChroot ? undefined : listing(ctx.hooksDir);
      await this.enter(desc.mounted);
      const stdout = await body();
      await this.leave();
      const hooks = hooksBefore && (await this.hooksDelta(hooksBefore));
      for (const row of ctx.hookTimings.slice(firstRow)) row.cache = 'miss';
      entry = await this.store.store(
        key,
        desc.id,
        manifest,
        this.upper!,
        async (from, to) => {
          await ctx.runner.run(['cp', '-a', '--reflink=auto', from, to]);
        },
        hooks,
      );
      this.upper = undefined;
      this.layers.push(entry);
      this.parent = key;
      this.decided(desc.id, 'miss', key, reasons);
      return stdout;
    } finally {
      release();
    }
  }

  private async hit(desc: StepDescription, entry: StepEntry): Promise<string> {
    if (entry.hooks) await this.replayHooks(entry.hooks);
    this.layers.push(entry);
    this.parent = entry.key;
    for (const h of desc.hooks)
      this.ctx.hookTimings.push({ phase: desc.phase.name, element: h.element, hook: h.name, seconds: 0, cache: 'hit' });
    this.decided(desc.id, 'hit', entry.key, []);
    return '';
  }

  /** What a step outside the image changed in $TMP_HOOKS_PATH (files other phases read), as a tar + removals. */
  private async hooksDelta(before: Map<string, string>): Promise<HooksDelta | undefined> {
    const after = listing(this.ctx.hooksDir);
    const changed = [...after].filter(([rel, sig]) => before.get(rel) !== sig).map(([rel]) => rel);
    const removed = [...before.keys()].filter((rel) => !after.has(rel));
    if (!changed.length && !removed.length) return undefined;
    const tar = join(this.ctx.workDir, `hooks-delta-${++this.upperCount}.tar`);
    const list = `${tar}.list`;
    writeFileSync(list, changed.map((r) => `${r}\0`).join(''));
    await this.ctx.runner.run(['tar', '-C', this.ctx.hooksDir, '--null', '--no-recursion', '-T', list, '-cf', tar]);
    return { tar, removed };
  }

  private async replayHooks(hooks: { tar: string; removed: string[] }): Promise<void> {
    await this.ctx.runner.run(['tar', '-C', this.ctx.hooksDir, '-xf', hooks.tar]);
    for (const rel of hooks.removed) {
      if (rel.split('/').includes('..')) continue;
      rmSync(join(this.ctx.hooksDir, rel), { recursive: true, force: true });
    }
  }

  private counts = { hit: 0, miss: 0 };
  private firstMiss?: string;

  /** One decision: an event, and with --explain-cache a line saying why. */
  private decided(step: string, decision: 'hit' | 'miss', key: string, reasons: string[]): void {
    const { log, config } = this.ctx;
    log.emit({ type: 'cache', step, decision, key: key.slice(0, 12), reasons });
    this.counts[decision]++;
    if (decision === 'miss') this.firstMiss ??= `${step}: ${reasons[0] ?? 'not stored'}`;
    if (config.explainCache) log.info(decision === 'hit' ? `cache hit  ${step}` : `cache miss ${step}: ${reasons.join('; ')}`);
  }

  private summary(): void {
    const { hit, miss } = this.counts;
    this.ctx.log.info(
      `phase cache: ${hit} step${hit === 1 ? '' : 's'} reused, ${miss} built${this.firstMiss ? ` (from ${this.firstMiss})` : ''}${this.broken ? `; then uncached: ${this.broken}` : ''}`,
    );
  }

  private breakChain(desc: StepDescription, why: string): void {
    this.broken = why;
    this.ctx.log.emit({ type: 'cache', step: desc.id, decision: 'uncacheable', key: '', reasons: [why] });
  }

  /** Why the step missed: the stored manifest of the same step after the same previous step, diffed. */
  private explain(manifest: Manifest): string[] {
    const previous = this.store.previous(manifest.parent, manifest.step);
    if (previous) return explainDifference(previous, manifest);
    if (manifest.parent !== 'none' && this.layers.length && this.layers[this.layers.length - 1].key === manifest.parent) {
      return ['never built after this previous step'];
    }
    return ['not in the cache'];
  }

  private manifestFor(desc: StepDescription): Manifest {
    const { ctx } = this;
    const m: Manifest = { step: desc.id, parent: this.parent, ...(this.parent === 'none' ? this.globals : {}), ...desc.extra };
    Object.assign(m, environmentEntries(ctx.env, this.inputs.env));
    for (const name of ctx.environmentFiles) m[`envfile ${name}`] = fileDigest(join(ctx.hooksDir, 'environment.d', name));
    for (const h of desc.hooks)
      m[`hook ${desc.phase.dir}/${h.name}`] = `${h.element}:${fileDigest(join(ctx.hooksDir, desc.phase.dir, h.name))}`;
    return m;
  }

  /** What only the first step carries (the chain passes it on): engine, elements, their files, declared inputs, the mirror. */
  private async globalEntries(sourced: Record<string, string>): Promise<Manifest> {
    const { ctx } = this;
    const m: Manifest = {
      engine: engineDigest(),
      'hook runner': fileDigest(join(ctx.hooksDir, HOOK_RUNNER)),
      elements: ctx.plan.elements.map((e) => e.name).join(' '),
      ...this.inputs.elementData,
    };
    for (const path of this.inputs.paths) m[`input ${path}`] = pathDigest(expandVariables(path, sourced));
    for (const suite of this.inputs.aptSuites) {
      const mirror = expandVariables(suite.mirror, sourced);
      const name = expandVariables(suite.suite, sourced);
      const label = `world ${mirror} ${name}`;
      if (!mirror || !name) continue;
      if (ctx.config.offline) {
        m[label] = this.offlineWorld(label);
        continue;
      }
      m[label] = await aptSuiteFingerprint(mirror, name, ctx.config.arch);
    }
    return m;
  }

  /** --offline: the mirror is not asked; the fingerprint the last build of the first step saw is reused. */
  private offlineWorld(label: string): string {
    return this.store.previous('none', 'root.d')?.[label] ?? 'unchecked (offline)';
  }

  /** Mount the overlay (stored layers below, a fresh upper) at the tree, and the services chroot steps need. */
  private async enter(mounted: boolean): Promise<void> {
    if (this.scope) return;
    const { ctx } = this;
    const scope = ctx.resources.nested();
    this.scope = scope;
    if (!this.upper) {
      this.upper = join(ctx.workDir, `layer-${++this.upperCount}`);
      mkdirSync(this.upper, { mode: 0o755 });
    }
    await this.mountOverlay(ctx.mountDir, this.upper, scope);
    if (mounted) await mountTreeServices(ctx, ctx.mountDir, scope, true);
  }

  private async mountOverlay(target: string, upper: string, scope: Resources): Promise<void> {
    const work = `${upper}.work`;
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { mode: 0o700 });
    const stacked = this.layers.filter((l) => !l.empty).map((l) => l.layer);
    const lower = stacked.length ? stacked.reverse().join(':') : '.empty';
    const options = `lowerdir=${lower},upperdir=${upper},workdir=${work},redirect_dir=off,metacopy=off,index=off,xino=off`;
    await scope.acquire(
      { kind: 'mount', path: target },
      () => this.ctx.runner.run(['mount', '-t', 'overlay', 'overlay', '-o', options, target], { cwd: this.store.root }),
      {
        label: `unmount ${target}`,
        undo: async () => {
          await unmountTree(this.ctx.runner, target);
          rmSync(work, { recursive: true, force: true });
        },
        manual: `umount -R ${target}`,
      },
    );
  }

  private async leave(): Promise<void> {
    const scope = this.scope;
    this.scope = undefined;
    await scope?.release();
  }

  async finish(): Promise<void> {
    await this.leave();
    const { ctx } = this;
    // As with the plain tree, TMP_MOUNT_PATH names nothing until the disk is mounted there (DIB).
    rmdirSync(ctx.mountDir);
    const scope = ctx.resources.nested();
    this.builtScope = scope;
    ctx.resources.defer('unmount the finished tree', () => this.releaseBuilt());
    if (!this.upper) {
      this.upper = join(ctx.workDir, `layer-${++this.upperCount}`);
      mkdirSync(this.upper, { mode: 0o755 });
    }
    mkdirSync(ctx.builtDir, { mode: 0o755 });
    await this.mountOverlay(ctx.builtDir, this.upper, scope);
    rmSync(join(ctx.builtDir, 'lost+found'), { recursive: true, force: true });
  }

  async releaseBuilt(): Promise<void> {
    const scope = this.builtScope;
    this.builtScope = undefined;
    await scope?.release();
  }

  async reusableOutputs(extra: Manifest): Promise<OutputsEntry | undefined> {
    const { ctx } = this;
    this.summary();
    if (this.broken) return undefined;
    const m: Manifest = { step: 'outputs', parent: this.parent, ...extra, ...environmentEntries(ctx.env, this.inputs.env) };
    for (const name of ctx.environmentFiles) m[`envfile ${name}`] = fileDigest(join(ctx.hooksDir, 'environment.d', name));
    for (const name of LATE_PHASES) {
      const p = phaseByName(name)!;
      for (const h of hooksToRun(ctx, p)) m[`hook ${p.dir}/${h.name}`] = `${h.element}:${fileDigest(join(ctx.hooksDir, p.dir, h.name))}`;
    }
    const key = manifestKey(m);
    this.outputs = { key, manifest: m };
    const entry = await this.store.lookupOutputs(key);
    this.decided('outputs', entry ? 'hit' : 'miss', key, entry ? [] : this.explain(m));
    return entry;
  }

  async storeOutputs(files: Map<string, string>, manifestsDir: string): Promise<void> {
    if (!this.outputs) return;
    const { ctx } = this;
    let tar: string | undefined;
    if (lstatSync(manifestsDir, { throwIfNoEntry: false })?.isDirectory()) {
      tar = join(ctx.workDir, 'manifests.tar');
      await ctx.runner.run(['tar', '-C', dirname(manifestsDir), '-cf', tar, basename(manifestsDir)]);
    }
    await this.store.storeOutputs(this.outputs.key, this.outputs.manifest, files, tar, async (from, to) => {
      await ctx.runner.run(['cp', '--sparse=always', '--reflink=auto', from, to]);
    });
  }
}

/** Path → signature (type, mode, size, mtime, link target) of everything below `dir`, links not followed. */
function listing(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const row of fg.sync('**', { cwd: dir, dot: true, onlyFiles: false, followSymbolicLinks: false, stats: true })) {
    const st = row.stats!;
    const link = st.isSymbolicLink() ? readlinkSync(join(dir, row.path)) : '';
    out.set(row.path, `${st.mode}:${st.size}:${st.mtimeMs}:${link}`);
  }
  return out;
}

/** Digest of a file read through links (the hooks tree links into the elements): exec bit and content. */
function fileDigest(path: string): string {
  try {
    return `${statSync(path).mode & 0o111 ? 'x' : '-'}:${sha256(readFileSync(path))}`;
  } catch {
    return 'missing';
  }
}

/** A declared host path: a file's content, or every file below a directory (path, mode, content). */
function pathDigest(path: string): string {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return 'missing';
  if (!st.isDirectory()) return fileDigest(path);
  const rows = fg.sync('**', { cwd: path, dot: true, followSymbolicLinks: false }).sort();
  return sha256(rows.map((r) => `${r}\0${fileDigest(join(path, r))}`).join('\n'));
}

let engine: string | undefined;
/** The engine's own code and shell library: a new version invalidates every step. */
export function engineDigest(): string {
  if (engine) return engine;
  const dist = resolve(dirname(new URL(import.meta.url).pathname), '..');
  const repo = resolve(dist, '..');
  const files = [
    ...fg.sync('**/*.js', { cwd: dist }).map((f) => join(dist, f)),
    ...fg.sync(['lib/**', 'bin/**', 'package.json'], { cwd: repo, dot: true }).map((f) => join(repo, f)),
  ].sort();
  engine = sha256(files.map((f) => `${f.slice(repo.length)}\0${sha256(readFileSync(f))}`).join('\n'));
  return engine;
}
