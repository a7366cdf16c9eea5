// The debootstrap cache hands out only what it verified: a tarball with a matching digest is unpacked;
// a truncated, altered or undigested one is rebuilt (debootstrap runs again), never unpacked.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../helpers/cli.js';
import { type FakeBin, installFakeBin } from '../../helpers/fake-bin.js';
import { tempDir } from '../../helpers/tree.js';

const HOOK = join(REPO, 'elements/debootstrap/root.d/08-debootstrap');
let fake: FakeBin | undefined;
afterEach(() => fake?.restore());

function setup() {
  // A fake debootstrap that makes a small tree; tar and sha256sum are the real ones.
  fake = installFakeBin({
    // It records the dpkg configuration it found in the target (what its dpkg runs would read).
    debootstrap: {
      script:
        't="${@: -2:1}"; mkdir -p "$t/etc" && echo "from debootstrap" > "$t/etc/marker"; cat "$t"/etc/dpkg/dpkg.cfg.d/* > "$t/etc/dpkg-config-seen" 2>/dev/null || true',
    },
    tar: { passthrough: true },
  });
  const t = tempDir();
  const cache = join(t.path, 'cache');
  mkdirSync(cache);
  const env = {
    PATH: process.env.PATH,
    DISTRO_NAME: 'debian',
    DIB_RELEASE: 'bookworm',
    ARCH: 'amd64',
    DIB_DISTRIBUTION_MIRROR: 'http://mirror.invalid/debian',
    DIB_DEBIAN_COMPONENTS: 'main',
    DIB_DEBOOTSTRAP_EXTRA_ARGS: '',
    DIB_DEBOOTSTRAP_INCLUDE: '',
    DIB_DEBOOTSTRAP_CACHE_MAX_AGE: '7',
    DIB_IMAGE_CACHE: cache,
    DIB_LOCKFILES: join(t.path, 'locks'),
  };
  const run = () => {
    const target = join(t.path, `target-${Math.random().toString(36).slice(2)}`);
    mkdirSync(target);
    const r = spawnSync('bash', [HOOK], { env: { ...env, TARGET_ROOT: target }, encoding: 'utf8' });
    return { ...r, target };
  };
  const tarball = () =>
    join(
      cache,
      readdirSync(cache).find((n) => n.endsWith('.tar'))!,
    );
  return { t, cache, run, tarball };
}

describe('the debootstrap cache verifies what it hands out', () => {
  it('a fresh run stores the tarball with its digest; the next run unpacks it after checking the digest', () => {
    const s = setup();
    expect(s.run().status).toBe(0);
    expect(fake!.calls('debootstrap')).toHaveLength(1);
    const tar = s.tarball();
    expect(execFileSync('sha256sum', [tar]).toString().split(' ')[0]).toBe(readFileSync(`${tar}.sha256`, 'utf8').split(' ')[0]);
    const again = s.run();
    expect(again.stdout).toContain('(digest verified)');
    expect(readFileSync(join(again.target, 'etc/marker'), 'utf8')).toBe('from debootstrap\n');
    expect(fake!.calls('debootstrap')).toHaveLength(1);
    s.t.remove();
  });

  it("debootstrap's dpkg runs with force-unsafe-io, and the setting is in neither the tree nor the cached tarball", () => {
    const s = setup();
    const r = s.run();
    expect(r.status).toBe(0);
    expect(readFileSync(join(r.target, 'etc/dpkg-config-seen'), 'utf8')).toBe('force-unsafe-io\n');
    expect(readdirSync(join(r.target, 'etc/dpkg/dpkg.cfg.d'))).toEqual([]);
    expect(execFileSync('tar', ['-tf', s.tarball()]).toString()).not.toContain('unsafe-io');
    s.t.remove();
  });

  for (const [name, spoil] of [
    ['truncated', (tar: string) => writeFileSync(tar, readFileSync(tar).subarray(0, 1024))],
    [
      'altered (same size)',
      (tar: string) =>
        writeFileSync(tar, Buffer.from(readFileSync(tar).toString('latin1').replace('from debootstrap', 'from an attacker'), 'latin1')),
    ],
    ['without a digest (an older cache, or killed before the digest was written)', (tar: string) => execFileSync('rm', [`${tar}.sha256`])],
    ['whose digest file has an extra malformed line', (tar: string) => appendFileSync(`${tar}.sha256`, 'garbage\n')],
  ] as const) {
    it(`a cached tarball ${name} is rebuilt with a warning, never unpacked`, () => {
      const s = setup();
      expect(s.run().status).toBe(0);
      spoil(s.tarball());
      const r = s.run();
      expect(r.status).toBe(0);
      expect(r.stderr).toContain('does not match its digest (truncated, altered or unverified); building it again');
      expect(fake!.calls('debootstrap')).toHaveLength(2);
      expect(readFileSync(join(r.target, 'etc/marker'), 'utf8')).toBe('from debootstrap\n');
      expect(existsSync(`${s.tarball()}.sha256`)).toBe(true);
      s.t.remove();
    });
  }
});
