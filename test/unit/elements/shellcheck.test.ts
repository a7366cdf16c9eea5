// shellcheck (severity warning and above) passes on every shell script the project ships.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../helpers/cli.js';
import { shippedShellScripts } from '../../helpers/shipped.js';

const scripts = shippedShellScripts();

/** shellcheck's findings (gcc format, one per line) over files relative to the repository. */
function shellcheck(files: string[], extraArgs: string[] = []): string {
  const r = spawnSync('shellcheck', ['--severity=warning', '--format=gcc', ...extraArgs, '--', ...files], { cwd: REPO, encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `cannot run shellcheck (${r.error.message}); install the Debian package: apt-get install shellcheck (scripts/setup.sh does)`,
    );
  if (r.status !== 0 && r.stdout === '') throw new Error(`shellcheck exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

describe('shellcheck over the shipped shell scripts', () => {
  it('finds the hooks, bin and static scripts of the elements, scripts/*.sh and .ci/run', () => {
    for (const f of [
      'elements/dpkg/bin/install-packages',
      'elements/debootstrap/root.d/08-debootstrap',
      'elements/growroot/static/usr/local/sbin/growroot',
      'scripts/setup.sh',
      '.ci/run',
    ]) {
      expect(scripts.shebang).toContain(f);
    }
    expect(scripts.snippets).toContain('elements/base/environment.d/10-base-defaults.bash');
    expect(scripts.snippets).toContain('elements/base/image-verify.d/base-packages');
  });

  it('scripts with a sh/bash shebang have no shellcheck warnings or errors', () => {
    expect(shellcheck(scripts.shebang)).toBe('');
  });

  it('environment.d and image-verify.d snippets (no shebang, sourced or run by bash) have no warnings or errors as bash', () => {
    expect(shellcheck(scripts.snippets, ['--shell=bash'])).toBe('');
  });
});
