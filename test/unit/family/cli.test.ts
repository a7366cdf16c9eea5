// diskimage-builder's checks before anything is built: every problem of every image at once (exit 2),
// nothing written; --dry-run prints each image's command line and plan; --image-name filters.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, runCli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/tree.js';

const t = tempDir('dib-ts-family-cli-');
afterAll(() => t.remove());

function family(name: string, yaml: string): { file: string; out: string } {
  const dir = join(t.path, name);
  mkdirSync(join(dir, 'out'), { recursive: true });
  writeFileSync(join(dir, 'family.yaml'), yaml);
  return { file: join(dir, 'family.yaml'), out: join(dir, 'out') };
}

describe('diskimage-builder before building', () => {
  it('an unknown element, an unknown type and an unknown arch (a file problem) in three images: one exit-2 report naming each, nothing written', async () => {
    const { file, out } = family(
      'bad',
      [
        '- imagename: one\n  elements: [debian-minimal, no-such-element]\n',
        '- imagename: two\n  types: [qcow3]\n  elements: [debian-minimal, vm]\n',
        '- imagename: three\n  arch: sparc\n  elements: [debian-minimal, vm]\n',
        '- imagename: fine\n  elements: [debian-minimal, vm]\n',
      ].join(''),
    );
    const r = await runCli('diskimage-builder', ['--output-directory', out, file], { TMP_DIR: t.path });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/image one \(.*family\.yaml entry 1\): .*no-such-element/);
    expect(r.stderr).toMatch(/image two \(.*entry 2\): .*qcow3/);
    expect(r.stderr).toMatch(/entry 3 \(imagename three\): 'arch' must be one of .*not 'sparc'/);
    expect(r.stderr).toMatch(/^error: 3 problems found/);
    expect(r.stderr).not.toMatch(/image fine/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('two images writing the same log file: exit 2 naming both images and the file', async () => {
    const { file, out } = family(
      'conflict',
      '- imagename: a\n  logfile: same.log\n  elements: [debian-minimal, vm]\n- imagename: b\n  logfile: same.log\n  elements: [debian-minimal, vm]\n',
    );
    const r = await runCli('diskimage-builder', ['--output-directory', out, file], {}, { cwd: join(t.path, 'conflict') });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`images a and b both write ${join(t.path, 'conflict', 'same.log')}`);
    expect(readdirSync(out)).toEqual([]);
  });

  it('--image-name with a name no file defines: exit 2 listing the images there are', async () => {
    const { file, out } = family('filter', '- imagename: a\n  elements: [debian-minimal, vm]\n');
    const r = await runCli('diskimage-builder', ['--image-name', 'zzz', '--output-directory', out, file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--image-name zzz: no such image in the files');
    expect(r.stderr).toContain('the images are: a');
  });

  it('--dry-run: each selected image once, with its environment, command line, elements, hooks and outputs; nothing written', async () => {
    const { file, out } = family(
      'dry',
      [
        '- imagename: a\n  environment: {DIB_MY_MARK: "x y"}\n  types: [qcow2, tar]\n  elements: [debian-minimal, vm]\n',
        "- imagename: b\n  mkfs-options: '-m 1'\n  elements: [debian-minimal, vm]\n",
        '- imagename: c\n  elements: [debian-minimal, vm]\n',
      ].join(''),
    );
    const r = await runCli('diskimage-builder', ['--dry-run', '--image-name', 'a', '--image-name', 'b', '--output-directory', out, file]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(
      `DIB_MY_MARK='x y' disk-image-create -t qcow2,tar --logfile ${join(out, 'a.log')} -o ${join(out, 'a')} -- debian-minimal vm`,
    );
    expect(r.stdout).toContain(`disk-image-create -t qcow2 '--mkfs-options=-m 1' --logfile ${join(out, 'b.log')}`);
    expect(r.stdout).toMatch(/elements \(\d+\): .*debootstrap/);
    expect(r.stdout).toMatch(/hooks: root\.d \d+/);
    expect(r.stdout).toContain(`outputs: ${join(out, 'a.qcow2')} (qcow2), ${join(out, 'a.tar')} (tar)`);
    expect(r.stdout).not.toMatch(/^c:/m);
    expect(readdirSync(out)).toEqual([]);
  });

  it('the shipped examples, both formats: --dry-run plans the same three images with the same elements and environment', async () => {
    const plans = [];
    for (const name of ['family-tripleo.yaml', 'family-dib.yaml']) {
      const out = join(t.path, `examples-${name}`);
      mkdirSync(out);
      const r = await runCli('diskimage-builder', ['--dry-run', '--output-directory', out, join(REPO, 'examples', name)]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(readdirSync(out)).toEqual([]);
      const lines = r.stdout.split('\n').map((l) => l.replaceAll(out, 'OUT'));
      plans.push(lines.filter((l) => /disk-image-create |^\s*elements \(/.test(l)));
    }
    expect(plans[0].filter((l) => l.includes('disk-image-create '))).toHaveLength(3);
    for (const image of ['debian-cloud', 'debian-heat', 'debian-minimal'])
      expect(plans[0].some((l) => l.includes(`-o OUT/${image} `))).toBe(true);
    expect(plans[0].join('\n')).toMatch(/elements \(\d+\): .*heat-cfntools/);
    expect(plans[1]).toEqual(plans[0]);
  });

  it('--dry-run says which images would be skipped because their outputs exist', async () => {
    const { file, out } = family('skip', '- imagename: a\n  types: [tar]\n  elements: [debian-minimal, vm]\n');
    writeFileSync(join(out, 'a.tar'), '');
    const skipped = await runCli('diskimage-builder', ['--dry-run', '--output-directory', out, file]);
    expect(skipped.stdout).toContain('a (skipped: its outputs exist; --no-skip builds it):');
    const built = await runCli('diskimage-builder', ['--dry-run', '--no-skip', '--output-directory', out, file]);
    expect(built.stdout).toMatch(/^a:$/m);
  });

  it('an image whose options would make disk-image-create do something else (--cleanup-stale, --events): exit 2 naming them', async () => {
    const { file } = family(
      'foreign',
      `disk_images:\n  - imagename: a\n    distro: debian-minimal\n    elements: [vm]\n    options: ["--cleanup-stale", "--events /tmp/x"]\n`,
    );
    const r = await runCli('diskimage-builder', ['--dry-run', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('image a (');
    expect(r.stderr).toContain('--cleanup-stale, --events in the options of an image');
  });

  it("a secret in an image's environment is *** in --dry-run, whatever its length, also with clear (-c)", async () => {
    const { file } = family(
      'secret',
      '- imagename: a\n  environment: {DIB_DEV_USER_PASSWORD: "hunter2-long-enough", MY_API_TOKEN: abc}\n  clear: true\n  elements: [debian-minimal, vm]\n',
    );
    const r = await runCli('diskimage-builder', ['--dry-run', file]);
    expect(r.stdout).toContain("DIB_DEV_USER_PASSWORD='***' MY_API_TOKEN='***' disk-image-create");
    expect(r.stdout + r.stderr).not.toContain('hunter2');
  });

  it('-j 0 is a usage error', async () => {
    const { file } = family('jobs', '- imagename: a\n  elements: [debian-minimal, vm]\n');
    const r = await runCli('diskimage-builder', ['-j', '0', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--jobs must be a whole number of builds, at least 1');
  });
});
