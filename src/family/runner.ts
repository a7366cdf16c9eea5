// Build a family: each image an isolated disk-image-create (its own process, environment, log, lock and
// work directory), up to `jobs` at once, on the shared caches (the phase cache computes a shared step once).
import { mkdtempSync, readFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { safeRemoveTree } from '../core/fs.js';
import { errorMessage } from '../core/cleanup-stack.js';
import { imageRecord } from '../build/artifact-record.js';
import type { Runner } from '../core/exec.js';
import type { LogEvent } from '../core/log.js';
import type { ImageRecord, ImageStatus } from '../output/artifacts.js';
import type { FamilyImage } from './plan.js';
import { shownEnvironment } from './plan.js';

export type ImageState = 'waiting' | 'running' | ImageStatus;

/** What the live view and the summary show of one image, updated from its event stream. */
export interface ImageProgress {
  image: FamilyImage;
  state: ImageState;
  phase: string;
  step: string;
  started?: number;
  seconds: number;
  hits: number;
  misses: number;
  error?: string;
  failedHook?: string;
  record?: ImageRecord;
}

export interface RunFamilyOptions {
  jobs: number;
  stopOnFailure: boolean;
  signal: AbortSignal;
  /** Called whenever an image's progress changes (the view redraws). */
  onChange: (progress: ImageProgress, what: string) => void;
}

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'disk-image-create');

export function newProgress(images: FamilyImage[]): ImageProgress[] {
  return images.map((image) => ({ image, state: 'waiting', phase: '', step: '', seconds: 0, hits: 0, misses: 0 }));
}

/** Run every image of `progress` (from newProgress), updating it as they go; returns when all ended. */
export async function runFamily(runner: Runner, progress: ImageProgress[], options: RunFamilyOptions): Promise<void> {
  // Each child writes its manifest record here (mkdtemp: a fresh 0700 directory, not a guessable name in /tmp).
  const records = mkdtempSync(join(tmpdir(), 'dib-family-'));
  const running = new Set<{ terminate(signal?: NodeJS.Signals): void }>();
  let stopping = false;
  const stopAll = () => {
    stopping = true;
    for (const child of running) child.terminate('SIGTERM');
  };
  options.signal.addEventListener('abort', stopAll, { once: true });
  try {
    let next = 0;
    const worker = async () => {
      while (!stopping && !options.signal.aborted && next < progress.length) {
        const p = progress[next++];
        try {
          if (p.image.skip) {
            await recordSkipped(p);
            options.onChange(p, 'skipped');
            continue;
          }
          const child = startImage(runner, p, join(records, `${next}.json`), options.onChange);
          running.add(child);
          await child.done;
          running.delete(child);
        } catch (error) {
          // One image's trouble (its outputs unreadable, say) is that image's failure; the others go on.
          p.state = 'failed';
          p.error = errorMessage(error);
          options.onChange(p, 'failed');
        }
        if (p.state === 'failed' && options.stopOnFailure) stopAll();
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, progress.length)) }, worker));
  } finally {
    options.signal.removeEventListener('abort', stopAll);
    safeRemoveTree(records);
  }
  for (const p of progress) if (p.state === 'waiting') p.state = 'not-started';
  for (const p of progress) p.record ??= await baseRecord(p, false);
}

