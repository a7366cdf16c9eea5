// What a family build shows: the default -j and its reason, plain lines without a terminal, the live
// view redrawn in place, the summary table with each failure's hook and log.
import { describe, expect, it } from 'vitest';
import type { ImageProgress } from '../../../src/family/runner.js';
import { LiveView, PlainView, chooseJobs, renderSummary } from '../../../src/family/view.js';

const GiB = 1024 ** 3;

function progress(name: string, more: Partial<ImageProgress> = {}): ImageProgress {
  return {
    image: { spec: { name }, logPath: `/out/${name}.log` } as ImageProgress['image'],
    state: 'waiting',
    phase: '',
    step: '',
    seconds: 0,
    hits: 0,
    misses: 0,
    ...more,
  };
}

describe('the default number of builds at once', () => {
  it('one more than the cores when memory allows, never more than the images, fewer when memory is short; the reason names the limit', () => {
    expect(chooseJobs(5, 2, 23 * GiB)).toMatchObject({ jobs: 3, why: expect.stringMatching(/limited by cores/) });
    expect(chooseJobs(1, 8, 64 * GiB)).toMatchObject({ jobs: 1, why: expect.stringMatching(/limited by the number of images/) });
    expect(chooseJobs(6, 8, 2.5 * GiB)).toMatchObject({ jobs: 2, why: expect.stringMatching(/limited by memory/) });
    expect(chooseJobs(3, 4, 0.5 * GiB).jobs).toBe(1);
    expect(chooseJobs(3, 2, 23 * GiB).why).toContain(
      '2 cores (one build more than cores); 23.0 GiB free holds 23 builds at ~1 GiB each; 3 images',
    );
  });
});

describe('views', () => {
  it('without a terminal: a timestamped line when an image starts, enters a phase and ends; nothing for steps', () => {
    const lines: string[] = [];
    const view = new PlainView((t) => lines.push(t));
    const p = progress('img');
    view.update(p, 'started');
    view.update(p, '');
    view.update(p, 'phase install');
    Object.assign(p, { seconds: 12.34, hits: 3, misses: 2 });
    view.update(p, 'built');
    expect(lines.map((l) => l.replace(/^\d\d:\d\d:\d\d /, ''))).toEqual([
      'img: started\n',
      'img: phase install\n',
      'img: built after 12.3s, cache 3 hits/2 built\n',
    ]);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d /);
  });

  it('on a terminal: one line per image, redrawn in place (cursor up over the previous drawing), a printed line stays above', () => {
    let screen = '';
    const all = [progress('alpha', { state: 'running', phase: 'install', step: 'my-el/60-app', started: Date.now() }), progress('b')];
    const view = new LiveView(all, (t) => (screen += t), { columns: 80, rows: 24 });
    view.print('a message');
    view.close();
    const drawings = screen.split('\x1b[2A\x1b[J');
    expect(drawings.length).toBeGreaterThanOrEqual(2); // the first drawing was erased before the message
    expect(screen).toContain('a message\n');
    expect(screen).toMatch(/alpha {2}running +\d+\.\ds {2}cache +0\/0 +install my-el\/60-app/);
    expect(screen).toMatch(/\n\x1b\[2Kb +waiting/);
  });
});

describe('the live view on a small terminal', () => {
  it('more images than rows: the running and failed ones shown first, then how many more; every line fits the width', () => {
    let screen = '';
    const all = Array.from({ length: 10 }, (_, i) => progress(`image-${i}`, i === 7 ? { state: 'running', started: Date.now() } : {}));
    const view = new LiveView(all, (t) => (screen += t), { columns: 30, rows: 6 });
    view.close();
    const last = screen.split('\x1b[J').at(-1)!.split('\n').filter(Boolean);
    expect(last).toHaveLength(5);
    expect(last[0]).toContain('image-7');
    expect(last.at(-1)).toBe('\x1b[2K... and 6 more');
    for (const line of last) expect(line.replace('\x1b[2K', '').length).toBeLessThan(30);
  });
});

describe('the summary table', () => {
  it('each image with result, time, cache hits and outputs; each failure with its error, failing hook and log', () => {
    const text = renderSummary([
      progress('good', {
        state: 'built',
        seconds: 75,
        hits: 4,
        misses: 6,
        record: {
          files: [{ path: '/out/good.qcow2', format: 'qcow2', size: 300 * 1024 ** 2, sha256: '', md5: '' }],
        } as ImageProgress['record'],
      }),
      progress('bad', { state: 'failed', seconds: 3.2, error: 'hook failed', failedHook: 'install.d/70-x (el), exit 3' }),
    ]);
    expect(text).toMatch(/good +built +1m15s +4\/10 +\/out\/good\.qcow2 \(300\.0 MiB\)/);
    expect(text).toMatch(/bad +failed +3\.2s +- +-/);
    expect(text).toContain('bad failed: hook failed\n  failing hook: install.d/70-x (el), exit 3\n  log: /out/bad.log');
  });
});
