// One event stream (steps, hooks, commands, warnings) with a human and an NDJSON renderer.
import { shellQuote } from './text.js';
import { appendFileSync, openSync, closeSync, fstatSync, writeSync } from 'node:fs';

export type LogEvent =
  | { type: 'info'; message: string }
  | { type: 'warning'; message: string }
  | { type: 'debug'; message: string }
  | { type: 'step-start'; step: string }
  | { type: 'step-end'; step: string; seconds: number; ok: boolean }
  | { type: 'phase-start'; phase: string; index: number; total: number; hooks: number; inChroot: boolean }
  | { type: 'phase-end'; phase: string; seconds: number; ok: boolean }
  | { type: 'hook-start'; phase: string; element: string; hook: string }
  | { type: 'hook-end'; phase: string; element: string; hook: string; seconds: number; status: number }
  | { type: 'output'; label: string; line: string }
  | { type: 'command'; argv: string[] }
  | { type: 'result'; message: string; data?: unknown }
  /** Shown on the console even when it is quiet (where the log goes, what a quiet build must say). */
  | { type: 'notice'; message: string }
  /** A debug shell at a break point starts or ends. */
  | { type: 'break'; point: string; state: 'start' | 'resume'; message: string }
  /** The build ran something the plan did not list (or skipped something it did), and why. */
  | { type: 'plan-amendment'; phase: string; change: 'added' | 'removed'; name: string; element: string; reason: string }
  /** A phase cache decision for one step: reused (hit), built and stored (miss), or not cacheable. */
  | { type: 'cache'; step: string; decision: 'hit' | 'miss' | 'uncacheable'; key: string; reasons: string[] }
  /** The per-hook timing table at the end of a build. */
  | { type: 'timings'; rows: TimingRow[] }
  /** An image upload to Glance: started, bytes sent so far, finished (the image id once it exists). */
  | { type: 'upload'; state: 'start' | 'progress' | 'done'; file: string; image?: string; bytes: number; total: number; seconds: number };

export interface TimingRow {
  phase: string;
  element: string;
  hook: string;
  seconds: number;
  /** The phase cache's decision for the step that ran (or reused) the hook. */
  cache?: 'hit' | 'miss';
}

export interface LogSink {
  write(event: LogEvent & { time: string }): void;
  close?(): void;
}

/** Values that must never appear in any rendered line (secrets); replaced by `***`. */
export class Redactor {
  private secrets: string[] = [];
  add(value: string | undefined): void {
    if (!value || value.length < 3) return;
    // Events are redacted in their JSON form too, where quotes and backslashes are escaped.
    for (const form of new Set([value, JSON.stringify(value).slice(1, -1)])) if (!this.secrets.includes(form)) this.secrets.push(form);
    this.secrets.sort((a, b) => b.length - a.length);
  }
  apply(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join('***');
    return out;
  }
}

export class Logger {
  private sinks: LogSink[] = [];
  readonly redactor = new Redactor();
  debugEnabled = false;

  addSink(sink: LogSink): void {
    this.sinks.push(sink);
  }

  /** The console sink (the first human sink), to make it quiet. */
  get console(): HumanSink | undefined {
    return this.sinks.find((s): s is HumanSink => s instanceof HumanSink);
  }

  emit(event: LogEvent): void {
    if (event.type === 'debug' && !this.debugEnabled) return;
    const time = new Date().toISOString();
    const redacted = JSON.parse(this.redactor.apply(JSON.stringify(event))) as LogEvent;
    for (const sink of this.sinks) sink.write({ ...redacted, time });
  }

  info(message: string): void {
    this.emit({ type: 'info', message });
  }
  warn(message: string): void {
    this.emit({ type: 'warning', message });
  }
  debug(message: string): void {
    this.emit({ type: 'debug', message });
  }

  /** Run `body` as a named, timed step; nested steps indent in the human renderer. */
  async step<T>(step: string, body: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    this.emit({ type: 'step-start', step });
    let ok = false;
    try {
      const result = await body();
      ok = true;
      return result;
    } finally {
      this.emit({ type: 'step-end', step, ok, seconds: Number(process.hrtime.bigint() - start) / 1e9 });
    }
  }

  close(): void {
    for (const sink of this.sinks) sink.close?.();
  }
}

/** Human lines on stderr (or a log file), nested by step, optionally timestamped. */
export class HumanSink implements LogSink {
  private depth = 0;
  private redirected?: (line: string) => void;
  /** Send lines elsewhere for a while (above a live view); undefined restores the writer. */
  redirect(out: ((line: string) => void) | undefined): void {
    this.redirected = out;
  }
  /** Quiet: only warnings reach this sink (DIB_QUIET, or --logfile without DIB_QUIET). */
  quiet = false;
  constructor(
    private readonly out: (line: string) => void,
    private readonly options: { timestamps?: boolean; color?: boolean } = {},
  ) {}

  write(event: LogEvent & { time: string }): void {
    const line = this.render(event);
    if (line === undefined || (this.quiet && !['warning', 'notice', 'break', 'timings'].includes(event.type))) return;
    const stamp = this.options.timestamps ? `${event.time.replace('T', ' ').replace('Z', '')} | ` : '';
    for (const l of line.split('\n')) (this.redirected ?? this.out)(`${stamp}${'  '.repeat(Math.max(0, this.depth))}${l}`);
    if (event.type === 'step-start') this.depth++;
  }

