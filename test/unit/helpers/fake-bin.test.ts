// The fake-bin harness itself: what it records, how its specs behave, and that guarded tools never run for real.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandError } from '../../../src/core/exec.js';
import { type FakeBin, installFakeBin } from '../../helpers/fake-bin.js';

let fake: FakeBin | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

describe('fake-bin harness', () => {
  it('records argv exactly (quotes, backslashes, newlines, tabs, control characters, empty strings) and stdin', async () => {
    fake = installFakeBin({ demo: { stdout: 'out\n' } });
    const { runner } = fake.runner();
    const odd = ['a b', `it's "quoted"`, 'back\\slash', 'two\nlines', 'tab\there', 'bell\u0007', '', '$HOME', '*'];
    expect(await runner.output(['demo', ...odd])).toBe('out');
    await runner.run(['demo', '-'], { input: 'label: gpt\nunit: sectors\n' });
    expect(fake.calls()).toEqual([
      { tool: 'demo', args: odd },
      { tool: 'demo', args: ['-'], stdin: 'label: gpt\nunit: sectors\n' },
    ]);
  });

  it('failFirst fails the first N calls with the given status, then succeeds', async () => {
    fake = installFakeBin({ flaky: { failFirst: 2, failStatus: 3, failStderr: 'busy', stdout: 'ok' } });
    const { runner } = fake.runner();
    const first = await runner.run(['flaky']).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(CommandError);
    expect((first as CommandError).status).toBe(3);
    expect((first as CommandError).tail).toEqual(['busy']);
    await expect(runner.run(['flaky'])).rejects.toThrow('exit 3');
    expect(await runner.output(['flaky'])).toBe('ok');
    expect(fake.calls('flaky')).toHaveLength(3);
  });

  it('touchArg creates the file named by an argument; script sees the arguments and the call number', async () => {
    fake = installFakeBin({ conv: { touchArg: -1, script: 'echo "$FAKE_CALL:$1" > "$FAKE_DIR/seen"', status: 0 } });
    const { runner } = fake.runner();
    const target = join(fake.dir, 'out.img');
    await runner.run(['conv', 'first', target]);
    expect(existsSync(target)).toBe(true);
    expect(readFileSync(join(fake.dir, 'seen'), 'utf8')).toBe('1:first\n');
  });

  it('a guarded tool that the test did not fake fails with 127 instead of running the real one', async () => {
    fake = installFakeBin({});
    const { runner } = fake.runner();
    await expect(runner.run(['losetup', '-D'])).rejects.toThrow('exit 127');
    expect(fake.argvs()).toEqual([['losetup', '-D']]);
  });

  it('restore() puts PATH back', () => {
    const before = process.env.PATH;
    fake = installFakeBin({});
    expect(process.env.PATH).toBe(`${fake.bin}:${before}`);
    fake.restore();
    fake = undefined;
    expect(process.env.PATH).toBe(before);
  });
});
