// Which variables are secret, which values are too weak to guard, and a scan that never puts a secret
// on a command line.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecretPolicy, scanForSecrets } from '../../../src/build/secrets.js';
import { type FakeBin, installFakeBin } from '../../helpers/fake-bin.js';
import { el, tempDir, writeTree } from '../../helpers/tree.js';

describe('secret names: whole secret words, not substrings', () => {
  const policy = new SecretPolicy();
  for (const name of [
    'OS_PASSWORD',
    'DIB_DEV_USER_PASSWORD',
    'MY_API_KEY',
    'GITHUB_TOKEN',
    'OS_APPLICATION_CREDENTIAL_SECRET',
    'DIB_SSH_PRIVATE_KEY',
    'db_passwd',
  ]) {
    it(`${name} is secret`, () => expect(policy.isSecret(name)).toBe(true));
  }
  for (const name of [
    'DIB_INSTALLTYPE_keystone',
    'DIB_REPOREF_keystone',
    'DIB_REPOLOCATION_keystone',
    'DIB_DEV_USER_AUTHORIZED_KEYS',
    'DIB_APT_KEYRING',
    'KEYSTONE_URL',
    'DIB_TOKENIZER',
  ]) {
    it(`${name} is not secret`, () => expect(policy.isSecret(name)).toBe(false));
  }
  it('elements declare more (environment-secrets); DIB_NOT_SECRETS declares exceptions', () => {
    const t = tempDir();
    writeTree(t.path, { app: el([], [], { 'environment-secrets': '# the app database\nAPP_DB_URL\n' }) });
    const p = SecretPolicy.forElements([{ path: join(t.path, 'app') }], ['OS_PASSWORD']);
    expect([p.isSecret('APP_DB_URL'), p.isSecret('OS_PASSWORD'), p.isSecret('OTHER_PASSWORD')]).toEqual([true, false, true]);
    t.remove();
  });
});

describe('weak secret values', () => {
  const policy = new SecretPolicy(new Set(['APP_SECRET_THING']));
  it('the build refuses DIB_* and declared secrets that are too short or too common, naming them (never their value)', () => {
    const problems = policy.weakValueProblems(
      { DIB_ROOT_PASSWORD: 'root', DIB_DEV_USER_PASSWORD: '12345678', APP_SECRET_THING: 'true', DIB_OTHER_PASSWORD: 'Str0ng-enough' },
      'from the environment',
    );
    expect(problems.map((p) => p.message.split(' ')[0])).toEqual(['APP_SECRET_THING', 'DIB_DEV_USER_PASSWORD', 'DIB_ROOT_PASSWORD']);
    for (const p of problems) {
      expect(p.exitCode).toBe(2);
      expect(p.message).not.toMatch(/\broot\b.*\broot\b|12345678/);
      expect(p.hint).toContain('DIB_NOT_SECRETS=');
    }
  });
  it("a weak value in a variable that is not the build's (a stray *_TOKEN in the shell) is not refused and not scanned for", () => {
    expect(policy.weakValueProblems({ CI_JOB_TOKEN: 'abc' }, 'from the environment')).toEqual([]);
    expect(policy.values({ CI_JOB_TOKEN: 'abc', OS_PASSWORD: 'Sup3r-S3cret' })).toEqual(['Sup3r-S3cret']);
  });
});

describe('the final scan', () => {
  let fake: FakeBin | undefined;
  afterEach(() => fake?.restore());
  it('feeds the values to grep on stdin, never on its command line, and fails naming the files', async () => {
    fake = installFakeBin({ grep: { passthrough: true } });
    const t = tempDir();
    mkdirSync(join(t.path, 'etc'));
    writeFileSync(join(t.path, 'etc', 'leaked'), 'password=Sup3r-S3cret-4711\n');
    writeFileSync(join(t.path, 'etc', 'clean'), 'nothing here\n');
    const { runner } = fake.runner();
    const error = await scanForSecrets(runner, [t.path], ['Sup3r-S3cret-4711']).catch((e: unknown) => e);
    expect((error as Error).message).toBe('a secret value was found in 1 file of the image or its manifests');
    expect((error as { details: string[] }).details).toEqual([`  ${join(t.path, 'etc', 'leaked')}`]);
    const [call] = fake.calls('grep');
    expect(call.args.join(' ')).not.toContain('Sup3r');
    expect(call.stdin).toBe('Sup3r-S3cret-4711\n');
    t.remove();
  });
});
