// elements/dpkg's install-packages against a recording apt-get: DIB's flags (-e removes without purge or
// autoremove, -u dist-upgrades and exits, -m maps, options after names), several names in one argument.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../helpers/cli.js';
import { type FakeBin, installFakeBin } from '../../helpers/fake-bin.js';
import { tempDir } from '../../helpers/tree.js';

const SCRIPT = join(REPO, 'elements', 'dpkg', 'bin', 'install-packages');
let fake: FakeBin;
beforeAll(() => {
  fake = installFakeBin({
    // It records the INITRD its maintainer scripts would see.
    'apt-get': { script: 'echo "${INITRD-unset}" >> "$INITRD_SEEN"' },
    // pkg-map --element E NAMES...: one line per name, "nova" maps to two packages (as DIB's maps may).
    'pkg-map': {
      script: 'shift 2; for n in "$@"; do if [ "$n" = nova ]; then echo "nova-api nova-common"; else echo "mapped-$n"; fi; done',
    },
  });
});
afterAll(() => fake.restore());

const seen = tempDir('dib-ts-install-packages-');
afterAll(() => seen.remove());

function installPackages(...args: string[]) {
  return installPackagesWith({}, ...args);
}

function installPackagesWith(extraEnv: Record<string, string>, ...args: string[]) {
  fake.clear();
  const initrdSeen = join(seen.path, 'initrd');
  rmSync(initrdSeen, { force: true });
  const r = spawnSync('bash', [SCRIPT, ...args], {
    env: { PATH: process.env.PATH, INITRD_SEEN: initrdSeen, ...extraEnv },
    encoding: 'utf8',
  });
  const apt = fake.argvs('apt-get').map((a) => a.slice(1).filter((w) => !w.startsWith('-') && !w.includes('::')));
  const initrd = existsSync(initrdSeen) ? readFileSync(initrdSeen, 'utf8').trim().split('\n') : [];
  return { status: r.status, stdout: r.stdout, apt, pkgMap: fake.argvs('pkg-map'), initrd };
}

describe('install-packages (dpkg)', () => {
  it('installs each name; an argument naming several packages is several apt arguments', () => {
    const r = installPackages('curl', 'grub-efi grub-pc-bin');
    expect(r.status).toBe(0);
    expect(r.apt).toEqual([['install', 'curl', 'grub-efi', 'grub-pc-bin']]);
  });
  it('-e removes with apt-get remove: no purge, no autoremove (as DIB)', () => {
    const r = installPackages('-e', 'gcc', 'make');
    expect(r.apt).toEqual([['remove', 'gcc', 'make']]);
  });
  it('options may follow the names (getopt, as DIB)', () => expect(installPackages('gcc', '-e').apt).toEqual([['remove', 'gcc']]));
  it('-u dist-upgrades and exits without installing the names', () => {
    expect(installPackages('-u', 'ignored').apt).toEqual([['dist-upgrade']]);
  });
  it("-m maps through the element's pkg-map (strictly), splitting mapped values", () => {
    const r = installPackages('-m', 'nova', 'nova', 'x');
    expect(r.pkgMap).toEqual([['pkg-map', '--element', 'nova', 'nova', 'x']]);
    expect(r.apt).toEqual([['install', 'nova-api', 'nova-common', 'mapped-x']]);
  });
  it('no packages: a message and no apt call', () => {
    const r = installPackages();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Not running install-packages install with empty packages list');
    expect(r.apt).toEqual([]);
  });
  it("apt's maintainer scripts run with INITRD=No (the kernel hook leaves the initramfs to one run after apt), unless the caller set INITRD", () => {
    expect(installPackages('linux-image-amd64').initrd).toEqual(['No']);
    expect(installPackages('-u').initrd).toEqual(['No']);
    expect(installPackagesWith({ INITRD: 'Yes' }, 'linux-image-amd64').initrd).toEqual(['Yes']);
  });
  it('an unknown option: usage and exit 1; -h: usage and exit 0', () => {
    expect(installPackages('-z', 'x').status).toBe(1);
    const help = installPackages('-h');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('usage: install-packages');
  });
});
