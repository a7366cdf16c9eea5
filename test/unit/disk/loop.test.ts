// attachLoop, detachLoop and mapPartitions against a fake losetup/partx: argv, the ledger written before
// losetup runs, an undo registered even for a garbage answer, and the detach retry policy.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../../../src/core/exec.js';
import { LEDGER_NAME, Ledger } from '../../../src/core/ledger.js';
import { Resources } from '../../../src/core/resources.js';
import { DETACH_RETRY, attachLoop, detachLoop, mapPartitions } from '../../../src/disk/loop.js';
import { type FakeBin, type FakeTool, installFakeBin } from '../../helpers/fake-bin.js';
import { attachInKernel, fakeKernelTools, kernelState } from '../../helpers/fake-kernel.js';

let fake: FakeBin | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

function setup(tools: Record<string, FakeTool>) {
  fake = installFakeBin(tools);
  const { runner } = fake.runner();
  const ledgerPath = join(fake.dir, LEDGER_NAME);
  const resources = new Resources(new Ledger(ledgerPath, fake.dir));
  const file = join(fake.dir, 'image0.raw');
  writeFileSync(file, '');
  return { fake, runner, resources, file, ledgerPath };
}

/** No delays, same number of attempts: the policy under test without its 13 s of waiting. */
const FAST_DETACH = { ...DETACH_RETRY, delayMs: 0, backoffMs: 0 };

describe('attachLoop', () => {
  it('runs losetup --find --show --partscan FILE and returns the device it printed', async () => {
    const t = setup(fakeKernelTools());
    expect(await attachLoop(t.runner, t.file, t.resources)).toBe('/dev/loop7');
    expect(t.fake.argvs()).toEqual([['losetup', '--find', '--show', '--partscan', t.file]]);
  });

  it('adds --read-only and --sector-size (only when not 512)', async () => {
    const t = setup(fakeKernelTools({ loops: ['/dev/loop7', '/dev/loop8', '/dev/loop9'] }));
    await attachLoop(t.runner, t.file, t.resources, { readOnly: true, sectorSize: 4096 });
    await attachLoop(t.runner, t.file, t.resources, { sectorSize: 512 });
    expect(t.fake.argvs()).toEqual([
      ['losetup', '--find', '--show', '--partscan', '--read-only', '--sector-size', '4096', t.file],
      ['losetup', '--find', '--show', '--partscan', t.file],
    ]);
  });

  it('the ledger names the loop before losetup runs', async () => {
    const kernel = fakeKernelTools();
    // The fake copies the ledger (in the harness directory here) as it is when losetup starts.
    const t = setup({ losetup: { script: `cp "$FAKE_DIR/${LEDGER_NAME}" "$FAKE_DIR/ledger-at-losetup"\n${kernel.losetup.script}` } });
    await attachLoop(t.runner, t.file, t.resources);
    const seen = readFileSync(join(t.fake.dir, 'ledger-at-losetup'), 'utf8').trim().split('\n');
    expect(JSON.parse(seen.at(-1)!)).toEqual({ id: 0, kind: 'loop', file: t.file });
  });

  it('losetup printing garbage: the error names it, and the registered undo detaches what losetup -j reports for the file', async () => {
    const t = setup(fakeKernelTools({ loops: ['/dev/loop3'], findPrints: 'loop device ready' }));
    await expect(attachLoop(t.runner, t.file, t.resources)).rejects.toThrow(
      "losetup printed an unexpected device name: 'loop device ready'",
    );
    expect(t.resources.stack.labels).toEqual(['detach loop device ready']);
    expect(kernelState(t.fake).loops).toEqual({ '/dev/loop3': t.file });
    t.fake.clear();
    expect(await t.resources.unwind()).toEqual([]);
    expect(t.fake.argvs()).toEqual([
      ['losetup', '-j', t.file, '-O', 'NAME', '-n'],
      ['losetup', '-d', '/dev/loop3'],
    ]);
    expect(kernelState(t.fake).loops).toEqual({});
  });

  it('a failing losetup registers no undo but leaves the ledger entry for a later cleanup', async () => {
    const t = setup({ losetup: { status: 1, stderr: 'losetup: cannot find an unused loop device' } });
    await expect(attachLoop(t.runner, t.file, t.resources)).rejects.toThrow(CommandError);
    expect(t.resources.stack.size).toBe(0);
    expect(readFileSync(t.ledgerPath, 'utf8')).toContain(JSON.stringify({ id: 0, kind: 'loop', file: t.file }));
  });
});

