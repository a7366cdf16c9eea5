// The step store under $DIB_IMAGE_CACHE/steps: one directory per step key holding the step's layer (the
// overlay upper directory it produced: changed files, whiteouts for removed ones) and meta.json (key,
// manifest, layer digest). Entries appear by one rename, so a reader never sees a partial step and a
// kill during a store leaves only a `.tmp-*` directory that a later build removes. A lock per key makes
// two builds that miss the same step compute it once.
import {
  type Stats,
  appendFileSync,
  copyFileSync,
  createReadStream,
  linkSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import fg from 'fast-glob';
import { BuildError } from '../core/errors.js';
import { processStartTime } from '../core/ledger.js';
import type { Logger } from '../core/log.js';
import { sleep } from '../core/retry.js';
import { CACHE_FORMAT, type Manifest, sha256 } from './manifest.js';

/** Copy a tree keeping owners, modes, xattrs, links, device nodes and times (cp -a). */
export type CopyTree = (from: string, to: string) => Promise<void>;

/**
 * Fault injection for the test suite: DIB_TS_FAULT_STORE=SIGNAL@STEP sends this process SIGNAL in the
 * middle of storing STEP (its layer staged, the entry not yet in place), as a kill would.
 */
async function storeFault(step: string): Promise<void> {
  const [signal, at] = (process.env.DIB_TS_FAULT_STORE ?? '').split('@');
  if (!signal || at !== step) return;
  process.kill(process.pid, signal);
  await sleep(200);
}

export interface StepEntry {
  key: string;
  step: string;
  /** The layer, relative to the store root (overlay lower directories are given relative to it). */
  layer: string;
  /** The layer changed nothing: it is not stacked. */
  empty: boolean;
  manifest: Manifest;
  bytes: number;
  /** The layer's digest (a child step's key includes it). */
  digest: string;
  /** A step outside the image may change $TMP_HOOKS_PATH: what to replay there (a tar, and paths to remove). */
  hooks?: { tar: string; removed: string[] };
}

/** The change a step made to the hooks tree, to store with it. */
export interface HooksDelta {
  tar: string;
  removed: string[];
}

interface Meta {
  format: string;
  key: string;
  step: string;
  manifest: Manifest;
  digest: string;
  empty: boolean;
  bytes: number;
  hooks?: { digest: string; removed: string[] };
  /** An image's outputs (whole-image reuse): file name in the entry → sha256. */
  files?: Record<string, string>;
}

/** Stored outputs of a whole image: output type name → stored file, and the manifests directory as a tar. */
export interface OutputsEntry {
  key: string;
  files: Map<string, string>;
  manifestsTar?: string;
}

const META = 'meta.json';
const HOOKS_TAR = 'hooks.tar';
const MANIFESTS_TAR = 'manifests.tar';
const USED = 'used';
const MAX_META_BYTES = 4 * 1024 * 1024;

/**
 * An entry's directory name: the first 16 hex digits of its key (short, so deep overlay stacks fit a
 * mount's option page). meta.json holds the whole key: two keys sharing a prefix never mix (the second
 * is simply not stored).
 */
export function entryId(key: string): string {
  return key.slice(0, 16);
}

export class StepStore {
  private constructor(
    readonly root: string,
    private readonly log: Logger,
  ) {}

  /**
   * Open (create) the store, or undefined with a warning when it cannot be used safely: on a read-only
   * filesystem, or owned or writable by someone else (its layers become the image).
   */
  static open(imageCache: string, log: Logger): StepStore | undefined {
    const root = join(imageCache, 'steps');
    try {
      mkdirSync(root, { recursive: true, mode: 0o700 });
      const st = lstatSync(root);
      const problem = untrustedDir(st);
      if (problem) {
        log.warn(`phase cache: not using ${root}: ${problem}; building without the cache`);
        return undefined;
      }
      const probe = join(root, `.probe-${process.pid}`);
      writeFileSync(probe, '');
      rmSync(probe);
      for (const sub of ['.locks', '.index']) mkdirSync(join(root, sub), { recursive: true, mode: 0o700 });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      log.warn(`phase cache: ${root} is not writable (${code}); building without the cache`);
      return undefined;
    }
    const store = new StepStore(root, log);
    store.removeAbandoned();
    return store;
  }

  /** The stored step `key`, verified against its digest; a corrupt entry is removed with a warning. */
  lookup(key: string): StepEntry | undefined {
    const dir = join(this.root, entryId(key));
    const meta = readMeta(dir);
    if (!meta || meta.key !== key || meta.format !== CACHE_FORMAT) return undefined;
    const digest = layerDigest(join(dir, 'layer'));
    const hooksOk = !meta.hooks || fileSha(join(dir, HOOKS_TAR)) === meta.hooks.digest;
    if (digest !== meta.digest || !hooksOk) {
      this.log.warn(`phase cache: the stored step ${meta.step} (${entryId(key)}) does not match its digest; removed, building it again`);
      this.discard(dir);
      return undefined;
    }
    touch(join(dir, USED));
    return {
      key,
      step: meta.step,
      layer: `${entryId(key)}/layer`,
      empty: meta.empty,
      manifest: meta.manifest,
      bytes: meta.bytes,
      digest: meta.digest,
      hooks: meta.hooks ? { tar: join(dir, HOOKS_TAR), removed: meta.hooks.removed } : undefined,
    };
  }

  /** The stored outputs `key`, each file checked against its digest (a corrupt entry is removed with a warning). */
  async lookupOutputs(key: string): Promise<OutputsEntry | undefined> {
    const dir = join(this.root, entryId(key));
    const meta = readMeta(dir);
    if (!meta?.files || meta.key !== key || meta.format !== CACHE_FORMAT) return undefined;
    // Names inside the entry only: an output type's name or the manifests tar.
    if (Object.keys(meta.files).some((n) => n !== MANIFESTS_TAR && !/^[a-z0-9]+$/.test(n))) return undefined;
    for (const [name, digest] of Object.entries(meta.files)) {
      if ((await streamSha(join(dir, name))) !== digest) {
        this.log.warn(
          `phase cache: the stored outputs ${entryId(key)} do not match their digest (${name}); removed, building the image again`,
        );
        this.discard(dir);
        return undefined;
      }
    }
    touch(join(dir, USED));
    const files = new Map(
      Object.keys(meta.files)
        .filter((n) => n !== MANIFESTS_TAR)
        .map((n) => [n, join(dir, n)] as [string, string]),
    );
    return { key, files, manifestsTar: meta.files[MANIFESTS_TAR] ? join(dir, MANIFESTS_TAR) : undefined };
  }

  /** Store an image's outputs (copied: the user's files stay theirs) under `key`; `files` maps type name → path. */
  async storeOutputs(
    key: string,
    manifest: Manifest,
    files: Map<string, string>,
    manifestsTar: string | undefined,
    copyFile: CopyTree,
  ): Promise<void> {
    const stage = this.stageDir();
    try {
      mkdirSync(stage, { mode: 0o700 });
      const digests: Record<string, string> = {};
      let bytes = 0;
      for (const [name, path] of files) {
        await copyFile(path, join(stage, name));
        digests[name] = await streamSha(join(stage, name));
        bytes += statSync(join(stage, name)).blocks * 512;
      }
      if (manifestsTar) {
        moveFile(manifestsTar, join(stage, MANIFESTS_TAR));
        digests[MANIFESTS_TAR] = await streamSha(join(stage, MANIFESTS_TAR));
      }
      const meta: Meta = { format: CACHE_FORMAT, key, step: 'outputs', manifest, digest: '', empty: true, bytes, files: digests };
      writeFileSync(join(stage, META), JSON.stringify(meta));
      writeFileSync(join(stage, USED), '');
      this.publish(stage, entryId(key));
      this.writeIndex(manifest.parent ?? '', 'outputs', key);
    } catch (error) {
      this.discard(stage);
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
        this.log.warn(`phase cache: the disk filled up while storing the outputs in the cache; they are not stored (${this.root})`);
        return;
      }
      throw error;
    }
  }

  /** The manifest stored for `step` after `parent` (the latest build of it), to explain a miss. */
  previous(parent: string, step: string): Manifest | undefined {
    try {
      const { key } = JSON.parse(readFileSync(join(this.root, '.index', indexName(parent, step)), 'utf8')) as { key: string };
      return readMeta(join(this.root, entryId(key)))?.manifest;
    } catch {
      return undefined;
    }
  }

  /**
   * Store `upper` (moved, not copied) as step `key`; returns the entry (another build's, if it stored the
   * same key first). A full disk fails the build with a clear message and leaves no partial entry.
   */
  async store(key: string, step: string, manifest: Manifest, upper: string, copyTree: CopyTree, hooks?: HooksDelta): Promise<StepEntry> {
    const id = entryId(key);
    const stage = this.stageDir();
    try {
      mkdirSync(stage, { mode: 0o700 });
      try {
        renameSync(upper, join(stage, 'layer'));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
        await copyTree(upper, join(stage, 'layer')); // the work directory is on another filesystem
        rmSync(upper, { recursive: true, force: true });
      }
      await storeFault(step);
      const { digest, bytes, entries } = layerSummary(join(stage, 'layer'));
      const meta: Meta = { format: CACHE_FORMAT, key, step, manifest, digest, empty: entries === 0, bytes };
      if (hooks) {
        moveFile(hooks.tar, join(stage, HOOKS_TAR));
        meta.hooks = { digest: fileSha(join(stage, HOOKS_TAR)) ?? '', removed: hooks.removed };
      }
      writeFileSync(join(stage, META), JSON.stringify(meta));
      writeFileSync(join(stage, USED), '');
      this.publish(stage, id);
      this.writeIndex(manifest.parent ?? '', step, key);
      const stored = this.lookup(key);
      if (!stored) throw new BuildError(`phase cache: step ${step} could not be read back after storing it`);
      return stored;
    } catch (error) {
      this.discard(stage);
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new BuildError(`the disk filled up while storing step ${step} in the phase cache (${this.root})`, {
          hint: 'free space, prune the cache (disk-image-create --cache-prune --cache-max-size GiB) or build with --no-cache',
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * Hold the lock of `key` (single flight): a second build that misses the same step waits here and
   * then finds it stored. A lock whose owner died is taken over. Returns the release function.
   */
  async lock(key: string, signal: AbortSignal, onWait: (pid: number) => void): Promise<() => void> {
    const path = join(this.root, '.locks', `${entryId(key)}.lock`);
    const me = JSON.stringify({ pid: process.pid, start: processStartTime(process.pid) });
    let announced = false;
    for (;;) {
      signal.throwIfAborted();
      // Written whole under a private name, then linked: a reader never sees a lock without its owner.
      const mine = `${path}.${process.pid}`;
      writeFileSync(mine, me, { mode: 0o600 });
      try {
        linkSync(mine, path);
        return () => rmSync(path, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        rmSync(mine, { force: true });
      }
      const owner = readOwner(path);
      if (!owner || processStartTime(owner.pid) !== owner.start) {
        rmSync(path, { force: true });
        continue;
      }
      if (!announced) onWait(owner.pid);
      announced = true;
      await sleep(300);
    }
  }

  /** Stored entries with their size and last use, least recently used first. */
  entries(): Array<{ id: string; bytes: number; used: number; step: string }> {
    const out: Array<{ id: string; bytes: number; used: number; step: string }> = [];
    for (const id of readdirSync(this.root)) {
      if (id.startsWith('.')) continue;
      const meta = readMeta(join(this.root, id));
      let used = 0;
      try {
        used = statSync(join(this.root, id, USED)).mtimeMs;
      } catch {
        // no use recorded: oldest
      }
      out.push({ id, bytes: meta?.bytes ?? 0, used, step: meta?.step ?? '?' });
    }
    return out.sort((a, b) => a.used - b.used || (a.id < b.id ? -1 : 1));
  }

  /** Record that this build has `id` stacked in its tree: pruning leaves it alone while the build lives. */
  pin(id: string): void {
    appendFileSync(this.pinFile(), `${id}\n`, { mode: 0o600 });
  }

  /** This build no longer uses any entry. */
  unpinAll(): void {
    rmSync(this.pinFile(), { force: true });
  }

  private pinFile(): string {
    mkdirSync(join(this.root, '.users'), { recursive: true, mode: 0o700 });
    return join(this.root, '.users', `${process.pid}-${processStartTime(process.pid) ?? '0'}`);
  }

  /** Entries live builds have stacked (the pin files of dead builds are removed). */
  private pinned(): Set<string> {
    const ids = new Set<string>();
    const dir = join(this.root, '.users');
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return ids;
    }
    for (const name of names) {
      const m = /^(\d+)-(\d+)$/.exec(name);
      if (!m || processStartTime(Number(m[1])) !== m[2]) {
        rmSync(join(dir, name), { force: true });
        continue;
      }
      for (const id of readFileSync(join(dir, name), 'utf8').split('\n')) if (id) ids.add(id);
    }
    return ids;
  }

  /**
   * Remove least recently used entries until the store holds at most `maxBytes`. Entries a running build
   * may have stacked (used within `keepMs`) are kept. Returns what was removed.
   */
  prune(maxBytes: number, keepMs = 0): Array<{ id: string; bytes: number; step: string }> {
    const all = this.entries();
    let total = all.reduce((n, e) => n + e.bytes, 0);
    const removed: Array<{ id: string; bytes: number; step: string }> = [];
    const now = Date.now();
    const pinned = this.pinned();
    for (const e of all) {
      if (total <= maxBytes) break;
      if (now - e.used < keepMs || pinned.has(e.id)) continue;
      this.discard(join(this.root, e.id));
      total -= e.bytes;
      removed.push(e);
    }
    return removed;
  }

  /** A staging directory named after this process (a later build removes it if this one dies). */
  private stageDir(): string {
    return join(this.root, `.tmp-${process.pid}-${processStartTime(process.pid) ?? '0'}-${randomBytes(4).toString('hex')}`);
  }

  /** Move a complete staging directory into place by one rename; someone else's entry there wins. */
  private publish(stage: string, id: string): void {
    try {
      renameSync(stage, join(this.root, id));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      this.discard(stage); // stored meanwhile by another build (or a foreign entry with this id: left alone)
    }
  }

  private writeIndex(parent: string, step: string, key: string): void {
    const path = join(this.root, '.index', indexName(parent, step));
    const tmp = `${path}.${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ key }));
    renameSync(tmp, path);
  }

  /** Rename out of sight first (a reader never sees half a removal), then delete. */
  private discard(dir: string): void {
    const trash = join(this.root, `.tmp-trash-${randomBytes(6).toString('hex')}`);
    try {
      renameSync(dir, trash);
    } catch {
      return;
    }
    rmSync(trash, { recursive: true, force: true });
  }

  /** Staging directories of builds that died mid-store (their pid is gone), and trash. */
  private removeAbandoned(): void {
    for (const name of readdirSync(this.root)) {
      const m = /^\.tmp-(?:(\d+)-(\d+)-[0-9a-f]+|trash-[0-9a-f]+)$/.exec(name);
      if (!m) continue;
      if (m[1] && processStartTime(Number(m[1])) === m[2]) continue; // its build is still running
      this.log.info(`phase cache: removing ${name}, left by a build that stopped while storing a step`);
      rmSync(join(this.root, name), { recursive: true, force: true });
    }
  }
}

async function streamSha(path: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch {
    return 'unreadable';
  }
  return hash.digest('hex');
}

/** Move a file into the store: a rename, or a copy when the work directory is on another filesystem. */
function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    copyFileSync(from, to);
    rmSync(from, { force: true });
  }
}

function touch(path: string): void {
  try {
    utimesSync(path, new Date(), new Date());
  } catch {
    writeFileSync(path, '');
  }
}

function fileSha(path: string): string | undefined {
  try {
    return sha256(readFileSync(path));
  } catch {
    return undefined;
  }
}

function indexName(parent: string, step: string): string {
  return `${sha256(`${parent}\n${step}`).slice(0, 32)}.json`;
}

function readMeta(dir: string): Meta | undefined {
  try {
    const path = join(dir, META);
    const st = lstatSync(path);
    if (!st.isFile() || st.size > MAX_META_BYTES) return undefined;
    const meta = JSON.parse(readFileSync(path, 'utf8')) as Meta;
    return typeof meta.key === 'string' && typeof meta.digest === 'string' && meta.manifest ? meta : undefined;
  } catch {
    return undefined;
  }
}

function readOwner(path: string): { pid: number; start?: string } | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as { pid: number; start?: string };
  } catch {
    return undefined;
  }
}

function untrustedDir(st: Stats): string | undefined {
  if (!st.isDirectory()) return 'it is not a directory';
  if (st.uid !== process.getuid!()) return `it is owned by uid ${st.uid}`;
  if (st.mode & 0o022) return 'others can write to it';
  return undefined;
}

/** The layer digest: every entry's path, type, mode, owner, size, mtime, device number and link target. */
export function layerDigest(layer: string): string {
  return layerSummary(layer).digest;
}

function layerSummary(layer: string): { digest: string; bytes: number; entries: number } {
  const rows = fg.sync('**', { cwd: layer, dot: true, onlyFiles: false, followSymbolicLinks: false, stats: true });
  const root = lstatSync(layer);
  const lines: string[] = [describe('.', root, layer)];
  let bytes = 0;
  for (const row of rows) {
    const st = row.stats!;
    bytes += st.isFile() ? st.blocks * 512 : 0;
    lines.push(describe(row.path, st, layer));
  }
  lines.sort();
  return { digest: sha256(lines.join('\n')), bytes, entries: rows.length };
}

function describe(rel: string, st: Stats, layer: string): string {
  const link = st.isSymbolicLink() ? readlinkSync(join(layer, rel)) : '';
  return [rel, st.mode.toString(8), st.uid, st.gid, st.isFile() ? st.size : 0, Math.round(st.mtimeMs * 1000), st.rdev, link].join('\0');
}