function startImage(runner: Runner, p: ImageProgress, recordPath: string, onChange: RunFamilyOptions['onChange']) {
  p.state = 'running';
  p.started = Date.now();
  onChange(p, 'started');
  const stderr: string[] = [];
  // Our flags go before the `--` that ends the image's options (its elements follow it).
  const end = p.image.argv.indexOf('--');
  const argv = [...p.image.argv.slice(0, end), '--events', '/dev/fd/3', '--manifest', recordPath, ...p.image.argv.slice(end)];
  const child = runner.supervise([process.execPath, CLI, ...argv], {
    env: p.image.env,
    onLine: (stream, line) => {
      if (stream === 'fd3') followEvent(p, line, onChange);
      else stderr.push(line);
    },
  });
  const done = child.done.then(async ({ status, signal }) => {
    p.seconds = (Date.now() - p.started!) / 1000;
    const record = readRecord(recordPath);
    p.state = status === 0 ? (record?.status === 'reused' ? 'reused' : 'built') : status === 130 || signal ? 'interrupted' : 'failed';
    if (status !== 0) {
      const errorAt = stderr.findIndex((l) => l.startsWith('error: '));
      // The error line and its details (several problems are listed below it), up to the hint.
      const hintAt = stderr.findIndex((l, i) => i > errorAt && l.startsWith('hint: '));
      p.error =
        errorAt >= 0
          ? stderr
              .slice(errorAt, hintAt < 0 ? undefined : hintAt)
              .map((l) => l.trim())
              .join(' ')
              .slice('error: '.length)
          : (stderr.at(-1) ?? `exit ${status ?? signal}`);
      // The child's own log ends before its error is printed: add it, so NAME.log alone tells the story.
      if (errorAt >= 0) appendLog(p.image.logPath, stderr.slice(errorAt));
    }
    p.record = { ...(record ?? (await baseRecord(p, false))), ...familyFields(p) };
    onChange(p, p.state);
  });
  return { terminate: (signal?: NodeJS.Signals) => child.terminate(signal), done };
}

/** The child's events move its line in the view: phase, step, cache decisions, the hook that failed. */
function followEvent(p: ImageProgress, line: string, onChange: RunFamilyOptions['onChange']): void {
  let event: LogEvent;
  try {
    event = JSON.parse(line) as LogEvent;
  } catch {
    return; // not an event line: the child's own business
  }
  switch (event.type) {
    case 'phase-start':
      p.phase = event.phase;
      p.step = '';
      onChange(p, `phase ${event.phase}`);
      return;
    case 'hook-start':
      p.step = `${event.element}/${event.hook}`;
      onChange(p, '');
      return;
    case 'hook-end':
      if (event.status !== 0) p.failedHook = `${event.phase}.d/${event.hook} (${event.element}), exit ${event.status}`;
      return;
    case 'step-start':
      p.step = event.step;
      onChange(p, '');
      return;
    case 'cache':
      if (event.decision === 'hit') p.hits++;
      else if (event.decision === 'miss') p.misses++;
      onChange(p, '');
      return;
  }
}

/** TripleO's rule: the outputs are there, so the image is not built; they are still described in the manifest. */
async function recordSkipped(p: ImageProgress): Promise<void> {
  p.state = 'skipped';
  p.record = await baseRecord(p, true);
}

async function baseRecord(p: ImageProgress, withFiles: boolean): Promise<ImageRecord> {
  return { ...(await imageRecord(p.image.prepared, p.image.spec.name, withFiles)), ...familyFields(p) };
}

/** What the family knows better than the child: the state, time, log, and the image's own settings. */
function familyFields(p: ImageProgress): Partial<ImageRecord> & Pick<ImageRecord, 'status' | 'seconds' | 'settings' | 'log'> {
  const { image } = p;
  const status: ImageStatus = p.state === 'waiting' || p.state === 'running' ? 'not-started' : p.state;
  return {
    name: image.spec.name,
    status,
    seconds: Math.round(p.seconds * 10) / 10,
    settings: {
      format: image.spec.format,
      arch: image.config.arch,
      types: [...image.config.imageTypes],
      flags: image.argv.slice(0, image.argv.indexOf('--')),
      environment: shownEnvironment(image),
    },
    log: p.state === 'skipped' || status === 'not-started' ? null : image.logPath,
    cache: p.hits + p.misses ? { hits: p.hits, misses: p.misses } : undefined,
    ...(p.error ? { error: p.error } : {}),
    ...(p.failedHook ? { failedHook: p.failedHook } : {}),
  };
}

function readRecord(path: string): ImageRecord | undefined {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { images: ImageRecord[] }).images[0];
  } catch {
    return undefined;
  }
}

function appendLog(path: string, lines: string[]): void {
  try {
    appendFileSync(path, lines.map((l) => `${new Date().toISOString().replace('T', ' ').replace('Z', '')} | ${l}\n`).join(''));
  } catch {
    // the log's directory went away: the summary still shows the error
  }
}
