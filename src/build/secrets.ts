// Secrets: variables that must never reach logs, events, manifests or the image.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';
import { isSecretName } from './environment.js';

/** Names elements declare secret in an `environment-secrets` file (one variable name per line). */
export function declaredSecretNames(elements: Array<{ path: string }>): string[] {
  const names: string[] = [];
  for (const e of elements) {
    const file = join(e.path, 'environment-secrets');
    if (existsSync(file))
      names.push(
        ...readFileSync(file, 'utf8')
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => l && !l.startsWith('#')),
      );
  }
  return names;
}

export function secretValuesOf(env: Record<string, string | undefined>, declared: string[]): string[] {
  return Object.entries(env)
    .filter(([k, v]) => (isSecretName(k) || declared.includes(k)) && v && v.length >= 4)
    .map(([, v]) => v!);
}

/**
 * Fail the build if a secret value appears anywhere in the image tree or the manifests next to it.
 * grep -F over the mounted tree (kernel filesystems excluded): seconds for a cloud image.
 */
export async function scanForSecrets(runner: Runner, paths: string[], secrets: string[]): Promise<void> {
  if (!secrets.length) return;
  const existing = paths.filter((p) => existsSync(p));
  if (!existing.length) return;
  const patterns = secrets.flatMap((s) => ['-e', s]);
  const r = await runner.run(
    [
      'grep',
      '-rlF',
      '--binary-files=text',
      '--no-messages',
      '--exclude-dir=proc',
      '--exclude-dir=sys',
      '--exclude-dir=dev',
      ...patterns,
      ...existing,
    ],
    { capture: true, okStatus: [0, 1, 2] },
  );
  const hits = r.stdout.split('\n').filter(Boolean);
  if (hits.length) {
    throw new BuildError(`a secret value was found in ${hits.length} file${hits.length > 1 ? 's' : ''} of the image or its manifests`, {
      details: hits.slice(0, 20).map((h) => `  ${h}`),
      hint: "an element wrote a secret variable's value into the image; fix that element (the value itself is not shown)",
    });
  }
}
