// Mounts into the image tree against a fake mount/umount: the kernel filesystems (argv, order, ledger,
// reverse unwinding) and the read-only hooks bind.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LEDGER_NAME, Ledger } from '../../../src/core/ledger.js';
import { Resources } from '../../../src/core/resources.js';
import { bindHooks, mountKernelFilesystems } from '../../../src/target/mounts.js';
import { type FakeBin, type FakeTool, installFakeBin } from '../../helpers/fake-bin.js';
import { fakeKernelTools, kernelState } from '../../helpers/fake-kernel.js';

let fake: FakeBin | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

function setup(tools: Record<string, FakeTool> = {}) {
  const kernel = fakeKernelTools();
  fake = installFakeBin({ mount: kernel.mount, umount: kernel.umount, ...tools });
  const { runner } = fake.runner();
  const ledgerPath = join(fake.dir, LEDGER_NAME);
  const resources = new Resources(new Ledger(ledgerPath, fake.dir));
  const root = join(fake.dir, 'mnt');
  mkdirSync(root);
  const ledger = () =>
    readFileSync(ledgerPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .slice(1)
      .map((l) => JSON.parse(l) as unknown);
  return { fake, runner, resources, root, ledger };
}

describe('mountKernelFilesystems', () => {
  it('mounts proc, a /dev bind, a private devpts and a read-only sysfs, in that order', async () => {
    const t = setup();
    await mountKernelFilesystems(t.runner, t.root, t.resources);
    expect(t.fake.argvs()).toEqual([
      ['mount', '-t', 'proc', 'proc', `${t.root}/proc`],
      ['mount', '--bind', '/dev', `${t.root}/dev`],
      ['mount', '-t', 'devpts', '-o', 'newinstance,ptmxmode=0666,mode=620,gid=5', 'devpts', `${t.root}/dev/pts`],
      ['mount', '-t', 'sysfs', '-o', 'ro', 'sysfs', `${t.root}/sys`],
    ]);
    for (const d of ['proc', 'dev', 'dev/pts', 'sys']) expect(existsSync(join(t.root, d))).toBe(true);
  });

  it('records each mount in the ledger; unwinding unmounts them in reverse and marks them released', async () => {
    const t = setup();
    await mountKernelFilesystems(t.runner, t.root, t.resources);
    expect(t.ledger()).toEqual(['proc', 'dev', 'dev/pts', 'sys'].map((d, id) => ({ id, kind: 'mount', path: `${t.root}/${d}` })));
    t.fake.clear();
    expect(await t.resources.unwind()).toEqual([]);
    expect(t.fake.argvs()).toEqual(['sys', 'dev/pts', 'dev', 'proc'].map((d) => ['umount', `${t.root}/${d}`]));
    expect(kernelState(t.fake).mounts).toEqual([]);
    expect(t.ledger().slice(4)).toEqual([{ released: 3 }, { released: 2 }, { released: 1 }, { released: 0 }]);
  });

  it('a failing mount stops there; the ledger names it, and unwinding releases only the earlier ones', async () => {
    const kernel = fakeKernelTools();
    // The third mount (devpts) fails.
    const t = setup({
      mount: { script: `if [ "$FAKE_CALL" = 3 ]; then echo "mount: devpts: permission denied" >&2; exit 32; fi\n${kernel.mount.script}` },
    });
    await expect(mountKernelFilesystems(t.runner, t.root, t.resources)).rejects.toThrow('command failed (exit 32): mount -t devpts');
    expect(t.fake.argvs()).toHaveLength(3);
    expect(t.ledger()).toEqual(['proc', 'dev', 'dev/pts'].map((d, id) => ({ id, kind: 'mount', path: `${t.root}/${d}` })));
    t.fake.clear();
    expect(await t.resources.unwind()).toEqual([]);
    expect(t.fake.argvs()).toEqual([
      ['umount', `${t.root}/dev`],
      ['umount', `${t.root}/proc`],
    ]);
  });
});

describe('bindHooks', () => {
  it('binds the hooks tree at <root>/tmp/in_target.d, then remounts it read-only', async () => {
    const t = setup();
    const hooks = join(t.fake.dir, 'hooks');
    mkdirSync(hooks);
    const target = await bindHooks(t.runner, hooks, t.root, t.resources);
    expect(target).toBe(join(t.root, 'tmp', 'in_target.d'));
    expect(t.fake.argvs()).toEqual([
      ['mount', '--bind', hooks, target],
      ['mount', '-o', 'remount,bind,ro', target],
    ]);
    expect(t.ledger()).toEqual([{ id: 0, kind: 'mount', path: target }]);
  });

  it('unwinding unmounts it, then removes the empty mount point', async () => {
    const t = setup();
    const target = await bindHooks(t.runner, join(t.fake.dir, 'hooks'), t.root, t.resources);
    t.fake.clear();
    expect(await t.resources.unwind()).toEqual([]);
    expect(t.fake.argvs()).toEqual([['umount', target]]);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(join(t.root, 'tmp'))).toBe(true);
  });

  it('refuses when the image already has /tmp/in_target.d, without mounting anything', async () => {
    const t = setup();
    mkdirSync(join(t.root, 'tmp', 'in_target.d'), { recursive: true });
    await expect(bindHooks(t.runner, join(t.fake.dir, 'hooks'), t.root, t.resources)).rejects.toThrow(
      `${t.root}/tmp/in_target.d already exists in the image`,
    );
    expect(t.fake.calls()).toEqual([]);
    expect(t.resources.stack.size).toBe(0);
  });
});
