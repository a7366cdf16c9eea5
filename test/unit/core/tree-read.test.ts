// Reading an untrusted tree from the host: links followed only while they stay inside, regular files only.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { TreeReader, UnsafeTreePath } from '../../../src/core/tree-read.js';
import { tempDir, writeTree } from '../../helpers/tree.js';

const dir = tempDir();
afterAll(() => dir.remove());
const outside = join(dir.path, 'outside');
const tree = join(dir.path, 'tree');
writeTree(outside, { secret: 'host secret\n' });
writeTree(tree, {
  etc: {
    'machine-id': 'uninitialized\n',
    absolute: { symlink: '/etc/passwd' },
    climbing: { symlink: '../../outside/secret' },
    inside: { symlink: '../usr/lib/os-release' },
    loop: { symlink: 'loop' },
  },
  usr: { lib: { 'os-release': 'ID=debian\n' }, sbin: { tool: 'x' } },
  sbin: { symlink: 'usr/sbin' },
  tmp: { symlink: '/root' },
});
execFileSync('mkfifo', [join(tree, 'etc/fifo')]);
const image = new TreeReader(tree);
const finding = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    if (error instanceof UnsafeTreePath) return error.message;
    throw error;
  }
  return undefined;
};

describe('TreeReader', () => {
  it('reads regular files and follows relative links that stay inside (merged-usr /sbin)', () => {
    expect(image.readText('etc/machine-id')).toBe('uninitialized\n');
    expect(image.readText('etc/inside')).toBe('ID=debian\n');
    expect(image.list('sbin')).toEqual(['tool']);
    expect(image.exists('sbin/tool')).toBe(true);
    expect(image.readText('etc/missing')).toBeUndefined();
    expect(image.list('var/lib/apt/lists')).toEqual([]);
  });
  it('an absolute link is a finding, never followed to the host path', () => {
    expect(finding(() => image.readText('etc/absolute'))).toBe(
      '/etc/absolute is a symlink to /etc/passwd, a path outside the image as the host sees it (not followed)',
    );
    expect(finding(() => image.list('tmp'))).toMatch(/^\/tmp is a symlink to \/root/);
    expect(finding(() => image.exists('tmp/x'))).toMatch(/^\/tmp is a symlink to \/root/);
  });
  it('a relative link climbing above the root is a finding', () => {
    expect(finding(() => image.readText('etc/climbing'))).toBe(
      '/etc/climbing is a symlink to ../../outside/secret, which leads out of the image (not followed)',
    );
  });
  it('presence and link tests do not follow the last component', () => {
    expect(image.exists('etc/absolute')).toBe(true);
    expect(image.isLink('etc/absolute')).toBe(true);
  });
  it('a link loop and a FIFO are findings; the FIFO is never read (this would block)', () => {
    expect(finding(() => image.readText('etc/loop'))).toMatch(/too many levels of symbolic links/);
    expect(finding(() => image.readText('etc/fifo'))).toBe('/etc/fifo is a FIFO, not a regular file (not read)');
    expect(finding(() => image.list('etc/machine-id'))).toBe('/etc/machine-id is a regular file, not a directory (not listed)');
  });
  it('walkFiles visits regular files only, through no link', () => {
    const seen: string[] = [];
    image.walkFiles('etc', (p) => seen.push(p));
    expect(seen).toEqual(['/etc/machine-id']);
  });
});