describe('detachLoop', () => {
  it('retries a failing losetup -d until it succeeds', async () => {
    const t = setup({
      losetup: { ...fakeKernelTools().losetup, failFirst: 2, failStderr: 'losetup: /dev/loop7: detach failed: Device or resource busy' },
    });
    attachInKernel(t.fake, '/dev/loop7', t.file);
    await detachLoop(t.runner, '/dev/loop7', t.file, FAST_DETACH);
    expect(t.fake.argvs()).toEqual([
      ['losetup', '-d', '/dev/loop7'],
      ['losetup', '-d', '/dev/loop7'],
      ['losetup', '-d', '/dev/loop7'],
    ]);
    expect(kernelState(t.fake).loops).toEqual({});
  });

  it('gives up after 10 attempts and throws the last failure', async () => {
    const t = setup({ losetup: { failFirst: 1000, failStderr: 'busy' } });
    attachInKernel(t.fake, '/dev/loop7', t.file);
    const error = await detachLoop(t.runner, '/dev/loop7', t.file, FAST_DETACH).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).argv).toEqual(['losetup', '-d', '/dev/loop7']);
    expect(t.fake.calls('losetup')).toHaveLength(10);
  });

  it('waits between attempts with a linear backoff', async () => {
    const t = setup({ losetup: { failFirst: 1000 } });
    attachInKernel(t.fake, '/dev/loop7', t.file);
    const start = Date.now();
    await expect(detachLoop(t.runner, '/dev/loop7', t.file, { attempts: 3, delayMs: 40, backoffMs: 80 })).rejects.toThrow(CommandError);
    // 40 ms, then 40 + 80 ms
    expect(Date.now() - start).toBeGreaterThanOrEqual(160);
  });

  it('never detaches a device backed by another file (or by none)', async () => {
    const t = setup({ losetup: {} });
    attachInKernel(t.fake, '/dev/loop7', '/var/lib/someone-else.img');
    await detachLoop(t.runner, '/dev/loop7', t.file, FAST_DETACH);
    await detachLoop(t.runner, '/dev/loop6', t.file, FAST_DETACH);
    expect(t.fake.calls()).toEqual([]);
  });

  it('detaches a device whose backing file was deleted (" (deleted)" suffix)', async () => {
    const t = setup({ losetup: {} });
    attachInKernel(t.fake, '/dev/loop7', `${t.file} (deleted)`);
    await detachLoop(t.runner, '/dev/loop7', t.file, FAST_DETACH);
    expect(t.fake.argvs()).toEqual([['losetup', '-d', '/dev/loop7']]);
  });
});

describe('mapPartitions', () => {
  it('runs partx -a when nodes are missing, returns number → node, and the undo runs partx -d', async () => {
    const t = setup(fakeKernelTools({ partitions: [1, 2, 5] }));
    attachInKernel(t.fake, '/dev/loop7', t.file);
    const nodes = await mapPartitions(t.runner, '/dev/loop7', [1, 2, 5], t.resources);
    expect(Object.fromEntries(nodes)).toEqual({ 1: '/dev/loop7p1', 2: '/dev/loop7p2', 5: '/dev/loop7p5' });
    expect(t.fake.argvs()).toEqual([['partx', '-a', '/dev/loop7']]);
    expect(readFileSync(t.ledgerPath, 'utf8')).toContain(JSON.stringify({ id: 0, kind: 'partitions', file: t.file }));
    t.fake.clear();
    expect(await t.resources.unwind()).toEqual([]);
    expect(t.fake.argvs()).toEqual([['partx', '-d', '/dev/loop7']]);
    expect(existsSync(join(t.fake.root, 'dev/loop7p1'))).toBe(false);
  });
});
