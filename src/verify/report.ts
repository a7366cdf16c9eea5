// Run image-verify and print its report (PASS/FAIL lines, `N passed, M failed`, JUnit): shared by
// image-verify and disk-image-create --verify. Exit 0 when every check passed, else 1 (130 interrupted).
import { writeFileSync } from 'node:fs';
import { Runner, baseEnvironment } from '../core/exec.js';
import type { Logger } from '../core/log.js';
import { installSignalHandlers } from '../core/signals.js';
import { renderJunit } from './junit.js';
import { type VerifyOptions, verifyImage } from './verify.js';

/** Details quote the image and the guest (untrusted): control characters are shown, never sent to the terminal. */
function printable(line: string): string {
  return line.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export async function verifyAndReport(options: VerifyOptions, log: Logger, junit?: string): Promise<number> {
  const guard = installSignalHandlers(log);
  const runner = new Runner(log, guard.signal, baseEnvironment());
  try {
    const report = await verifyImage(options, log, runner);
    const w = (s: string) => process.stdout.write(`${printable(s)}\n`);
    w(`image-verify ${options.image}${report.bootSeconds !== undefined ? ` (ssh answered after ${report.bootSeconds.toFixed(0)}s)` : ''}`);
    for (const r of report.results) {
      w(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.group.padEnd(7)} ${r.name}`);
      if (!r.ok) for (const line of r.detail.split('\n').slice(0, 8)) w(`          ${line}`);
    }
    const failed = report.results.filter((r) => !r.ok).length;
    w(`${report.results.length - failed} passed, ${failed} failed`);
    if (junit) writeFileSync(junit, renderJunit(options.image, report.results));
    if (guard.received) return 130;
    return failed ? 1 : 0;
  } finally {
    guard.dispose();
  }
}
