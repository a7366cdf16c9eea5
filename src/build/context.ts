// The BuildContext: config, plan, logger, runner, the root cleanup stack and the derived paths.
import { join } from 'node:path';
import type { BuildConfig } from '../config/settings.js';
import { CleanupStack } from '../core/cleanup-stack.js';
import type { Runner } from '../core/exec.js';
import type { Logger } from '../core/log.js';
import type { BuildPlan } from '../elements/plan.js';
import type { Layout } from '../disk/layout.js';

export interface HookTiming {
  phase: string;
  element: string;
  hook: string;
  seconds: number;
}

export class BuildContext {
  readonly stack = new CleanupStack();
  readonly hookTimings: HookTiming[] = [];
  /** Variables exported to hooks; the pipeline adds to it as the build proceeds (§8.1). */
  readonly env: Record<string, string> = {};
  /** Secret values: redacted from logs, and the finished image is scanned for them. */
  secrets: string[] = [];
  workDir = '';

  constructor(
    readonly config: BuildConfig,
    readonly plan: BuildPlan,
    readonly layout: Layout,
    readonly log: Logger,
    readonly runner: Runner,
    readonly signal: AbortSignal,
  ) {}

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
    return this.config.imageName as string;
  }

  throwIfAborted(): void {
    this.signal.throwIfAborted();
  }
}
