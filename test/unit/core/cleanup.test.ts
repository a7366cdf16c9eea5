// The cleanup stack and the safe-removal guard.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CleanupStack, attachCleanupFailures } from '../../../src/core/cleanup-stack.js';
import { Ledger } from '../../../src/core/ledger.js';
import { Resources } from '../../../src/core/resources.js';
import { BuildError } from '../../../src/core/errors.js';
import { safeRemoveTree } from '../../../src/core/fs.js';
import { mountsBelow } from '../../../src/core/mountinfo.js';
import { restoreResolvConf, swapInResolvConf } from '../../../src/target/resolv-conf.js';
import { lstatSync, rmSync, symlinkSync } from 'node:fs';
import { tempDir } from '../../helpers/tree.js';

describe('CleanupStack', () => {
  it('runs every undo last-in-first-out, even when some fail, and reports the failures', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    stack.push('a', () => void order.push('a'));
    stack.push(
      'b',
      () => {
        order.push('b');
        throw new Error('b broke');
      },
      'fix b by hand',
    );
    stack.push('c', async () => void order.push('c'));
    const failures = await stack.unwind();
    expect(order).toEqual(['c', 'b', 'a']);
    expect(failures.map((f) => [f.label, f.manual])).toEqual([['b', 'fix b by hand']]);
    expect(stack.size).toBe(0);
  });
  it('cleanup failures are attached to the primary error, never replace it', async () => {
    const primary = new BuildError('hook failed');
    attachCleanupFailures(primary, [{ label: 'detach /dev/loop9', error: new Error('busy'), manual: 'losetup -d /dev/loop9' }]);
    expect(primary.message).toBe('hook failed');
    expect(primary.cleanupFailures).toEqual(['detach /dev/loop9: busy (release by hand: losetup -d /dev/loop9)']);
  });
  it('a nested scope is unwound on success and on error; a failed undo after success is an error, not dropped', async () => {
    const t = tempDir();
    const resources = new Resources(new Ledger(join(t.path, 'ledger.jsonl'), t.path));
    const seen: string[] = [];
    await resources.using(async (s) => s.defer('x', () => void seen.push('x')));
    await expect(
      resources.using(async (s) => {
        s.defer('y', () => void seen.push('y'));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(seen).toEqual(['x', 'y']);
    await expect(
      resources.using(async (s) =>
        s.defer(
          'unmount z',
          () => {
            throw new Error('busy');
          },
          'umount -l z',
        ),
      ),
    ).rejects.toThrow(/cleanup failed: unmount z: busy/);
    t.remove();
  });
  it('acquire records the resource before acquiring and marks it released after its undo', async () => {
    const t = tempDir();
    const ledger = new Ledger(join(t.path, 'ledger.jsonl'), t.path);
    const resources = new Resources(ledger);
    let inLedgerWhileAcquiring = '';
    await resources.acquire(
      { kind: 'mount', path: '/x' },
      async () => {
        inLedgerWhileAcquiring = readFileSync(ledger.path, 'utf8');
        return 'v';
      },
      { label: 'unmount /x', undo: () => {} },
    );
    expect(inLedgerWhileAcquiring).toContain('"kind":"mount","path":"/x"');
    expect(await resources.unwind()).toEqual([]);
    expect(readFileSync(ledger.path, 'utf8')).toMatch(/"released":0/);
    t.remove();
  });
});

describe('safe removal', () => {
  it('removes an ordinary tree', () => {
    const t = tempDir();
    mkdirSync(join(t.path, 'a/b'), { recursive: true });
    writeFileSync(join(t.path, 'a/b/f'), 'x');
    safeRemoveTree(t.path);
    expect(existsSync(t.path)).toBe(false);
  });
  it('refuses a tree with a mount below it (checked against /proc/self/mountinfo)', () => {
    // /proc is always mounted: removing "/" must be refused without touching anything.
    expect(mountsBelow('/').length).toBeGreaterThan(0);
    expect(() => safeRemoveTree('/')).toThrow(/refusing to remove \/: \d+ mounts are still below it/);
  });
});

describe('resolv.conf swap', () => {
  it('puts the image file back, keeps an element-made symlink, honours .ORIG', () => {
    const t = tempDir();
    mkdirSync(join(t.path, 'etc'));
    writeFileSync(join(t.path, 'etc/resolv.conf'), 'nameserver 10.0.0.1\n');
    swapInResolvConf(t.path);
    expect(readFileSync(join(t.path, 'etc/resolv.conf'), 'utf8')).toContain('resolv.conf used during the image build');
    restoreResolvConf(t.path);
    expect(readFileSync(join(t.path, 'etc/resolv.conf'), 'utf8')).toBe('nameserver 10.0.0.1\n');
    expect(existsSync(join(t.path, 'etc/resolv.conf.ORIG'))).toBe(false);

    swapInResolvConf(t.path);
    writeFileSync(join(t.path, 'etc/resolv.conf.ORIG'), 'nameserver 10.9.9.9\n');
    restoreResolvConf(t.path);
    expect(readFileSync(join(t.path, 'etc/resolv.conf'), 'utf8')).toBe('nameserver 10.9.9.9\n');

    swapInResolvConf(t.path);
    rmSync(join(t.path, 'etc/resolv.conf'));
    symlinkSync('../run/systemd/resolve/stub-resolv.conf', join(t.path, 'etc/resolv.conf'));
    restoreResolvConf(t.path);
    expect(lstatSync(join(t.path, 'etc/resolv.conf')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(t.path, 'etc/resolv.conf.ORIG'))).toBe(false);
    t.remove();
  });
});
