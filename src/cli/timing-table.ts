// DIB's per-hook timing table, printed at the end of a build (grouped by phase, run order).
import type { HookTiming } from '../build/context.js';

export function renderTimingTable(timings: HookTiming[]): string {
  if (!timings.length) return '';
  const lines: string[] = ['', '----------------------- PROFILING -----------------------'];
  let phase = '';
  for (const t of timings) {
    if (t.phase !== phase) {
      phase = t.phase;
      lines.push('', `Target: ${phase}.d`, '', `${'Script'.padEnd(40)} ${'Seconds'.padStart(9)}`, `${'-'.repeat(40)} ${'-'.repeat(9)}`);
    }
    lines.push(`${t.hook.padEnd(40)} ${t.seconds.toFixed(3).padStart(10)}  (${t.element})`);
  }
  const total = timings.reduce((s, t) => s + t.seconds, 0);
  lines.push('', `hooks total: ${total.toFixed(1)}s`, '--------------------- END PROFILING ---------------------', '');
  return lines.join('\n') + '\n';
}