  private render(e: LogEvent): string | undefined {
    const c = this.options.color;
    const paint = (code: string, s: string) => (c ? `\x1b[${code}m${s}\x1b[0m` : s);
    switch (e.type) {
      case 'info':
        return e.message;
      case 'warning':
        return paint('33', `warning: ${e.message}`);
      case 'debug':
        return paint('2', `debug: ${e.message}`);
      case 'step-start':
        return paint('1', `‣ ${e.step}`);
      case 'step-end':
        this.depth--;
        return e.ok
          ? e.seconds >= 1
            ? paint('2', `  done in ${e.seconds.toFixed(1)}s`)
            : undefined
          : paint('31', `✗ ${e.step} failed after ${e.seconds.toFixed(1)}s`);
      case 'phase-start':
        return paint(
          '1',
          `‣ phase ${e.phase} (${e.index}/${e.total}, ${e.hooks} hook${e.hooks === 1 ? '' : 's'}, ${e.inChroot ? 'in chroot' : 'outside'})`,
        );
      case 'phase-end':
        return e.ok ? `  phase ${e.phase} done in ${e.seconds.toFixed(1)}s` : paint('31', `  phase ${e.phase} failed`);
      case 'hook-start':
        return `  running ${e.element}/${e.phase}.d/${e.hook}`;
      case 'hook-end':
        return e.status === 0 ? undefined : paint('31', `  ${e.element}/${e.phase}.d/${e.hook} exited ${e.status}`);
      case 'output':
        return `    [${e.label}] ${e.line}`;
      case 'command':
        return paint('2', `  + ${e.argv.map((a) => shellQuote(a)).join(' ')}`);
      case 'result':
      case 'notice':
      case 'break':
        return e.message;
      case 'plan-amendment':
        return paint('33', `plan amended: ${e.phase}: ${e.change} ${e.name}${e.element ? ` (${e.element})` : ''}: ${e.reason}`);
      case 'cache':
        // Per-step lines are --explain-cache's (info lines); a summary follows the tree phases.
        return e.decision === 'uncacheable' ? paint('33', `  not cached: ${e.step}: ${e.reasons.join('; ')}`) : undefined;
      case 'timings':
        return renderTimingTable(e.rows);
      case 'upload':
        if (e.state === 'start') return `uploading ${e.file} (${(e.total / 2 ** 20).toFixed(1)} MiB) into image ${e.image}`;
        return e.state === 'progress' ? `  ${uploadProgressLine(e.bytes, e.total, e.seconds)}` : undefined;
    }
  }
}

/** `123.4/456.7 MiB (27%), 45.6 MiB/s, 0:07 left`: an upload's progress. */
export function uploadProgressLine(bytes: number, total: number, seconds: number): string {
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  const rate = seconds > 0 ? bytes / seconds : 0;
  const left = rate > 0 ? Math.max(0, Math.round((total - bytes) / rate)) : undefined;
  const clock = (s: number) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  const percent = total > 0 ? Math.floor((bytes / total) * 100) : 100;
  return `${mib(bytes)}/${mib(total)} MiB (${percent}%), ${mib(rate)} MiB/s, ${left === undefined ? '?' : clock(left)} left`;
}

/** DIB's per-hook timing table, printed at the end of a build (grouped by phase, run order). */
export function renderTimingTable(rows: TimingRow[]): string | undefined {
  if (!rows.length) return undefined;
  const cached = rows.some((r) => r.cache);
  const lines: string[] = ['', '----------------------- PROFILING -----------------------'];
  let phase = '';
  for (const t of rows) {
    if (t.phase !== phase) {
      phase = t.phase;
      lines.push(
        '',
        `Target: ${phase}.d`,
        '',
        `${'Script'.padEnd(40)} ${'Seconds'.padStart(9)}${cached ? '  Cache' : ''}`,
        `${'-'.repeat(40)} ${'-'.repeat(9)}${cached ? '  -----' : ''}`,
      );
    }
    lines.push(
      `${t.hook.padEnd(40)} ${t.seconds.toFixed(3).padStart(10)}${cached ? `  ${(t.cache ?? '-').padEnd(5)}` : ''}  (${t.element})`,
    );
  }
  const total = rows.reduce((s, t) => s + t.seconds, 0);
  lines.push('', `hooks total: ${total.toFixed(1)}s`, '--------------------- END PROFILING ---------------------');
  return lines.join('\n');
}

/** One JSON object per line, for machines. */
export class NdjsonSink implements LogSink {
  private fd: number;
  private owned: boolean;
  constructor(path: string) {
    // `-` is stderr; /dev/fd/N a descriptor the caller handed over (diskimage-builder's socket on fd 3,
    // which cannot be opened again by name), written as it is and not closed.
    const inherited = inheritedDescriptor(path);
    this.owned = inherited === undefined;
    this.fd = inherited ?? openSync(path, 'a');
  }
  write(event: LogEvent & { time: string }): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, JSON.stringify(event) + '\n');
    } catch (error) {
      // The reader of a handed-over descriptor went away (EPIPE): the build goes on (and unwinds) without it.
      if (this.owned) throw error;
      this.fd = -1;
    }
  }
  close(): void {
    if (this.owned) closeSync(this.fd);
  }
}

/** The descriptor `-` or `/dev/fd/N` names, if the path is one of those. */
export function inheritedDescriptor(path: string): number | undefined {
  if (path === '-') return 2;
  const m = /^\/dev\/fd\/(\d+)$/.exec(path);
  if (!m) return undefined;
  // Only a pipe or socket handed over is written as it is; anything else is opened again by its name.
  try {
    const st = fstatSync(Number(m[1]));
    return st.isSocket() || st.isFIFO() ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function fileLineWriter(path: string): (line: string) => void {
  return (line) => appendFileSync(path, line + '\n');
}

export function stderrLineWriter(line: string): void {
  process.stderr.write(line + '\n');
}

/** Whether colour is appropriate on stderr. */
export function useColor(): boolean {
  return !!process.stderr.isTTY && !process.env.NO_COLOR;
}
