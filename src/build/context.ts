// The BuildContext: the prepared build (config, plan, layout, outputs), logger, runner, the resources the
// build owns (cleanup stack + ledger) and the derived paths.
import { join } from 'node:path';
import type { BuildConfig } from '../config/settings.js';
import { CleanupStack } from '../core/cleanup-stack.js';
import type { Runner } from '../core/exec.js';
import type { Logger, TimingRow as HookTiming } from '../core/log.js';
import { Resources } from '../core/resources.js';
import type { Ledger } from '../core/ledger.js';
import type { Layout } from '../disk/layout.js';
import type { BuildPlan } from '../elements/plan.js';
import type { PreparedBuild } from './prepare.js';

export type { TimingRow as HookTiming } from '../core/log.js';

export class BuildContext {
  /** The root undo stack: the output lock first, then the work directory and everything in it. */
  readonly stack = new CleanupStack();
  readonly hookTimings: HookTiming[] = [];
  /** Variables exported to hooks; the pipeline adds to it as the build proceeds. */
  readonly env: Record<string, string>;
  workDir = '';
  /** Secret values: the plan's, plus those environment.d exports (redacted, scanned for). */
  readonly secrets: string[];
  /** environment.d file names in sourcing order: the plan's, plus recorded amendments. */
  environmentFiles: string[];
  private owned?: Resources;

  constructor(
    readonly prepared: PreparedBuild,
    readonly log: Logger,
    readonly runner: Runner,
    readonly signal: AbortSignal,
  ) {
    this.env = { ...prepared.hookEnv };
    this.secrets = [...prepared.secrets];
    this.environmentFiles = prepared.plan.environmentFiles.map((f) => f.name);
  }

  get config(): BuildConfig {
    return this.prepared.config;
  }
  get plan(): BuildPlan {
    return this.prepared.plan;
  }
  get layout(): Layout {
    return this.prepared.layout;
  }

  /** Start owning resources: from here on every acquisition is recorded in `ledger` first. */
  own(ledger: Ledger): void {
    this.owned = new Resources(ledger, this.stack);
  }

  /** The build's resources (root scope); only after the work directory and its ledger exist. */
  get resources(): Resources {
    if (!this.owned) throw new Error('resources used before the work directory and its ledger exist');
    return this.owned;
  }

  /** $TMP_BUILD_DIR/hooks: the merged element tree. */
  get hooksDir(): string {
    return join(this.workDir, 'hooks');
  }
  /** $TMP_BUILD_DIR/mnt: the image root during the build, later the mount base of the disk. */
  get mountDir(): string {
    return join(this.workDir, 'mnt');
  }
  /** $TMP_BUILD_DIR/built: the finished tree while the disk is made. */
  get builtDir(): string {
    return join(this.workDir, 'built');
  }
  /** $TMP_IMAGE_DIR: where the raw disk file lives. */
  get imageDir(): string {
    return join(this.workDir, 'image');
  }
  /** Output stem as an absolute path. */
  get outputStem(): string {
    return this.config.imageName;
  }

  throwIfAborted(): void {
    this.signal.throwIfAborted();
  }
}
