// A family's images made into disk-image-create builds and checked, all before any of them starts: each
// image's command line goes through the same parser and the same preparation a single build uses.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseDiskImageCreateArgs } from '../cli/disk-image-create.js';
import type { BuildConfig } from '../config/settings.js';
import { DibError, UsageError, ValidationErrors, asDibError } from '../core/errors.js';
import { shellQuote } from '../core/text.js';
import { type PreparedBuild, prepareBuild } from '../build/prepare.js';
import type { ImageSpec } from './image-files.js';

export interface FamilyImage {
  spec: ImageSpec;
  /** disk-image-create's arguments: the image's flags, -o, --logfile, then its elements. */
  argv: string[];
  /** The image's whole environment: the caller's, plus its own `environment` (nothing from other images). */
  env: Record<string, string>;
  config: BuildConfig;
  prepared: PreparedBuild;
  /** NAME.log beside the outputs (or the image's own `logfile`). */
  logPath: string;
  /** Outputs found in place: the image is skipped (TripleO's rule) unless --no-skip. */
  skip: boolean;
}

export interface FamilyOptions {
  outputDirectory: string;
  /** What reading the files found (reported with the images' own problems, at once). */
  fileProblem?: UsageError;
  imageNames: string[];
  noSkip: boolean;
  env: NodeJS.ProcessEnv;
}

/** Turn every selected image into a checked build; every problem of every image is reported at once (exit 2). */
export async function planFamily(specs: ImageSpec[], options: FamilyOptions): Promise<FamilyImage[]> {
  const problems: UsageError[] = options.fileProblem ? [options.fileProblem] : [];
  const known = new Set(specs.map((s) => s.name));
  // (An image whose entries had problems is not known: no second complaint about its name.)
  for (const wanted of options.imageNames)
    if (!known.has(wanted) && !options.fileProblem)
      problems.push(
        new UsageError('unknown-image', `--image-name ${wanted}: no such image in the files`, {
          hint: `the images are: ${[...known].join(', ')}`,
        }),
      );
  const selected = options.imageNames.length ? specs.filter((s) => options.imageNames.includes(s.name)) : specs;
  const images: FamilyImage[] = [];
  for (const spec of selected) {
    const stem = resolve(options.outputDirectory, spec.outputName);
    // `--`: an element is never taken for a flag, whatever its name.
    let argv = [...spec.flags, '-o', stem, '--', ...spec.elements];
    const env = { ...stringEnv(options.env), ...spec.env };
    try {
      const config = await parseDiskImageCreateArgs(argv, env);
      if (config === 'help' || config === 'version') throw new UsageError('usage', `--help/--version in the options of an image`);
      // Flags that make disk-image-create do something other than build this image (or that the family sets).
      const foreign = [
        config.cleanupStale && '--cleanup-stale',
        config.cachePrune && '--cache-prune',
        config.eventsFile && '--events',
        config.manifest && '--manifest',
        config.verify && '--verify',
      ].filter(Boolean);
      if (foreign.length)
        throw new UsageError('usage', `${foreign.join(', ')} in the options of an image`, {
          hint: 'diskimage-builder builds each image and writes the events and the manifest itself: remove them from the image file',
        });
      const logPath = config.logfile || `${stem}.log`;
      if (!config.logfile) argv = [...spec.flags, '--logfile', logPath, '-o', stem, '--', ...spec.elements];
      const prepared = prepareBuild(config, { argv, env });
      const skip =
        !options.noSkip && spec.expectedFiles.length > 0 && spec.expectedFiles.every((f) => existsSync(join(options.outputDirectory, f)));
      images.push({ spec, argv, env, config, prepared, logPath, skip });
    } catch (error) {
      problems.push(...asProblems(error, spec));
    }
  }
  // Two images writing the same file would overwrite each other's outputs (or logs) mid-build.
  const writers = new Map<string, string>();
  for (const image of images)
    for (const path of [...image.prepared.outputs.map((o) => o.path), image.logPath]) {
      const other = writers.get(path);
      if (other && other !== image.spec.name)
        problems.push(
          new UsageError('output-conflict', `images ${other} and ${image.spec.name} both write ${path}`, {
            hint: 'give one of them another imagename (or logfile)',
          }),
        );
      writers.set(path, image.spec.name);
    }
  if (problems.length) throw new ValidationErrors(problems);
  return images;
}

/** One line per image for --dry-run: its command line, then what its plan holds. */
export function describeFamilyImage(image: FamilyImage): string {
  const { plan, outputs } = image.prepared;
  const envText = Object.entries(shownEnvironment(image))
    .map(([k, v]) => `${k}=${shellQuote(v)} `)
    .join('');
  const hooks = plan.phases.filter((p) => p.hooks.length).map((p) => `${p.phase.dir} ${p.hooks.length}`);
  return [
    `${image.spec.name}${image.skip ? ' (skipped: its outputs exist; --no-skip builds it)' : ''}:`,
    `  ${envText}disk-image-create ${image.argv.map((a) => shellQuote(a)).join(' ')}`,
    `  elements (${plan.elements.length}): ${plan.elements.map((e) => e.name).join(' ')}`,
    `  hooks: ${hooks.join(', ')}`,
    `  outputs: ${outputs.map((o) => `${o.path} (${o.type.name})`).join(', ')}; log: ${image.logPath}`,
  ].join('\n');
}

/** The image's own environment as it may be shown: secret variables (by name, or by value) as `***`. */
export function shownEnvironment(image: FamilyImage): Record<string, string> {
  return image.prepared.secretPolicy.redacted(image.spec.env, image.prepared.secrets);
}

function asProblems(error: unknown, spec: ImageSpec): UsageError[] {
  const e = asDibError(error);
  const where = `image ${spec.name} (${spec.origin})`;
  const inner: unknown[] = e instanceof ValidationErrors ? e.problems : [e];
  return inner.map(
    (p) =>
      new UsageError(p instanceof UsageError ? p.kind : 'invalid-image', `${where}: ${p instanceof Error ? p.message : String(p)}`, {
        hint: p instanceof DibError ? p.hint : undefined,
        details: p instanceof DibError ? p.details : [],
      }),
  );
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
