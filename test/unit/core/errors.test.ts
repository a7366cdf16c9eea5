// What a user sees when the host refuses a system call: a message with a hint, never "a bug in the tool".
import { describe, expect, it } from 'vitest';
import { BuildError, asDibError } from '../../../src/core/errors.js';
import { reportError } from '../../../src/main.js';

function systemError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failed, ${syscall} '${path}'`), { code, syscall, path });
}

describe('system errors', () => {
  it('a full disk while writing becomes a build error (exit 1) with a hint; cleanup failures can attach to it', () => {
    const e = asDibError(systemError('ENOSPC', 'write', '/out/image.qcow2.md5'));
    expect(e).toBeInstanceOf(BuildError);
    expect((e as BuildError).hint).toMatch(/disk is full/);
    expect((e as BuildError).cleanupFailures).toEqual([]);
  });
  it('reportError prints the call and the hint, not the bug line, and exits 1', () => {
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (s: string) => (lines.push(s), true);
    try {
      expect(reportError(systemError('EROFS', 'mkdir', '/cache/apt'), false)).toBe(1);
    } finally {
      process.stderr.write = write;
    }
    expect(lines.join('')).toMatch(/^error: mkdir failed: EROFS[^\n]*\nhint: the filesystem is read-only/);
    expect(lines.join('')).not.toContain('bug in the tool');
  });
  it('other errors are left as they are', () => {
    const bug = new TypeError('x is undefined');
    expect(asDibError(bug)).toBe(bug);
  });
});
