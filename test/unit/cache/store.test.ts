// The step store without root: store and read back, corruption, abandoned staging, the single-flight
// lock, pruning, and refusing a cache directory others control.
import { describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, readdirSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Logger, type LogEvent } from '../../../src/core/log.js';
import { StepStore, entryId } from '../../../src/cache/store.js';
import { tempDir } from '../../helpers/tree.js';

function logger() {
  const log = new Logger();
  const events: LogEvent[] = [];
  log.addSink({ write: (e) => events.push(e) });
  const warnings = () => events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
  return { log, warnings };
}

function layer(base: string, files: Record<string, string>): string {
  const dir = join(base, `upper-${Math.random().toString(16).slice(2)}`);
  mkdirSync(dir);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

const KEY = 'a'.repeat(64);
const KEY2 = 'b'.repeat(64);
const copy = () => Promise.reject(new Error('the test layers are on the filesystem of the store: no copy expected'));

describe('step store', () => {
  it('a stored step is found by its key with its manifest, the upper directory moved into it', async () => {
    const base = tempDir().path;
    const { log } = logger();
    const store = StepStore.open(base, log)!;
    const upper = layer(base, { 'etc/motd': 'hello' });
    const stored = await store.store(KEY, 'install.d/60-my-app', { step: 'install.d/60-my-app', parent: 'none' }, upper, copy);
    expect(existsSync(upper)).toBe(false);
    expect(stored.layer).toBe(`${entryId(KEY)}/layer`);
    const found = store.lookup(KEY)!;
    expect(found.manifest).toEqual({ step: 'install.d/60-my-app', parent: 'none' });
    expect(found.empty).toBe(false);
    expect(store.lookup(KEY2)).toBeUndefined();
    expect(store.previous('none', 'install.d/60-my-app')).toEqual(found.manifest);
  });

  it('an empty layer is marked empty (it is not stacked)', async () => {
    const base = tempDir().path;
    const store = StepStore.open(base, logger().log)!;
    expect((await store.store(KEY, 's', { parent: 'none' }, layer(base, {}), copy)).empty).toBe(true);
  });

  it('a truncated file in a stored layer is detected on lookup: a warning, the entry removed, never used', async () => {
    const base = tempDir().path;
    const { log, warnings } = logger();
    const store = StepStore.open(base, log)!;
    await store.store(KEY, 'root.d', { parent: 'none' }, layer(base, { 'usr/bin/tool': 'x'.repeat(5000) }), copy);
    truncateSync(join(base, 'steps', entryId(KEY), 'layer', 'usr/bin/tool'), 100);
    expect(store.lookup(KEY)).toBeUndefined();
    expect(warnings().join('\n')).toMatch(/root\.d .* does not match its digest; removed/);
    expect(existsSync(join(base, 'steps', entryId(KEY)))).toBe(false);
  });

  it('a file added to or removed from a stored layer is detected', async () => {
    const base = tempDir().path;
    const store = StepStore.open(base, logger().log)!;
    await store.store(KEY, 'a', { parent: 'none' }, layer(base, { f: '1' }), copy);
    writeFileSync(join(base, 'steps', entryId(KEY), 'layer', 'planted'), 'evil');
    expect(store.lookup(KEY)).toBeUndefined();
  });

  it('a meta.json naming another key is not used for this key', async () => {
    const base = tempDir().path;
    const store = StepStore.open(base, logger().log)!;
    await store.store(KEY, 'a', { parent: 'none' }, layer(base, { f: '1' }), copy);
    const other = `${KEY.slice(0, 32)}${'c'.repeat(32)}`;
    expect(store.lookup(other)).toBeUndefined();
  });

  it('a staging directory left by a killed build is removed when the store is next opened; a live build keeps its own', () => {
    const base = tempDir().path;
    StepStore.open(base, logger().log);
    const dead = join(base, 'steps', '.tmp-999999-123-abcd1234');
    mkdirSync(join(dead, 'layer'), { recursive: true });
    const { log, warnings } = logger();
    StepStore.open(base, log);
    expect(existsSync(dead)).toBe(false);
    expect(warnings()).toEqual([]);
  });

  it('single flight: a second taker of the same key waits until the first releases it', async () => {
    const base = tempDir().path;
    const store = StepStore.open(base, logger().log)!;
    const release = await store.lock(KEY, new AbortController().signal, () => {});
    let waitedFor: number | undefined;
    let second = false;
    const pending = store
      .lock(KEY, new AbortController().signal, (pid) => (waitedFor = pid))
      .then((r) => {
        second = true;
        return r;
      });
    await new Promise((r) => setTimeout(r, 700));
    expect(second).toBe(false);
    expect(waitedFor).toBe(process.pid);
    release();
    (await pending)();
    expect(second).toBe(true);
  });

  it('a lock whose owner died is taken over at once', async () => {
    const base = tempDir().path;
    const store = StepStore.open(base, logger().log)!;
    const child = spawnSync('true');
    writeFileSync(join(base, 'steps', '.locks', `${entryId(KEY)}.lock`), JSON.stringify({ pid: child.pid, start: '1' }));
    const started = Date.now();
    (await store.lock(KEY, new AbortController().signal, () => {}))();
    expect(Date.now() - started).toBeLessThan(250);
  });

  it('pruning removes least recently used steps first until the bound holds, keeping recently used ones', async () => {
    const base = tempDir().path;
    const store = StepStore.open(base, logger().log)!;
    const keys = ['1', '2', '3'].map((c) => c.repeat(64));
    for (const [i, k] of keys.entries()) await store.store(k, `s${i}`, { parent: 'none' }, layer(base, { f: 'x'.repeat(64 * 1024) }), copy);
    const old = Date.now() / 1000 - 7200;
    utimesSync(join(base, 'steps', entryId(keys[0]), 'used'), old, old);
    utimesSync(join(base, 'steps', entryId(keys[1]), 'used'), old + 60, old + 60);
    const one = store.entries()[2].bytes;
    const removed = store.prune(one, 3600_000);
    expect(removed.map((r) => r.step)).toEqual(['s0', 's1']);
    expect(readdirSync(join(base, 'steps')).filter((n) => !n.startsWith('.'))).toEqual([entryId(keys[2])]);
    expect(store.prune(0, 3600_000)).toEqual([]); // used within the hour: kept
  });

  it('a cache directory others can write to is not used (its layers would become the image)', () => {
    const base = tempDir().path;
    mkdirSync(join(base, 'steps'));
    chmodSync(join(base, 'steps'), 0o777);
    const { log, warnings } = logger();
    expect(StepStore.open(base, log)).toBeUndefined();
    expect(warnings().join('\n')).toMatch(/not using .*steps: others can write to it; building without the cache/);
  });
});
