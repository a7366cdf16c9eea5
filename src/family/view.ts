// What a family build shows: on a terminal one line per image redrawn in place; otherwise plain
// timestamped lines; at the end a summary table. Also the default number of parallel builds.
import { cpus, freemem } from 'node:os';
import type { ImageProgress } from './runner.js';

/**
 * Memory one build may take, with room to spare: the work directory is on disk (no tmpfs); three
 * Debian builds at once peaked at 0.7 GiB here (apt, dpkg, qemu-img).
 */
const BUILD_MEMORY = 1024 ** 3;

/**
 * The default -j: one build more than the cores (builds wait on the mirror, the disk and each other's
 * shared steps: three images on 2 cores took 124 s at -j 3, 141 s at -j 2), fewer when memory would not
 * hold them, never more than the images.
 */
export function chooseJobs(images: number, cores = cpus().length, available = freemem()): { jobs: number; why: string } {
  const byMemory = Math.max(1, Math.floor(available / BUILD_MEMORY));
  const jobs = Math.max(1, Math.min(images, cores + 1, byMemory));
  const limit =
    jobs === images && images <= Math.min(cores + 1, byMemory) ? 'the number of images' : byMemory < cores + 1 ? 'memory' : 'cores';
  return {
    jobs,
    why: `${cores} cores (one build more than cores); ${(available / 1024 ** 3).toFixed(1)} GiB free holds ${byMemory} builds at ~1 GiB each; ${images} image${images === 1 ? '' : 's'} (limited by ${limit})`,
  };
}

export interface FamilyView {
  update(p: ImageProgress, what: string): void;
  /** Above the view: a line that stays. */
  print(line: string): void;
  close(): void;
}

/** One line per image, redrawn in place (at most 4 times a second, and every second for the clock). */
export class LiveView implements FamilyView {
  private drawn = 0;
  private timer: NodeJS.Timeout;
  private pending = false;
  constructor(
    private readonly progress: ImageProgress[],
    private readonly out: (text: string) => void,
    /** Fixed terminal size (tests); otherwise read at every redraw (the terminal may be resized). */
    private readonly size?: { columns: number; rows: number },
  ) {
    this.timer = setInterval(() => this.draw(), 1000);
    this.draw();
  }
  update(): void {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.draw();
    }, 250).unref();
  }
  print(line: string): void {
    this.erase();
    this.out(`${line}\n`);
    this.draw();
  }
  close(): void {
    clearInterval(this.timer);
    this.draw();
    this.drawn = 0;
  }
  private erase(): void {
    if (this.drawn) this.out(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }
  private draw(): void {
    this.erase();
    const columns = this.size?.columns ?? (process.stderr.columns || 100);
    const rows = this.size?.rows ?? (process.stderr.rows || 24);
    const name = Math.max(5, ...this.progress.map((p) => p.image.spec.name.length));
    // More images than the terminal has rows: the running and failed ones first, then a count of the rest
    // (cursor-up cannot reach above the screen's top).
    const room = Math.max(1, rows - 2);
    // In their own order when they fit (lines do not jump about); otherwise the ones that matter first.
    const order = this.progress.length > room + 1 ? [...this.progress].sort((a, b) => rank(a) - rank(b)) : this.progress;
    const shown = order.length > room + 1 ? order.slice(0, room) : order;
    const lines = shown.map((p) => progressLine(p, name).slice(0, columns - 1));
    if (shown.length < order.length) lines.push(`... and ${order.length - shown.length} more`);
    this.out(lines.map((l) => `\x1b[2K${l}\n`).join(''));
    this.drawn = lines.length;
  }
}

/** Without a terminal: a timestamped line when an image starts, enters a phase, or ends. */
export class PlainView implements FamilyView {
  constructor(private readonly out: (text: string) => void) {}
  update(p: ImageProgress, what: string): void {
    if (!what) return;
    const cache = p.hits + p.misses ? `, cache ${p.hits} hit${p.hits === 1 ? '' : 's'}/${p.misses} built` : '';
    const end = ['built', 'reused', 'failed', 'interrupted'].includes(what) ? ` after ${p.seconds.toFixed(1)}s${cache}` : '';
    this.print(`${p.image.spec.name}: ${what}${end}${what === 'failed' && p.error ? `: ${p.error}` : ''}`);
  }
  print(line: string): void {
    this.out(`${new Date().toISOString().slice(11, 19)} ${line}\n`);
  }
  close(): void {}
}

/** Running and failed images first (what a narrow terminal must show), then the others in their order. */
function rank(p: ImageProgress): number {
  return p.state === 'running' || p.state === 'failed' ? 0 : 1;
}

function progressLine(p: ImageProgress, width: number): string {
  const elapsed = p.state === 'running' && p.started ? (Date.now() - p.started) / 1000 : p.seconds;
  const where =
    p.state === 'running' ? [p.phase, p.step].filter(Boolean).join(' ') : p.state === 'failed' ? (p.failedHook ?? p.error ?? '') : '';
  return `${p.image.spec.name.padEnd(width)}  ${p.state.padEnd(11)} ${formatSeconds(elapsed).padStart(6)}  cache ${String(p.hits).padStart(2)}/${String(p.hits + p.misses).padEnd(2)}  ${where}`;
}

/** The table at the end: each image's result, time, cache hits and outputs; where to look for each failure. */
export function renderSummary(progress: ImageProgress[]): string {
  const name = Math.max(5, ...progress.map((p) => p.image.spec.name.length));
  const lines = ['', `${'image'.padEnd(name)}  ${'result'.padEnd(11)} ${'time'.padStart(6)}  ${'cache'.padEnd(7)} outputs`];
  for (const p of progress) {
    const files = (p.record?.files ?? []).map((f) => `${f.path} (${formatBytes(f.size)})`).join(', ');
    const cache = p.hits + p.misses ? `${p.hits}/${p.hits + p.misses}` : '-';
    lines.push(
      `${p.image.spec.name.padEnd(name)}  ${p.state.padEnd(11)} ${formatSeconds(p.seconds).padStart(6)}  ${cache.padEnd(7)} ${files || '-'}`,
    );
  }
  for (const p of progress.filter((q) => q.state === 'failed' || q.state === 'interrupted')) {
    lines.push('', `${p.image.spec.name} ${p.state}: ${p.error ?? ''}`);
    if (p.failedHook) lines.push(`  failing hook: ${p.failedHook}`);
    lines.push(`  log: ${p.image.logPath}`);
  }
  return lines.join('\n') + '\n';
}

function formatSeconds(s: number): string {
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}

function formatBytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
