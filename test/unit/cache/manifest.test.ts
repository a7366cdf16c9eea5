// Step keys: each input class changes the key, volatile values do not, and a miss names what changed.
import { describe, expect, it } from 'vitest';
import { environmentEntries, explainDifference, isKeyedVariable, manifestKey } from '../../../src/cache/manifest.js';
import { packageIndexDigest } from '../../../src/cache/world.js';

const base = {
  step: 'install.d/60-my-app',
  parent: 'p1',
  'hook install.d/60-my-app': 'my-el:x:aaa',
  'envfile 10-my.bash': 'x:bbb',
  'data my-el/static/etc/motd': '420:ccc',
  'world http://deb/debian bookworm': 'ddd',
  'input /etc/my.conf': 'x:eee',
  engine: 'fff',
  ...environmentEntries({ DIB_RELEASE: 'bookworm', ARCH: 'amd64' }),
};

describe('step keys', () => {
  it('the key does not depend on the order of the manifest entries', () => {
    const reversed = Object.fromEntries(Object.entries(base).reverse());
    expect(manifestKey(reversed)).toBe(manifestKey(base));
  });

  it.each(Object.keys(base))('changing the input "%s" changes the key', (name) => {
    expect(manifestKey({ ...base, [name]: `${base[name as keyof typeof base]}-changed` })).not.toBe(manifestKey(base));
  });

  it('adding an input changes the key', () => {
    expect(manifestKey({ ...base, 'data my-el/bin/new-tool': '493:999' })).not.toBe(manifestKey(base));
  });

  it('DIB_* and engine variables are keyed; work directories, the command line and tracing are not', () => {
    for (const name of ['DIB_RELEASE', 'DIB_DEV_USER_PASSWORD', 'ARCH', 'IMAGE_ELEMENT', 'FS_TYPE', 'DIB_ROOT_LABEL'])
      expect(isKeyedVariable(name)).toBe(true);
    for (const name of [
      'TMP_BUILD_DIR',
      'TMP_MOUNT_PATH',
      'TARGET_ROOT',
      'ELEMENTS_PATH',
      'DIB_ARGS',
      'DIB_ENV',
      'DIB_DEBUG_TRACE',
      'DIB_IMAGE_CACHE',
      'HOME',
      'SSH_AUTH_SOCK',
      'PWD',
      'DIB_EXPLAIN_CACHE',
      'DIB_CACHE',
      'DIB_STRICT',
      'DIB_OFFLINE',
      'DIB_TS_FAULT_STORE',
    ])
      expect(isKeyedVariable(name)).toBe(false);
  });

  it('volatile values leave the environment entries unchanged: work directory, output directory, pid-like values', () => {
    const a = environmentEntries({
      DIB_RELEASE: 'bookworm',
      TMP_BUILD_DIR: '/tmp/dib_build.AAAA',
      IMAGE_NAME: '/out/one/image',
      PPID: '100',
    });
    const b = environmentEntries({
      DIB_RELEASE: 'bookworm',
      TMP_BUILD_DIR: '/tmp/dib_build.BBBB',
      IMAGE_NAME: '/elsewhere/image',
      PPID: '200',
    });
    expect(a).toEqual(b);
    // The output name is not keyed (builds of one image under two names share steps) unless declared.
    expect(environmentEntries({ IMAGE_NAME: '/out/other-name' })).toEqual(environmentEntries({ IMAGE_NAME: '/out/image' }));
    const declared = (v: string) => environmentEntries({ IMAGE_NAME: v }, ['IMAGE_NAME']);
    expect(declared('/out/other-name')).not.toEqual(declared('/out/image'));
    expect(declared('/elsewhere/image')).toEqual(declared('/out/image'));
  });

  it('values are stored as digests, never in clear (some are secrets)', () => {
    const entries = environmentEntries({ DIB_DEV_USER_PASSWORD: 'Sup3r-S3cret-Value-4711' });
    expect(JSON.stringify(entries)).not.toContain('Sup3r');
  });

  it('a variable an element declares is keyed even outside DIB_*, and "unset" when absent', () => {
    expect(environmentEntries({ MY_TOKEN_URL: 'a' }, ['MY_TOKEN_URL'])).toHaveProperty(['env MY_TOKEN_URL']);
    expect(environmentEntries({}, ['MY_TOKEN_URL'])).toEqual({ 'env MY_TOKEN_URL': 'unset' });
  });

  it('a miss is explained by the inputs that changed, named as a user knows them', () => {
    const now = { ...base, 'hook install.d/60-my-app': 'my-el:x:zzz', 'env DIB_RELEASE': 'x', 'data my-el/bin/new': '1' };
    delete (now as Record<string, string>)['input /etc/my.conf'];
    expect(explainDifference(base, now)).toEqual([
      'element file my-el/bin/new: added',
      'variable DIB_RELEASE: value changed',
      'install.d/60-my-app: content changed',
      'declared input /etc/my.conf: removed',
    ]);
    expect(explainDifference(base, { ...base, 'world http://deb/debian bookworm': 'new' })).toEqual([
      'mirror http://deb/debian bookworm: package index changed',
    ]);
  });
});

describe('apt suite fingerprint', () => {
  const release = (date: string, packages: string) => `Origin: Debian
Date: ${date}
SHA256:
 ${packages} 1234 main/binary-amd64/Packages.xz
 1111111111111111111111111111111111111111111111111111111111111111 99 main/binary-arm64/Packages.xz
 2222222222222222222222222222222222222222222222222222222222222222 77 main/binary-all/Packages.xz
 3333333333333333333333333333333333333333333333333333333333333333 55 main/i18n/Translation-en.bz2
`;
  const a = 'a'.repeat(64);
  it('a re-signed Release (new Date) keeps the fingerprint; a changed package index for the arch changes it', () => {
    expect(packageIndexDigest(release('Sat, 01 Jan 2026', a), 'amd64')).toBe(packageIndexDigest(release('Sun, 02 Jan 2026', a), 'amd64'));
    expect(packageIndexDigest(release('Sat, 01 Jan 2026', a), 'amd64')).not.toBe(
      packageIndexDigest(release('Sat, 01 Jan 2026', 'b'.repeat(64)), 'amd64'),
    );
  });
  it('another architecture changing does not change the fingerprint', () => {
    const other = release('x', a).replace('1'.repeat(64), '9'.repeat(64));
    expect(packageIndexDigest(other, 'amd64')).toBe(packageIndexDigest(release('x', a), 'amd64'));
    expect(packageIndexDigest(other, 'arm64')).not.toBe(packageIndexDigest(release('x', a), 'arm64'));
  });
});
