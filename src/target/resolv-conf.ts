// Swap the host's resolv.conf into the image for the build and restore the image's own afterwards.
import { chmodSync, existsSync, lstatSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lstatIfExists } from '../core/fs.js';
import { pathInTree } from '../core/tree-read.js';

const MARKER = '# resolv.conf used during the image build; replaced when the build ends\n';

export function swapInResolvConf(root: string): void {
  // Never through the image's symlinks: an image whose /etc is a link is left alone.
  const etc = pathInTree(root, 'etc');
  if (!etc || !lstatSync(etc).isDirectory()) return;
  const conf = join(etc, 'resolv.conf');
  const orig = join(etc, 'resolv.conf.ORIG');
  if (exists(conf)) renameSync(conf, orig);
  const host = existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : 'nameserver 8.8.8.8\n';
  writeFileSync(conf, MARKER + host, { flag: 'wx', mode: 0o644 });
  chmodSync(conf, 0o644);
}

/**
 * Restore: if an element replaced the build copy (a symlink, or a file without our marker) keep it;
 * otherwise remove the build copy and put `.ORIG` back. `.ORIG` is DIB's interface for the final content.
 */
export function restoreResolvConf(root: string): void {
  const etc = pathInTree(root, 'etc');
  if (!etc || !lstatSync(etc).isDirectory()) return;
  const conf = join(etc, 'resolv.conf');
  const orig = join(etc, 'resolv.conf.ORIG');
  const isBuildCopy = exists(conf) && !lstatSync(conf).isSymbolicLink() && readFileSync(conf, 'utf8').startsWith(MARKER);
  if (exists(conf) && !isBuildCopy) {
    if (exists(orig)) rmSync(orig);
    return;
  }
  if (exists(conf)) rmSync(conf);
  if (exists(orig)) renameSync(orig, conf);
}

function exists(path: string): boolean {
  return lstatIfExists(path) !== undefined;
}
