// The outside world a step reads: apt suites. A suite is keyed by the package indexes its InRelease lists
// for the build's architecture (and `all`), not by the whole file: a mirror re-signs InRelease every few
// hours with a new Date, which must not invalidate anything; a changed package index must.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BuildError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import { sha256 } from './manifest.js';

/**
 * The digest of the suite's package-index lines for `arch`; reads `MIRROR/dists/SUITE/InRelease` (or
 * Release) with curl, which honours the caller's proxy variables as apt does.
 */
export async function aptSuiteFingerprint(runner: Runner, mirror: string, suite: string, arch: string): Promise<string> {
  const base = `${mirror.replace(/\/+$/, '')}/dists/${suite}`;
  let text: string | undefined;
  const tried: string[] = [];
  let missing = 0;
  for (const name of ['InRelease', 'Release']) {
    const url = `${base}/${name}`;
    try {
      text = await fetchText(runner, url);
      break;
    } catch (error) {
      if (error instanceof NotFound) missing++;
      tried.push(`${url}: ${(error as Error).message}`);
    }
  }
  // The mirror answered that the suite does not exist (e.g. no -updates for testing): nothing to key.
  if (text === undefined && missing === 2) return 'absent';
  if (text === undefined) {
    throw new BuildError(`apt suite ${suite} at ${mirror} could not be read`, { details: tried.map((t) => `  ${t}`) });
  }
  return packageIndexDigest(text, arch);
}

/**
 * The SHA256 lines of a Release file naming `*\/binary-ARCH/Packages*` or `binary-all`; for a file with
 * none (a flat repository), the whole file without what a re-signing changes (dates, the signature).
 */
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
    if (path && new RegExp(`(^|/)binary-(${arch}|all)/Packages(\\.(xz|gz|bz2|lzma))?$`).test(path)) lines.push(`${hash} ${size} ${path}`);
  }
  if (lines.length) return sha256(lines.sort().join('\n'));
  const body = release.replace(/-----BEGIN PGP SIGNATURE-----[\s\S]*$/, '');
  return sha256(
    body
      .split('\n')
      .filter((l) => !/^(Date|Valid-Until|Hash|-----BEGIN PGP SIGNED MESSAGE-----):?/.test(l))
      .join('\n'),
  );
}

class NotFound extends Error {}

async function fetchText(runner: Runner, url: string): Promise<string> {
  if (url.startsWith('file:')) {
    try {
      return readFileSync(fileURLToPath(url), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFound('no such file');
      throw error;
    }
  }
  const marker = '\n__DIB_TS_HTTP_STATUS__';
  const { stdout } = await runner.run(
    ['curl', '--silent', '--show-error', '--location', '--max-time', '20', '--write-out', `${marker}%{http_code}`, url],
    {
      capture: true,
    },
  );
  const at = stdout.lastIndexOf(marker);
  const status = at < 0 ? '' : stdout.slice(at + marker.length).trim();
  if (status === '404') throw new NotFound('HTTP 404');
  if (!status.startsWith('2')) throw new Error(`HTTP ${status || 'error'}`);
  return stdout.slice(0, at);
}
