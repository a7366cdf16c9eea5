// A step's key: the sha256 of its manifest, a flat map from named input to the digest of its value.
// The manifest is stored with the step, so a miss can name the input that changed (`--explain-cache`).
// Pure: no I/O here (the caller reads the files and hands over their digests).
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { ENGINE_VARIABLES } from '../build/dib-contract.js';
import { SETTINGS } from '../config/settings.js';

export type Manifest = Record<string, string>;

/** Bump when the meaning of a stored step changes (layout of entries, what a layer holds). */
export const CACHE_FORMAT = '1';

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The key of a manifest: independent of insertion order. */
export function manifestKey(manifest: Manifest): string {
  const sorted = Object.keys(manifest)
    .sort()
    .map((k) => [k, manifest[k]]);
  return sha256(JSON.stringify([CACHE_FORMAT, sorted]));
}

/**
 * Variables that differ between two builds of the same inputs (the build's own directories, the command
 * line as typed, presentation) and never decide what a hook produces. Everything else a hook can rely on
 * (every DIB_* variable, the engine's exported settings, the element list) is keyed.
 */
export const VOLATILE_VARIABLES: ReadonlySet<string> = new Set([
  'TMP_BUILD_DIR',
  'TMP_IMAGE_DIR',
  'TMP_HOOKS_PATH',
  'TMP_MOUNT_PATH',
  'TARGET_ROOT',
  'ELEMENTS_PATH',
  'OUT_IMAGE_PATH',
  'IMAGE_ELEMENT_YAML',
  'DIB_BLOCK_DEVICE_PARAMS_YAML',
  'DIB_IMAGE_CACHE',
  'DIB_LOCKFILES',
  'DIB_APT_ARCHIVES',
  'DIB_ARGS',
  'DIB_ENV',
  'DIB_DEBUG_TRACE',
  'DIB_QUIET',
  'LOGFILE',
  '_LIB',
  // Where the output goes, not what the tree holds: builds of one image under two names share steps. A
  // hook that writes the name into the tree declares `env IMAGE_NAME` in cache-inputs (keyed by basename).
  'IMAGE_NAME',
]);

const ENGINE_NAMES: ReadonlySet<string> = new Set([
  ...ENGINE_VARIABLES.map((v) => v.name),
  ...SETTINGS.flatMap((s) => (s.exported && s.env ? [s.env] : [])),
  'IMAGE_ELEMENT',
  'IMAGE_TYPE',
  'COMPRESS_IMAGE',
]);

/**
 * The engine's own settings that hooks are not given (DIB_CACHE, DIB_EXPLAIN_CACHE, DIB_STRICT, ...): they
 * pass through the caller's environment but decide nothing in the tree; DIB_OFFLINE only says whether
 * caches are refreshed. The test suite's DIB_TS_* hooks are volatile too.
 */
const ENGINE_ONLY: ReadonlySet<string> = new Set([...SETTINGS.flatMap((s) => (!s.exported && s.env ? [s.env] : [])), 'DIB_OFFLINE']);

/** Whether a hook-visible variable is part of a step's key (see VOLATILE_VARIABLES). */
export function isKeyedVariable(name: string): boolean {
  if (VOLATILE_VARIABLES.has(name) || ENGINE_ONLY.has(name) || name.startsWith('DIB_TS_')) return false;
  return name.startsWith('DIB_') || ENGINE_NAMES.has(name);
}

/**
 * Manifest entries for the hook-visible environment: `env NAME` → digest of the value (values are never
 * stored: some are secrets); `extra` are names elements declared. A declared IMAGE_NAME counts by its
 * last component (the output directory stays volatile).
 */
export function environmentEntries(env: Record<string, string | undefined>, extra: readonly string[] = []): Manifest {
  const out: Manifest = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || !(isKeyedVariable(name) || extra.includes(name))) continue;
    out[`env ${name}`] = sha256(name === 'IMAGE_NAME' ? basename(value) : value);
  }
  for (const name of extra) if (!(`env ${name}` in out)) out[`env ${name}`] = 'unset';
  return out;
}

/**
 * Why a step missed: the inputs whose digests differ between the stored manifest of the same step (same
 * previous step) and the new one, as `install.d/60-my-app: content changed` lines. Sorted, deterministic.
 */
export function explainDifference(previous: Manifest, now: Manifest): string[] {
  const reasons: string[] = [];
  for (const name of [...new Set([...Object.keys(previous), ...Object.keys(now)])].sort()) {
    if (name === 'step') continue;
    const [was, is] = [previous[name], now[name]];
    if (was === is) continue;
    const label = describe(name);
    if (was === undefined) reasons.push(`${label}: added`);
    else if (is === undefined) reasons.push(`${label}: removed`);
    else reasons.push(`${label}: ${changeWord(name)}`);
  }
  return reasons;
}

function describe(name: string): string {
  if (name.startsWith('hook ')) return name.slice(5);
  if (name.startsWith('data ')) return `element file ${name.slice(5)}`;
  if (name.startsWith('envfile ')) return `environment.d/${name.slice(8)}`;
  if (name.startsWith('env ')) return `variable ${name.slice(4)}`;
  if (name.startsWith('sourced env ')) return `variable ${name.slice(12)} (after environment.d)`;
  if (name.startsWith('world ')) return `mirror ${name.slice(6)}`;
  if (name.startsWith('input ')) return `declared input ${name.slice(6)}`;
  return name;
}

function changeWord(name: string): string {
  if (name.startsWith('env ') || name.startsWith('sourced env ')) return 'value changed';
  if (name.startsWith('world ')) return 'package index changed';
  if (name === 'parent') return 'the previous step changed';
  return 'content changed';
}
