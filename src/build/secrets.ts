// Secrets: variables whose values must never reach logs, events, manifests, process arguments or the image.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError, UsageError } from '../core/errors.js';
import type { Runner } from '../core/exec.js';

/**
 * Secret words, matched as whole `_`-separated parts of a variable name (case-insensitive): OS_PASSWORD,
 * DIB_DEV_USER_PASSWORD, MY_API_KEY are secret; DIB_INSTALLTYPE_keystone, DIB_REPOREF_keystone,
 * SSH_AUTHORIZED_KEYS are not (a bare KEY is not a secret word: it is usually a path or a key name).
 */
const SECRET_WORDS = [
  ['PASSWORD'],
  ['PASSWD'],
  ['PASSPHRASE'],
  ['SECRET'],
  ['TOKEN'],
  ['CREDENTIAL'],
  ['CREDENTIALS'],
  ['PRIVATE', 'KEY'],
  ['API', 'KEY'],
  ['APIKEY'],
];

/** Values that are too short or too common to redact or scan for: they would match everywhere. */
const COMMON = new Set([
  'true',
  'false',
  'yes',
  'no',
  'on',
  'off',
  'none',
  'null',
  'root',
  'admin',
  'password',
  'secret',
  'source',
  'package',
  'debian',
  'ubuntu',
  'default',
  'changeme',
  'test',
]);
export const MIN_SECRET_LENGTH = 6;

export class SecretPolicy {
  constructor(
    /** Names elements declare secret (`environment-secrets` files, one per line). */
    readonly declared: ReadonlySet<string> = new Set(),
    /** Names the user declares not secret (DIB_NOT_SECRETS). */
    readonly notSecret: ReadonlySet<string> = new Set(),
  ) {}

  static forElements(elements: Array<{ path: string }>, notSecret: readonly string[]): SecretPolicy {
    const declared = new Set<string>();
    for (const e of elements) {
      const file = join(e.path, 'environment-secrets');
      if (!existsSync(file)) continue;
      for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim() && !line.trim().startsWith('#')) declared.add(line.trim());
    }
    return new SecretPolicy(declared, new Set(notSecret));
  }

  isSecret(name: string): boolean {
    if (this.notSecret.has(name)) return false;
    if (this.declared.has(name)) return true;
    const parts = name.toUpperCase().split('_');
    return SECRET_WORDS.some((word) => parts.some((_, i) => word.every((w, j) => parts[i + j] === w)));
  }

  /**
   * `env` as it may be shown (a dry run, a manifest): secret variables' values, and any value equal to a
   * known secret, as `***` — by name too, so a weak or unscanned value is never shown either.
   */
  redacted(env: Readonly<Record<string, string>>, secrets: readonly string[] = []): Record<string, string> {
    return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, this.isSecret(k) || secrets.includes(v) ? '***' : v]));
  }

  /** The secret values in `env` (redacted everywhere, scanned for in the image). */
  values(env: Readonly<Record<string, string | undefined>>): string[] {
    return [
      ...new Set(
        Object.entries(env)
          .filter(([k, v]) => v && this.isSecret(k) && !isWeak(v))
          .map(([, v]) => v!),
      ),
    ];
  }

  /**
   * Secret variables of the build (DIB_* and element-declared ones) whose value is too short or too common
   * to redact or scan for: refused before any hook runs, with a hint. Other variables from the caller's
   * environment (a shell's stray *_TOKEN) are not the build's: they are redacted when strong, ignored when weak.
   */
  weakValueProblems(env: Readonly<Record<string, string | undefined>>, where: string): UsageError[] {
    return Object.entries(env)
      .filter(([k, v]) => v && this.isSecret(k) && (k.startsWith('DIB_') || this.declared.has(k)) && isWeak(v))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(
        ([k]) =>
          new UsageError(
            'weak-secret',
            `${k} (${where}) is a secret variable with a value too short or too common to keep out of logs and the image`,
            {
              hint: `use a value of at least ${MIN_SECRET_LENGTH} characters that is not a common word, or declare it not secret: DIB_NOT_SECRETS=${k}`,
            },
          ),
      );
  }
}

function isWeak(value: string): boolean {
  return value.length < MIN_SECRET_LENGTH || /^\d+$/.test(value) || COMMON.has(value.toLowerCase());
}

/**
 * Fail the build if a secret value appears anywhere in the image tree or the manifests next to it. The
 * values reach grep on its standard input (`-f -`), never on its command line (visible in ps).
 */
export async function scanForSecrets(runner: Runner, paths: string[], secrets: string[]): Promise<void> {
  const hits = await filesWithSecrets(runner, paths, secrets);
  if (hits.length) {
    throw new BuildError(`a secret value was found in ${hits.length} file${hits.length > 1 ? 's' : ''} of the image or its manifests`, {
      details: hits.slice(0, 20).map((h) => `  ${h}`),
      hint: "an element wrote a secret variable's value into the image; fix that element (the value itself is not shown)",
    });
  }
}

/** Files below `paths` that contain one of the secret values (they reach grep on its standard input). */
export async function filesWithSecrets(runner: Runner, paths: string[], secrets: string[]): Promise<string[]> {
  if (!secrets.length) return [];
  const existing = paths.filter((p) => existsSync(p));
  if (!existing.length) return [];
  const r = await runner.run(
    [
      'grep',
      '-rlF',
      '--binary-files=text',
      '--no-messages',
      '--exclude-dir=proc',
      '--exclude-dir=sys',
      '--exclude-dir=dev',
      '-f',
      '-',
      '--',
      ...existing,
    ],
    { input: secrets.join('\n') + '\n', capture: true, okStatus: [0, 1, 2] },
  );
  return r.stdout.split('\n').filter(Boolean);
}
