// Our resolver against upstream DIB's (python3-diskimage-builder) over DIB's own elements tree.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, ValidationErrors } from '../../src/core/errors.js';
import { selectElements } from '../../src/elements/plan.js';
import { tempDir, writeTree } from '../helpers/tree.js';
import { dibElementsDir, mulberry32 } from '../helpers/dib.js';

const DIB_ELEMENTS = dibElementsDir();
const KIND: Record<string, string> = {
  MissingElementException: 'missing-element',
  AlreadyProvidedException: 'already-provided',
  MissingOSException: 'missing-os',
  InvalidElementDir: 'invalid-element-dir',
};
const SEEDS = ['0', '1', '2', '3', '4', '5'];

type Answer = { ok: string[] } | { error: string };
/** Ours reports every problem at once, so an error answer carries all kinds found. */
type OurAnswer = { ok: string[] } | { error: string; kinds: string[] };

function ours(list: string[], elementsPath: string): OurAnswer {
  try {
    return {
      ok: selectElements(list, { elementsPath, builtinDir: null, defaultOsElement: '' })
        .elements.map((e) => e.name)
        .sort(),
    };
  } catch (e) {
    if (e instanceof ValidationErrors) return { error: e.kinds.join('+'), kinds: e.kinds };
    if (e instanceof UsageError) return { error: e.kind, kinds: [e.kind] };
    throw e;
  }
}

/** Same set, or (DIB erred) we erred too and reported DIB's kind of error among ours. */
function agrees(dibAnswer: Answer, mine: OurAnswer): boolean {
  if ('ok' in dibAnswer) return 'ok' in mine && key(mine) === key(dibAnswer);
  return 'kinds' in mine && mine.kinds.includes(dibAnswer.error);
}

function dib(lists: string[][], elementsPath: string, seed: string): Answer[] {
  const dir = tempDir('dib-compat-');
  try {
    const file = join(dir.path, 'lists.json');
    writeFileSync(file, JSON.stringify(lists));
    const out = execFileSync('/usr/bin/python3', [join(import.meta.dirname, 'dib-resolve.py'), elementsPath, file], {
      env: { ...process.env, PYTHONHASHSEED: seed },
      maxBuffer: 64 << 20,
    }).toString();
    return out
      .trim()
      .split('\n')
      .map((line) => {
        const r = JSON.parse(line);
        return r.ok ? { ok: r.ok } : { error: KIND[r.error] ?? r.error };
      });
  } finally {
    dir.remove();
  }
}

const key = (a: Answer | OurAnswer) => ('ok' in a ? `ok:${a.ok.join(' ')}` : `error:${a.error}`);

describe('resolver compared with upstream DIB over its own elements tree', () => {
  it('upstream DIB is installed (setup.sh installs python3-diskimage-builder)', () => {
    expect(existsSync(DIB_ELEMENTS), `${DIB_ELEMENTS} missing: run scripts/setup.sh`).toBe(true);
  });

  const names = existsSync(DIB_ELEMENTS) ? readdirSync(DIB_ELEMENTS).sort() : [];
  const osElements = ['debian-minimal', 'ubuntu-minimal', 'centos', 'fedora', 'debian', 'ubuntu', 'rhel', 'opensuse'];
  const random = mulberry32(20261122);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const lists: string[][] = [];
  for (const n of names) lists.push([n]);
  for (const n of names) if (n !== 'debian-minimal') lists.push([n, 'debian-minimal']);
  for (let i = 0; i < 300; i++) {
    const size = 1 + Math.floor(random() * 5);
    const list = new Set<string>();
    if (random() < 0.8) list.add(pick(osElements));
    while (list.size < size) list.add(pick(names));
    if (random() < 0.1) list.add('nonexistent-element');
    lists.push([...list]);
  }

  it(`agrees on ${lists.length} element lists wherever DIB's own answer does not depend on hash order`, () => {
    const runs = SEEDS.map((seed) => dib(lists, DIB_ELEMENTS, seed));
    let stable = 0;
    let unstable = 0;
    const mismatches: string[] = [];
    lists.forEach((list, i) => {
      const answers = new Map(runs.map((r) => [key(r[i]), r[i]]));
      const mine = ours(list, DIB_ELEMENTS);
      if (answers.size === 1) {
        stable++;
        if (!agrees([...answers.values()][0], mine))
          mismatches.push(`${list.join(' ')}: DIB ${[...answers.keys()][0]} / ours ${key(mine)}`);
      } else {
        unstable++;
        // DIB sometimes succeeds: we must succeed with one of its successful answers.
        const successes = [...answers.values()].filter((a) => 'ok' in a);
        const allowed = successes.length ? successes : [...answers.values()];
        if (!allowed.some((a) => agrees(a, mine)))
          mismatches.push(`${list.join(' ')} (DIB hash-dependent: ${[...answers.keys()].join(' | ')}) / ours ${key(mine)}`);
      }
    });
    console.log(`compared ${lists.length} lists: ${stable} stable in DIB, ${unstable} hash-order dependent in DIB`);
    expect(mismatches).toEqual([]);
    expect(stable).toBeGreaterThan(lists.length / 2);
  });

  it('where DIB depends on hash order, ours is always its successful answer', () => {
    const t = tempDir('dib-unordered-');
    writeTree(t.path, {
      a: { 'element-deps': 'virt\nprovider\nos\n' },
      provider: { 'element-provides': 'virt\n' },
      os: { 'element-provides': 'operating-system\n' },
    });
    const seeds = Array.from({ length: 16 }, (_, i) => String(i));
    const answers = new Map(seeds.map((seed) => dib([['a']], t.path, seed)[0]).map((a) => [key(a), a]));
    expect([...answers.keys()].sort()).toEqual(['error:missing-element', 'ok:a os provider']);
    expect(key(ours(['a'], t.path))).toBe('ok:a os provider');
    t.remove();
  });

  it('documented difference (README, How elements are resolved): naming an OS element twice is not an error here', () => {
    const [r] = dib([['debian-minimal', 'debian-minimal']], DIB_ELEMENTS, '0');
    expect(r).toEqual({ error: 'already-provided' });
    expect('ok' in ours(['debian-minimal', 'debian-minimal'], DIB_ELEMENTS)).toBe(true);
  });

  it('rejects a non-directory ELEMENTS_PATH entry like DIB', () => {
    const [r] = dib([['debian-minimal']], `${DIB_ELEMENTS}:/not/a/dir`, '0');
    expect(r).toEqual({ error: 'invalid-element-dir' });
    expect(agrees(r, ours(['debian-minimal'], `${DIB_ELEMENTS}:/not/a/dir`))).toBe(true);
  });
});
