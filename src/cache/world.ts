// The outside world a step reads: apt suites. A suite is keyed by the package indexes its InRelease lists
// for the build's architecture (and `all`), not by the whole file: a mirror re-signs InRelease every few
// hours with a new Date, which must not invalidate anything; a changed package index must.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BuildError } from '../core/errors.js';
import { sha256 } from './manifest.js';

/** The digest of the suite's package-index lines for `arch`; reads `MIRROR/dists/SUITE/InRelease` (or Release). */
export async function aptSuiteFingerprint(mirror: string, suite: string, arch: string, timeoutMs = 20000): Promise<string> {
  const base = `${mirror.replace(/\/+$/, '')}/dists/${suite}`;
  let text: string | undefined;
  const tried: string[] = [];
  let missing = 0;
  for (const name of ['InRelease', 'Release']) {
    const url = `${base}/${name}`;
    try {
      text = await fetchText(url, timeoutMs);
      break;
    } catch (error) {
      if (error instanceof NotFound) missing++;
      tried.push(`${url}: ${(error as Error).message}`);
    }
  }
  // The mirror answered that the suite does not exist (e.g. no -updates for testing): nothing to key.
  if (text === undefined && missing === 2) return 'absent';
  if (text === undefined) {
    throw new BuildError(`the phase cache cannot check apt suite ${suite} at ${mirror}`, {
      details: tried.map((t) => `  ${t}`),
      hint: 'with --offline the cache reuses stored steps without checking the mirror; --no-cache builds without the cache',
    });
  }
  return packageIndexDigest(text, arch);
}

/** The SHA256 lines of a Release file naming `*\/binary-ARCH/Packages*` or `binary-all`; the whole file when it has none. */
export function packageIndexDigest(release: string, arch: string): string {
  const lines: string[] = [];
  let inSha = false;
  for (const line of release.split('\n')) {
    if (/^SHA256:/.test(line)) {
      inSha = true;
      continue;
    }
    if (!/^\s/.test(line)) inSha = false;
    if (!inSha) continue;
    const [hash, size, path] = line.trim().split(/\s+/);
    if (path && new RegExp(`^[^/]+/binary-(${arch}|all)/Packages(\\.(xz|gz|bz2|lzma))?$`).test(path)) lines.push(`${hash} ${size} ${path}`);
  }
  return sha256(lines.length ? lines.sort().join('\n') : release);
}

class NotFound extends Error {}

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  if (url.startsWith('file:')) {
    try {
      return readFileSync(fileURLToPath(url), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFound('no such file');
      throw error;
    }
  }
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (response.status === 404) throw new NotFound('HTTP 404');
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.text();
}
