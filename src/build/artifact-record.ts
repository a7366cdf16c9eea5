// `disk-image-create --manifest FILE`: the one image this build made (or failed to make), as an artifact
// manifest record; diskimage-builder merges its children's records into the family's manifest.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { errorMessage } from '../core/cleanup-stack.js';
import type { Logger } from '../core/log.js';
import { type ImageRecord, type ImageStatus, describeFiles, writeArtifactManifest } from '../output/artifacts.js';
import type { PreparedBuild } from './prepare.js';
import type { BuildContext } from './context.js';

export interface CacheDecisions {
  hits: number;
  misses: number;
  /** Whole-image reuse: the stored outputs were copied into place. */
  outputsReused: boolean;
}

/** Count the phase cache's decisions as the build emits them. */
export function watchCacheDecisions(log: Logger): CacheDecisions {
  const decisions: CacheDecisions = { hits: 0, misses: 0, outputsReused: false };
  log.addSink({
    write(event) {
      if (event.type !== 'cache' || event.decision === 'uncacheable') return;
      if (event.decision === 'hit') decisions.hits++;
      else decisions.misses++;
      if (event.step === 'outputs' && event.decision === 'hit') decisions.outputsReused = true;
    },
  });
  return decisions;
}

/**
 * What any record of an image made from `prepared` holds: its name, its elements, and (with `withFiles`)
 * each output in place with its size and hashes. The caller adds status, time, settings and log.
 */
export async function imageRecord(
  prepared: PreparedBuild,
  name: string,
  withFiles: boolean,
): Promise<
  Pick<ImageRecord, 'name' | 'elements' | 'expandedElements' | 'files'> & {
    status: ImageStatus;
    seconds: number;
    settings: Record<string, unknown>;
    log: string | null;
  }
> {
  return {
    name,
    status: 'not-started',
    seconds: 0,
    elements: [...prepared.requested],
    expandedElements: prepared.plan.elements.map((e) => e.name),
    settings: {},
    log: null,
    files: withFiles
      ? await describeFiles(prepared.outputs.filter((o) => existsSync(o.path)).map((o) => ({ path: o.path, format: o.type.name })))
      : [],
  };
}

/** Write the manifest for this build; returns the error that writing it raised, if any. */
export async function recordBuiltImage(
  ctx: BuildContext,
  run: { decisions: CacheDecisions; started: number; primary: unknown; interrupted: boolean },
): Promise<unknown> {
  const { config, prepared } = ctx;
  const failed = run.primary !== undefined;
  try {
    const record: ImageRecord = {
      ...(await imageRecord(prepared, basename(config.imageName), !failed)),
      status: run.interrupted ? 'interrupted' : failed ? 'failed' : run.decisions.outputsReused ? 'reused' : 'built',
      seconds: Math.round((Date.now() - run.started) / 100) / 10,
      settings: {
        arch: config.arch,
        types: [...config.imageTypes],
        packages: [...config.packages],
        imageSize: config.imageSize || null,
        installType: config.installType,
        environment: prepared.secretPolicy.redacted(
          Object.fromEntries(
            Object.entries(process.env)
              .filter((e): e is [string, string] => e[0].startsWith('DIB_') && !e[0].startsWith('DIB_TS_') && e[1] !== undefined)
              .sort(([a], [b]) => a.localeCompare(b)),
          ),
          ctx.secrets,
        ),
      },
      log: config.logfile || null,
      cache: config.cache ? { hits: run.decisions.hits, misses: run.decisions.misses } : undefined,
      error: failed ? errorMessage(run.primary) : undefined,
    };
    // Secret values (passwords in DIB_* variables) are redacted as in every other sink.
    writeArtifactManifest(config.manifest, { images: [JSON.parse(ctx.log.redactor.apply(JSON.stringify(record))) as ImageRecord] });
    return undefined;
  } catch (error) {
    return error;
  }
}
