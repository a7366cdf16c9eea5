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
import { errorMessage } from '../core/cleanup-stack.js';
import { hooksToRun } from '../phases/run-phase.js';
import { mountKernelFilesystems, mountOwned, unmountTree } from '../target/mounts.js';
import { killProcessesRootedIn } from '../target/processes.js';
import { restoreResolvConf, swapInResolvConf } from '../target/resolv-conf.js';
import { type CacheInputs, expandVariables, isShareable, isUncacheable } from './inputs.js';
import { filesWithSecrets } from '../build/secrets.js';
import { type Manifest, VOLATILE_VARIABLES, environmentEntries, explainDifference, manifestKey, sha256 } from './manifest.js';
import { type HooksDelta, type OutputsEntry, type StepEntry, StepStore, entryId } from './store.js';
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

/**
 * Overlay lower layers, given relative to the store as `<16 hex>/layer` (23 bytes each): beyond this the
 * mount's option page (4 KiB) could overflow; later steps run uncached.
 */
const MAX_LAYERS = 160;

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
  // Overlay options are a comma/colon separated list: such a character in a path cannot be passed safely.
  const unsafe = [ctx.config.tmpDir, ctx.config.imageCache].find((p) => /[,:\\]/.test(p));
  if (unsafe) {
    ctx.log.warn(`phase cache: off: ${unsafe} contains a character overlay options cannot carry (, : or \\)`);
    return new PlainTree(ctx);
  }
  const store = StepStore.open(ctx.config.imageCache, ctx.log);
  return store ? new LayeredTree(ctx, store) : new PlainTree(ctx);
}

/** Mount scope of the tree while hooks run in it: kernel filesystems, resolv.conf, the apt archive. */
async function mountTreeServices(ctx: BuildContext, root: string, scope: Resources, aptArchive: boolean): Promise<void> {
  ctx.throwIfAborted();
  swapInResolvConf(root);
  scope.defer('restore the image resolv.conf', () => restoreResolvConf(root));
  await mountKernelFilesystems(ctx.runner, root, scope);
  const archives = ctx.env.DIB_APT_ARCHIVES;
  const target = pathInTree(root, 'var/cache/apt/archives');
  if (aptArchive && archives && target && lstatSync(target, { throwIfNoEntry: false })?.isDirectory()) {
    await mountOwned(ctx.runner, ['mount', '--bind', archives], target, scope);
  }
  stopProcessesFirst(ctx, root, scope);
}

