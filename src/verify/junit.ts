// JUnit XML for image-verify results (CI systems render it).
import type { CheckResult } from './checks.js';

const esc = (s: string) =>
  s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');

export function renderJunit(image: string, results: CheckResult[]): string {
  const failures = results.filter((r) => !r.ok).length;
  const time = results.reduce((s, r) => s + r.seconds, 0);
  const cases = results.map((r) => {
    const head = `  <testcase classname="image-verify.${r.group}" name="${esc(r.name)}" time="${r.seconds.toFixed(3)}">`;
    return r.ok
      ? `${head}<system-out>${esc(r.detail)}</system-out></testcase>`
      : `${head}<failure message="${esc(r.detail.split('\n')[0] ?? '')}">${esc(r.detail)}</failure></testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="image-verify ${esc(image)}" tests="${results.length}" failures="${failures}" time="${time.toFixed(3)}">\n${cases.join('\n')}\n</testsuite>\n`;
}
