// The host's resolv.conf swapped into the image for the build, and the image's own put back afterwards.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { restoreResolvConf, swapInResolvConf } from '../../../src/target/resolv-conf.js';
import { tempDir } from '../../helpers/tree.js';

const MARKER = '# resolv.conf used during the image build; replaced when the build ends\n';
const HOST = existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : 'nameserver 8.8.8.8\n';

let dir: ReturnType<typeof tempDir> | undefined;
afterEach(() => {
  dir?.remove();
  dir = undefined;
});

function tree(original?: string | { symlink: string }) {
  dir = tempDir();
  const etc = join(dir.path, 'etc');
  mkdirSync(etc);
  const conf = join(etc, 'resolv.conf');
  if (typeof original === 'string') writeFileSync(conf, original);
  else if (original) symlinkSync(original.symlink, conf);
  return { root: dir.path, conf, orig: `${conf}.ORIG` };
}

describe('resolv.conf swap', () => {
  it("swaps in the host's resolv.conf (marked, mode 0644) and keeps the image's as resolv.conf.ORIG; restore puts it back", () => {
    const t = tree('nameserver 192.0.2.1\n');
    swapInResolvConf(t.root);
    expect(readFileSync(t.conf, 'utf8')).toBe(MARKER + HOST);
    expect(statSync(t.conf).mode & 0o777).toBe(0o644);
    expect(readFileSync(t.orig, 'utf8')).toBe('nameserver 192.0.2.1\n');
    restoreResolvConf(t.root);
    expect(readFileSync(t.conf, 'utf8')).toBe('nameserver 192.0.2.1\n');
    expect(existsSync(t.orig)).toBe(false);
  });

  it("a symlinked resolv.conf (systemd-resolved's stub) is moved aside and restored as the same symlink", () => {
    const t = tree({ symlink: '../run/systemd/resolve/stub-resolv.conf' });
    swapInResolvConf(t.root);
    expect(lstatSync(t.conf).isSymbolicLink()).toBe(false);
    expect(readlinkSync(t.orig)).toBe('../run/systemd/resolve/stub-resolv.conf');
    restoreResolvConf(t.root);
    expect(readlinkSync(t.conf)).toBe('../run/systemd/resolve/stub-resolv.conf');
    expect(existsSync(t.orig)).toBe(false);
  });

  it('an image without resolv.conf has none after the build', () => {
    const t = tree();
    swapInResolvConf(t.root);
    expect(readFileSync(t.conf, 'utf8').startsWith(MARKER)).toBe(true);
    restoreResolvConf(t.root);
    expect(existsSync(t.conf)).toBe(false);
  });

  it('a resolv.conf an element wrote during the build (no marker) is kept and the .ORIG dropped', () => {
    const t = tree('nameserver 192.0.2.1\n');
    swapInResolvConf(t.root);
    writeFileSync(t.conf, 'nameserver 198.51.100.7\n');
    restoreResolvConf(t.root);
    expect(readFileSync(t.conf, 'utf8')).toBe('nameserver 198.51.100.7\n');
    expect(existsSync(t.orig)).toBe(false);
  });

  it('a symlink an element put in place during the build is kept', () => {
    const t = tree('nameserver 192.0.2.1\n');
    swapInResolvConf(t.root);
    rmSync(t.conf);
    symlinkSync('/run/resolvconf/resolv.conf', t.conf);
    restoreResolvConf(t.root);
    expect(readlinkSync(t.conf)).toBe('/run/resolvconf/resolv.conf');
    expect(existsSync(t.orig)).toBe(false);
  });

  it('an element that edited .ORIG decides the final content (the DIB interface)', () => {
    const t = tree('nameserver 192.0.2.1\n');
    swapInResolvConf(t.root);
    writeFileSync(t.orig, 'nameserver 203.0.113.9\n');
    restoreResolvConf(t.root);
    expect(readFileSync(t.conf, 'utf8')).toBe('nameserver 203.0.113.9\n');
  });

  it('a tree without /etc is left alone', () => {
    dir = tempDir();
    swapInResolvConf(dir.path);
    restoreResolvConf(dir.path);
    expect(existsSync(join(dir.path, 'etc'))).toBe(false);
  });
});