/** On release, processes left in the tree go before anything is unmounted below it. */
function stopProcessesFirst(ctx: BuildContext, root: string, scope: Resources): void {
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
  /** Kernel filesystems, resolv.conf and the apt archive are mounted in the current scope. */
  private services = false;
  private upper?: string;
  private upperCount = 0;
  /** Set once a step could not be keyed or stored: everything after it runs uncached in the current upper. */
  private broken?: string;
  private globals: Manifest = {};
  /** Whether the chain carries the globals yet (the steps before it were shareable and keyed narrowly). */
  private carried = false;
  private sourced: Record<string, string> = {};
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
    // Unwound last to first: the tree is unmounted before the entries it stacks are released to pruning.
    this.ctx.resources.defer('release the phase cache entries this build used', () => this.store.unpinAll());
    this.ctx.resources.defer('unmount the build tree', () => this.leave());
    this.sourced = sourced;
    this.globals = await this.globalEntries(sourced);
  }

  async step(desc: StepDescription, body: () => Promise<string>): Promise<string> {
    const { ctx } = this;
    if (!this.broken) {
      const uncacheable = desc.hooks.find((h) => isUncacheable(this.inputs, h.element, desc.phase.dir, h.name));
      const why = uncacheable
        ? `${uncacheable.element} declares ${desc.phase.dir}/${uncacheable.name} uncacheable`
        : this.layers.filter((l) => !l.empty).length >= MAX_LAYERS
          ? `${MAX_LAYERS} layers stacked; the rest of the tree phases run uncached`
          : undefined;
      if (why) this.breakChain(desc, why);
    }
    // Uncached from here on: the step runs in the current upper directory, nothing is stored.
    if (this.broken) {
      await this.enter(desc.mounted);
      return body();
    }
    const manifest = this.manifestFor(desc);
    const key = manifestKey(manifest);
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
      // Another image's hooks tree differs: a shared step's copies of changed files would overwrite its own.
      if (hooks && 'shared' in manifest) {
        this.breakChain(
          desc,
          `a shareable step changed $TMP_HOOKS_PATH (${desc.hooks.map((h) => h.name).join(', ')}); not stored, the rest runs uncached`,
        );
        return stdout;
      }
      for (const row of ctx.hookTimings.slice(firstRow)) row.cache = 'miss';
      // A secret value in an intermediate tree would outlive the build in the cache: not stored.
      const secrets = await filesWithSecrets(ctx.runner, [this.upper!, ...(hooks ? [hooks.tar] : [])], ctx.secrets);
      if (secrets.length) {
        this.breakChain(desc, `a secret value is in ${secrets.length} file(s) of its result; not stored, the rest runs uncached`);
        return stdout;
      }
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
      this.store.pin(entryId(entry.key));
      this.parent = chainLink(entry);
      this.decided(desc.id, 'miss', key, reasons);
      return stdout;
    } finally {
      release();
    }
  }

  private async hit(desc: StepDescription, entry: StepEntry): Promise<string> {
    if (entry.hooks) await this.replayHooks(entry.hooks);
    this.layers.push(entry);
    this.store.pin(entryId(entry.key));
    this.parent = chainLink(entry);
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
      const parts = rel.split('/');
      if (!rel || rel.startsWith('/') || parts.some((p) => !p || p === '.' || p === '..')) continue; // not a name below the tree
      const path = pathInTree(this.ctx.hooksDir, rel);
      if (path) rmSync(path, { recursive: true, force: true });
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
    if (manifest.parent !== 'none' && this.layers.length && chainLink(this.layers[this.layers.length - 1]) === manifest.parent) {
      return ['never built after this previous step'];
    }
    return ['not in the cache'];
  }

  private manifestFor(desc: StepDescription): Manifest {
    if (!this.carried && desc.hooks.length && desc.hooks.every((h) => isShareable(this.inputs, h.element, desc.phase.dir, h.name)))
      return this.sharedManifest(desc);
    const m: Manifest = { step: desc.id, parent: this.parent, ...(this.carried ? {} : this.globals), ...desc.extra };
    this.carried = true;
    return Object.assign(m, this.stepEntries([{ phase: desc.phase, hooks: desc.hooks }]));
  }

  /**
   * A step whose hooks are all declared shareable: keyed on the previous step, its hooks, their elements'
   * files, environment.d files and declarations (the values of the variables they name, and ARCH), the
   * engine and the mirror — not on the element list or the other elements' variables, so other images share it.
   */
  private sharedManifest(desc: StepDescription): Manifest {
    const { ctx } = this;
    const owners = [...new Set(desc.hooks.map((h) => h.element))].sort();
    const m: Manifest = {
      step: desc.id,
      parent: this.parent,
      shared: owners.join(' '),
      engine: this.globals.engine,
      'hook runner': this.globals['hook runner'],
      ...desc.extra,
    };
    for (const [k, v] of Object.entries(this.inputs.elementData)) if (owners.some((o) => k.startsWith(`data ${o}/`))) m[k] = v;
    for (const f of ctx.plan.environmentFiles.filter((e) => owners.includes(e.element)))
      m[`envfile ${f.name}`] = fileDigest(join(ctx.hooksDir, 'environment.d', f.name));
    const declared = owners.flatMap((o) => this.inputs.byElement[o] ?? { env: [], paths: [] });
    const names = new Set(['ARCH', ...declared.flatMap((d) => d.env)]);
    // What any environment.d exports outside the DIB_* settings (PATH, APT_CONFIG, a proxy, ...) steers
    // the tools every hook runs: keyed whoever exports it.
    for (const [k, v] of Object.entries(this.sourced))
      if (!k.startsWith('DIB_') && !VOLATILE_VARIABLES.has(k) && ctx.env[k] !== v) names.add(k);
    const values = normalised(this.sourced, { TMP_BUILD_DIR: ctx.workDir, IMAGE_NAME: ctx.outputStem });
    for (const name of [...names].sort()) m[`sourced env ${name}`] = values[name] === undefined ? 'unset' : sha256(values[name]);
    for (const path of declared.flatMap((d) => d.paths)) m[`input ${path}`] = this.globals[`input ${path}`];
    for (const suite of this.inputs.aptSuites.filter((a) => owners.includes(a.element))) {
      const label = `world ${expandVariables(suite.mirror, this.sourced)} ${expandVariables(suite.suite, this.sourced)}`;
      if (label in this.globals) m[label] = this.globals[label];
    }
    for (const h of desc.hooks) m[`hook ${desc.phase.dir}/${h.name}`] = this.hookDigest(desc.phase, h);
    return m;
  }

  /** What every step is keyed on besides its place in the chain: variables, environment files, its hooks. */
  private stepEntries(groups: Array<{ phase: Phase; hooks: PlannedHook[] }>): Manifest {
    const { ctx } = this;
    const m = environmentEntries(ctx.env, this.inputs.env);
    for (const name of ctx.environmentFiles) m[`envfile ${name}`] = fileDigest(join(ctx.hooksDir, 'environment.d', name));
    for (const { phase, hooks } of groups) for (const h of hooks) m[`hook ${phase.dir}/${h.name}`] = this.hookDigest(phase, h);
    return m;
  }

  private hookDigest(phase: Phase, h: PlannedHook): string {
    return `${h.element}:${fileDigest(join(this.ctx.hooksDir, phase.dir, h.name))}`;
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
    // What hooks really see after environment.d (values derived from variables no key covers); the work
    // directory's name is volatile.
    for (const [k, v] of Object.entries(
      environmentEntries(normalised(sourced, { TMP_BUILD_DIR: ctx.workDir, IMAGE_NAME: ctx.outputStem }), this.inputs.env),
    ))
      m[`sourced ${k}`] = v;
    for (const suite of this.inputs.aptSuites) {
      const mirror = expandVariables(suite.mirror, sourced);
      const name = expandVariables(suite.suite, sourced);
      const label = `world ${mirror} ${name}`;
      if (!mirror || !name) continue;
      if (ctx.config.offline) {
        m[label] = this.offlineWorld(label);
        continue;
      }
      try {
        m[label] = await aptSuiteFingerprint(ctx.runner, mirror, name, ctx.config.arch);
      } catch (error) {
        // Unknown world, unknown key: build without the cache rather than fail (apt may still reach it).
        this.broken = `the mirror could not be checked (${errorMessage(error)}); use --offline to reuse stored steps`;
        ctx.log.warn(`phase cache: ${this.broken}`);
      }
    }
    return m;
  }

  /** --offline: the mirror is not asked; the fingerprint the last build of the first step saw is reused. */
  private offlineWorld(label: string): string {
    return this.store.previous('none', 'root.d')?.[label] ?? 'unchecked (offline)';
  }

  /** Mount the overlay (stored layers below, a fresh upper) at the tree, and the services chroot steps need. */
  private async enter(mounted: boolean): Promise<void> {
    const { ctx } = this;
    if (!this.scope) {
      const scope = ctx.resources.nested();
      this.scope = scope;
      await this.mountOverlay(ctx.mountDir, this.freshUpper(), scope);
      stopProcessesFirst(ctx, ctx.mountDir, scope);
    }
    // Also after a broken chain that began at root.d: the later steps need their services.
    if (mounted && !this.services) {
      await mountTreeServices(ctx, ctx.mountDir, this.scope, true);
      this.services = true;
    }
  }

  /** The upper directory of the next layer (the current one while it is not stored). */
  private freshUpper(): string {
    if (!this.upper) {
      this.upper = join(this.ctx.workDir, `layer-${++this.upperCount}`);
      mkdirSync(this.upper, { mode: 0o755 });
    }
    return this.upper;
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
    this.services = false;
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
    mkdirSync(ctx.builtDir, { mode: 0o755 });
    await this.mountOverlay(ctx.builtDir, this.freshUpper(), scope);
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
    const late = LATE_PHASES.map((name) => phaseByName(name)!).map((phase) => ({ phase, hooks: hooksToRun(ctx, phase, { quiet: true }) }));
    // An uncacheable late hook, or an image whose output is made by its own elements (no-final-image):
    // the late phases must run.
    const uncacheable = late.flatMap((g) => g.hooks.filter((h) => isUncacheable(this.inputs, h.element, g.phase.dir, h.name)));
    if (uncacheable.length || ctx.prepared.withheldOutputs.length) return undefined;
    const m: Manifest = {
      step: 'outputs',
      parent: this.parent,
      ...(this.carried ? {} : this.globals),
      ...extra,
      ...this.stepEntries(late),
    };
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

/** A chain link: a child step is keyed on its parent's key AND the layer it produced (a rebuilt parent differs). */
function chainLink(entry: StepEntry): string {
  return `${entry.key}:${entry.digest}`;
}

/**
 * The keyed variables as hooks see them, with what is volatile replaced: the work directory and the output
 * stem (IMAGE_NAME is not keyed, so neither is `DIB_MANIFEST_SAVE_DIR=${IMAGE_NAME}.d/`).
 */
function normalised(env: Record<string, string>, volatile: Record<string, string>): Record<string, string> {
  const names = Object.entries(volatile).filter(([, path]) => path);
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, names.reduce((text, [name, path]) => text.split(path).join(`$${name}`), v)]),
  );
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
  const st = statSync(path, { throwIfNoEntry: false }); // a declared link to a directory is that directory
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
