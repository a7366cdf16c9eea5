// Exit-2 problems that used to surface after the loop device existed are now found before anything is
// created: nothing in TMP_DIR, no output, no loop device, no mount.
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tree.js';

const t = tempDir('dib-ts-early-');
afterAll(() => t.remove());

const gpt = (partitions: string) =>
  `- local_loop:\n    name: image0\n- partitioning:\n    base: image0\n    label: gpt\n    partitions:\n${partitions}`;
const part = (name: string, size: string, extra = '') => `      - name: ${name}\n        size: ${size}\n${extra}`;
const root = `      - name: root\n        size: 100%\n        mkfs:\n          type: ext4\n          mount:\n            mount_point: /\n            fstab:\n              options: defaults\n`;

const CASES: Array<{ name: string; env: Record<string, string>; args?: string[]; message: RegExp }> = [
  {
    name: '--image-size too small for the fixed partitions',
    args: ['--image-size', '1'],
    env: { DIB_BLOCK_DEVICE_CONFIG: gpt(part('big', '2GiB') + root) },
    message: /does not fit|too small/,
  },
  {
    name: 'an unknown GPT type code',
    env: { DIB_BLOCK_DEVICE_CONFIG: gpt(part('odd', '8MiB', '        type: ZZ99\n') + root) },
    message: /GPT type/,
  },
  {
    name: 'five primary MBR partitions',
    env: {
      DIB_BLOCK_DEVICE_CONFIG: gpt(
        [1, 2, 3, 4].map((i) => part(`p${i}`, '8MiB', '        flags: [primary]\n')).join('') +
          root.replace('size: 100%', 'size: 100%\n        flags: [primary]'),
      ).replace('label: gpt', 'label: mbr'),
    },
    message: /MBR|primary/,
  },
];

describe('late exit-2 cases now come before anything is created', () => {
  for (const c of CASES) {
    it(`${c.name}: exit 2 naming the problem, TMP_DIR untouched, no output, no loop device`, async () => {
      const tmp = join(t.path, c.name.replace(/\W+/g, '-'));
      execFileSync('mkdir', ['-p', tmp]);
      const r = await runCli('disk-image-create', ['-n', ...(c.args ?? []), '-o', join(tmp, 'out'), 'debian-minimal', 'vm'], {
        TMP_DIR: tmp,
        ...c.env,
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(c.message);
      expect(r.stderr).not.toContain('Building in'); // no work directory was ever made
      expect(readdirSync(tmp)).toEqual([]);
      expect(execFileSync('losetup', ['-a']).toString()).not.toContain(tmp);
    });
  }
});
