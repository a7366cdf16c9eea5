// `diskimage-builder FILE...`: a family of images from DIB's or TripleO's YAML files, checked together,
// built in parallel on the shared caches, with a live view, a summary and an artifact manifest.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { assertWritableDirectory } from '../core/fs.js';
import yargs from 'yargs';
import { errorMessage } from '../core/cleanup-stack.js';
import { BuildError, InterruptedError, UsageError } from '../core/errors.js';
import { Runner, baseEnvironment } from '../core/exec.js';
import type { Logger } from '../core/log.js';
import { installSignalHandlers } from '../core/signals.js';
import { writeArtifactManifest } from '../output/artifacts.js';
import { readImageFiles } from '../family/image-files.js';
import { describeFamilyImage, planFamily } from '../family/plan.js';
import { type ImageProgress, newProgress, runFamily } from '../family/runner.js';
import { OUTPUT_TYPES } from '../output/types.js';
import { type AuthConfig, loadAuthConfig } from '../upload/auth-config.js';
import { checkCredentials, uploadFiles } from '../upload/run-upload.js';
import { type FamilyView, LiveView, PlainView, chooseJobs, renderSummary } from '../family/view.js';
import { VERSION } from './disk-image-create.js';

export async function runDiskimageBuilder(argv: string[], log: Logger): Promise<number> {
  const args = await yargs(argv)
    .scriptName('diskimage-builder')
    .usage(
      "$0 [options] FILE...\n\nBuild every image of FILE... (DIB's image YAML: a list of image maps; or TripleO's: a map with disk_images:), several at once.",
    )
    .option('jobs', { alias: 'j', type: 'number', describe: 'images built at once (default: from cores and free memory; printed)' })
    .option('stop-on-failure', {
      type: 'boolean',
      default: false,
      describe: 'stop every build at the first failure (default: carry on, exit 1 at the end)',
    })
    .option('dry-run', {
      type: 'boolean',
      default: false,
      describe: "print each image's disk-image-create command line and plan summary; build nothing",
    })
    .option('image-name', { type: 'string', array: true, default: [] as string[], describe: 'build only this image (repeatable)' })
    .option('output-directory', { type: 'string', default: '.', describe: 'where images (NAME.TYPE) and their logs (NAME.log) go' })
    .option('skip', {
      type: 'boolean',
      default: true,
      describe: "skip an image whose output files all exist (TripleO's rule, both formats); --no-skip builds it anyway",
    })
    .option('manifest', { type: 'string', describe: 'write the JSON artifact manifest of the family to FILE' })
    .option('upload', { type: 'boolean', default: false, describe: 'upload every built image Glance takes, as image-upload does' })
    .option('os-cloud', { type: 'string', describe: 'with --upload: the cloud in clouds.yaml (default OS_CLOUD)' })
    .parserConfiguration({ 'camel-case-expansion': false })
    .strictOptions()
    .version(VERSION)
    .help()
    .fail((msg, err) => {
      throw err ?? new UsageError('usage', msg, { hint: 'see diskimage-builder --help' });
    })
    .parseAsync();
  const files = args._.map(String);
  if (!files.length)
    throw new UsageError('usage', 'at least one image file is required', { hint: 'e.g. diskimage-builder examples/family-dib.yaml' });
  if (args.jobs !== undefined && (!Number.isInteger(args.jobs) || args.jobs < 1))
    throw new UsageError('usage', `--jobs must be a whole number of builds, at least 1; got '${args.jobs}'`, { hint: 'e.g. -j 2' });

  // Everything decided before anything is built: every file read, every image checked (exit 2 on any problem).
  const loaded = readImageFiles(files);
  loaded.warnings.forEach((w) => log.warn(w));
  const outputDirectory = resolve(args['output-directory']);
  const manifest = args.manifest ? resolve(args.manifest) : undefined;
  const images = await planFamily(loaded.images, {
    outputDirectory,
    fileProblem: loaded.problem,
    imageNames: args['image-name'],
    noSkip: !args.skip,
    env: process.env,
  });
  if (args['dry-run']) {
    process.stdout.write(images.map((i) => describeFamilyImage(i)).join('\n\n') + '\n');
    return 0;
  }
  if (process.getuid?.() !== 0)
    throw new UsageError('not-root', 'diskimage-builder must run as root (each image is a disk-image-create build)', {
      hint: 'run it with sudo',
    });
  if (manifest) assertWritableDirectory(manifest, '--manifest');
  // --upload: credentials checked before anything is built.
  const uploadAuth = args.upload ? loadAuthConfig({ cloud: args['os-cloud'] }) : undefined;
  if (uploadAuth) await checkCredentials(uploadAuth, log);
  try {
    mkdirSync(outputDirectory, { recursive: true });
  } catch (error) {
    throw new UsageError('invalid-output', `cannot make the output directory ${outputDirectory}: ${errorMessage(error)}`, {
      hint: 'give --output-directory a directory that exists or can be made',
    });
  }

  const chosen = chooseJobs(images.filter((i) => !i.skip).length);
  const jobs = args.jobs ?? chosen.jobs;
  log.info(args.jobs ? `jobs: ${jobs} (-j)` : `jobs: ${jobs} (${chosen.why})`);
  const guard = installSignalHandlers(log);
  const runner = new Runner(log, guard.signal, baseEnvironment());
  const write = (text: string) => process.stderr.write(text);
  const progress = newProgress(images);
  const view: FamilyView = process.stderr.isTTY ? new LiveView(progress, write) : new PlainView(write);
  // Our own lines (a warning, "interrupted, cleaning up") go above the view, not through it.
  log.console?.redirect((line) => view.print(line));
  try {
    await runFamily(runner, progress, {
      jobs,
      stopOnFailure: args['stop-on-failure'],
      signal: guard.signal,
      onChange: (p, what) => view.update(p, what),
    });
  } finally {
    view.close();
    log.console?.redirect(undefined);
    guard.dispose();
  }
  write(renderSummary(progress));
  if (manifest) {
    try {
      writeArtifactManifest(manifest, { images: progress.map((p) => p.record!) });
      log.info(`manifest: ${manifest}`);
    } catch (error) {
      if (guard.received) log.warn(`cannot write the manifest ${manifest}: ${errorMessage(error)}`);
      else
        throw new BuildError(`cannot write the manifest ${manifest}: ${errorMessage(error)}`, {
          hint: 'the images are built; their outputs are in place',
        });
    }
  }
  if (guard.received) throw new InterruptedError(guard.received);
  if (uploadAuth) await uploadFamily(progress, uploadAuth, log);
  const failed = progress.filter((p) => p.state === 'failed' || p.state === 'interrupted' || p.state === 'not-started');
  if (failed.length) {
    log.warn(
      `${failed.length} of ${progress.length} images not built: ${failed.map((p) => `${p.image.spec.name} (${p.state})`).join(', ')}`,
    );
    return 1;
  }
  return 0;
}

/** --upload: each built (or skipped, already built) image's files that Glance takes, named after their file. */
async function uploadFamily(progress: ImageProgress[], auth: AuthConfig, log: Logger): Promise<void> {
  const files = progress
    .filter((p) => p.state === 'built' || p.state === 'reused' || p.state === 'skipped')
    .flatMap((p) => (p.record?.files ?? []).filter((f) => OUTPUT_TYPES.find((t) => t.name === f.format)?.glance).map((f) => f.path));
  if (!files.length) return;
  await uploadFiles(
    files,
    { visibility: 'private', tags: [], properties: {}, useImport: false, replace: true, waitSeconds: 600 },
    log,
    auth,
  );
}
