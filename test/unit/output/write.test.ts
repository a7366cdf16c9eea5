// writeOutputs against fake converters: the argv per output type, the temporary name and rename, raw last,
// rotation of an older file, checksums for every type, and no file left behind by a failing converter.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LEDGER_NAME, Ledger } from '../../../src/core/ledger.js';
import { Resources } from '../../../src/core/resources.js';
import { type WriteOptions, writeOutputs } from '../../../src/output/write.js';
import { FACTS } from './fixtures.js';
import { OUTPUT_TYPES, outputPath, outputType } from '../../../src/output/types.js';
import { type FakeBin, type FakeTool, installFakeBin } from '../../helpers/fake-bin.js';

// A converter that writes "<tool> <format>" into its output (the last argument).
const converter = (extra: Partial<FakeTool> = {}): FakeTool => ({ script: 'printf "%s %s" "$FAKE_TOOL" "$5" > "${@: -1}"', ...extra });
const DEFAULTS: WriteOptions = { compress: true, qemuImgOptions: '', checksum: false, overwrite: false, image: FACTS };

let fake: FakeBin | undefined;
afterEach(() => {
  fake?.restore();
  fake = undefined;
});

function setup(tools: Record<string, FakeTool> = {}) {
  fake = installFakeBin({
    'qemu-img': converter(),
    cp: { passthrough: true },
    tar: { passthrough: true },
    mksquashfs: { touchArg: 1 },
    ...tools,
  });
  const { runner } = fake.runner();
  const ledgerPath = join(fake.dir, LEDGER_NAME);
  const resources = new Resources(new Ledger(ledgerPath, fake.dir));
  const raw = join(fake.dir, 'image0.raw');
  writeFileSync(raw, Buffer.concat([Buffer.from('raw disk'), Buffer.alloc(64 * 1024), Buffer.from('end')]));
  const outDir = join(fake.dir, 'out');
  mkdirSync(outDir);
  const stem = join(outDir, 'image');
  const write = (types: string[], source: { raw?: string; tree?: string }, options: Partial<WriteOptions> = {}) =>
    writeOutputs(
      runner,
      types.map((t) => ({ type: outputType(t), path: outputPath(stem, t) })),
      source,
      { ...DEFAULTS, ...options },
      resources,
    );
  return { fake, runner, resources, raw, outDir, stem, write, ledgerPath };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The private temporary path an output is written to: `<dir>/.<name>.partial-<12 hex>/<name>`. */
const partial = (path: string) => {
  const name = path.split('/').pop()!;
  const dir = path.slice(0, -name.length - 1);
  return expect.stringMatching(
    new RegExp(`^${escape(dir)}/\\.${escape(name)}\\.partial-[0-9a-f]{12}/${escape(name)}$`),
  ) as unknown as string;
};
const PARTIAL_DIR = /^\.image\.(qcow2|vmdk)\.partial-[0-9a-f]{12}$/;

describe('writeOutputs: qemu-img types', () => {
  it('qcow2: compat=1.1 and -c by default', async () => {
    const t = setup();
    expect(await t.write(['qcow2'], { raw: t.raw })).toEqual([`${t.stem}.qcow2`]);
    expect(t.fake.argvs()).toEqual([
      ['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-c', '-W', '-o', 'compat=1.1', t.raw, partial(`${t.stem}.qcow2`)],
    ]);
    expect(readFileSync(`${t.stem}.qcow2`, 'utf8')).toBe('qemu-img qcow2');
  });

  it('qcow2 uncompressed: no -c; QEMU_IMG_OPTIONS merged after compat=1.1', async () => {
    const t = setup();
    await t.write(['qcow2'], { raw: t.raw }, { compress: false, qemuImgOptions: 'cluster_size=2M,preallocation=metadata' });
    expect(t.fake.argvs()).toEqual([
      [
        'qemu-img',
        'convert',
        '-f',
        'raw',
        '-O',
        'qcow2',
        '-o',
        'compat=1.1,cluster_size=2M,preallocation=metadata',
        t.raw,
        partial(`${t.stem}.qcow2`),
      ],
    ]);
  });

  it.each(['vmdk', 'vdi', 'vhdx', 'qed'])('%s: no -c and no compat option leak from qcow2', async (type) => {
    const t = setup();
    await t.write([type], { raw: t.raw }, { compress: true });
    expect(t.fake.argvs()).toEqual([['qemu-img', 'convert', '-f', 'raw', '-O', type, t.raw, partial(`${t.stem}.${type}`)]]);
    expect(readFileSync(`${t.stem}.${type}`, 'utf8')).toBe(`qemu-img ${type}`);
  });

  it('vhd: qemu-img vpc, dynamic, force_size=on; QEMU_IMG_OPTIONS after them', async () => {
    const t = setup();
    await t.write(['vhd'], { raw: t.raw }, { qemuImgOptions: 'block_size=2M' });
    expect(t.fake.argvs()).toEqual([
      [
        'qemu-img',
        'convert',
        '-f',
        'raw',
        '-O',
        'vpc',
        '-o',
        'subformat=dynamic,force_size=on,block_size=2M',
        t.raw,
        partial(`${t.stem}.vhd`),
      ],
    ]);
  });

  it('vmdk with QEMU_IMG_OPTIONS gets exactly those options', async () => {
    const t = setup();
    await t.write(['vmdk'], { raw: t.raw }, { qemuImgOptions: 'subformat=streamOptimized' });
    expect(t.fake.argvs()).toEqual([
      ['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', t.raw, partial(`${t.stem}.vmdk`)],
    ]);
  });
});

describe('writeOutputs: raw, order and tree types', () => {
  it('raw is cp --sparse=always, written after the converted types whatever the order asked', async () => {
    const t = setup();
    const written = await t.write(['raw', 'qcow2', 'vhdx'], { raw: t.raw });
    expect(written).toEqual([`${t.stem}.qcow2`, `${t.stem}.vhdx`, `${t.stem}.raw`]);
    expect(t.fake.argvs()).toEqual([
      ['qemu-img', 'convert', '-f', 'raw', '-O', 'qcow2', '-c', '-W', '-o', 'compat=1.1', t.raw, partial(`${t.stem}.qcow2`)],
      ['qemu-img', 'convert', '-f', 'raw', '-O', 'vhdx', t.raw, partial(`${t.stem}.vhdx`)],
      ['cp', '--sparse=always', t.raw, partial(`${t.stem}.raw`)],
    ]);
    expect(readFileSync(`${t.stem}.raw`)).toEqual(readFileSync(t.raw));
  });

  it('disk types are skipped without a raw file, tree types without a tree', async () => {
    const t = setup();
    expect(await t.write(['qcow2', 'tar'], {})).toEqual([]);
    expect(t.fake.calls()).toEqual([]);
  });

  function tree(t: ReturnType<typeof setup>) {
    const root = join(t.fake.dir, 'tree');
    for (const d of ['etc', 'proc/1', 'sys/kernel', 'dev/pts']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'etc/hostname'), 'image\n');
    writeFileSync(join(root, 'proc/cpuinfo'), 'host cpu\n');
    writeFileSync(join(root, 'sys/kernel/x'), 'host\n');
    writeFileSync(join(root, 'dev/null-host'), 'host\n');
    return root;
  }
  const listing = (file: string, z = false) =>
    execFileSync('tar', [z ? '-tzf' : '-tf', file], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .sort();
  const ARCHIVED = ['./', './dev/', './etc/', './etc/hostname', './proc/', './sys/'];

  it('tar: argv with xattrs/acls/numeric-owner and the proc/sys/dev excludes; the archive keeps those directories empty', async () => {
    const t = setup();
    const root = tree(t);
    await t.write(['tar'], { tree: root });
    expect(t.fake.argvs()).toEqual([
      [
        'tar',
        '-C',
        root,
        '--xattrs',
        '--xattrs-include=*',
        '--acls',
        '--numeric-owner',
        '--exclude=./proc/*',
        '--exclude=./sys/*',
        '--exclude=./dev/*',
        '-cf',
        partial(`${t.stem}.tar`),
        '.',
      ],
    ]);
    expect(listing(`${t.stem}.tar`)).toEqual(ARCHIVED);
  });

  it('tgz: the same with -z, a gzip archive named .tgz', async () => {
    const t = setup();
    const root = tree(t);
    await t.write(['tgz'], { tree: root });
    expect(t.fake.argvs()[0]).toEqual([
      'tar',
      '-C',
      root,
      '--xattrs',
      '--xattrs-include=*',
      '--acls',
      '--numeric-owner',
      '--exclude=./proc/*',
      '--exclude=./sys/*',
      '--exclude=./dev/*',
      '-z',
      '-cf',
      partial(`${t.stem}.tgz`),
      '.',
    ]);
    expect(readFileSync(`${t.stem}.tgz`).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect(listing(`${t.stem}.tgz`, true)).toEqual(ARCHIVED);
  });

  it('squashfs: mksquashfs argv with xz and the wildcard excludes, written to <stem>.squash', async () => {
    const t = setup();
    const root = tree(t);
    expect(await t.write(['squashfs'], { tree: root })).toEqual([`${t.stem}.squash`]);
    expect(t.fake.argvs()).toEqual([
      [
        'mksquashfs',
        root,
        partial(`${t.stem}.squash`),
        '-comp',
        'xz',
        '-noappend',
        '-no-progress',
        '-wildcards',
        '-e',
        'proc/*',
        'sys/*',
        'dev/*',
      ],
    ]);
  });
});

describe('writeOutputs: temporary name, rotation, checksums, failure', () => {
  it('writes in a private .NAME.partial-XXXX directory (recorded in the ledger first), then renames: the final name never holds a partial file', async () => {
    // After writing its output, the fake lists the directory and copies the ledger.
    const t = setup({
      'qemu-img': converter({
        script: `echo data > "\${@: -1}"; ls "$(dirname "\${@: -1}")" > "$FAKE_DIR/during"; cp "$FAKE_DIR/${LEDGER_NAME}" "$FAKE_DIR/ledger-during"`,
      }),
    });
    await t.write(['qcow2'], { raw: t.raw });
    expect(readFileSync(join(t.fake.dir, 'during'), 'utf8')).toBe('image.qcow2\n'); // alone in its private directory
    const ledgerDuring = readFileSync(join(t.fake.dir, 'ledger-during'), 'utf8').trim().split('\n');
    expect(JSON.parse(ledgerDuring.at(-1)!)).toEqual({ id: 0, kind: 'output', path: partial(`${t.stem}.qcow2`) });
    expect(readdirSync(t.outDir)).toEqual(['image.qcow2']);
    expect(readFileSync(`${t.stem}.qcow2`, 'utf8')).toBe('data\n');
  });

  it('an existing output (and its checksums) is rotated to NAME-YYYY.MM.DD-HH.MM.SS.TYPE by its mtime', async () => {
    const t = setup();
    for (const f of ['image.qcow2', 'image.qcow2.md5', 'image.qcow2.sha256']) writeFileSync(join(t.outDir, f), `old ${f}`);
    utimesSync(`${t.stem}.qcow2`, new Date(2024, 2, 5, 6, 7, 8), new Date(2024, 2, 5, 6, 7, 8));
    await t.write(['qcow2'], { raw: t.raw });
    expect(readdirSync(t.outDir).sort()).toEqual([
      'image-2024.03.05-06.07.08.qcow2',
      'image-2024.03.05-06.07.08.qcow2.md5',
      'image-2024.03.05-06.07.08.qcow2.sha256',
      'image.qcow2',
    ]);
    expect(readFileSync(join(t.outDir, 'image-2024.03.05-06.07.08.qcow2'), 'utf8')).toBe('old image.qcow2');
    expect(readFileSync(join(t.outDir, 'image-2024.03.05-06.07.08.qcow2.md5'), 'utf8')).toBe('old image.qcow2.md5');
    expect(readFileSync(`${t.stem}.qcow2`, 'utf8')).toBe('qemu-img qcow2');
  });

  it('with overwrite, the existing output is replaced and nothing is rotated', async () => {
    const t = setup();
    writeFileSync(`${t.stem}.qcow2`, 'old');
    await t.write(['qcow2'], { raw: t.raw }, { overwrite: true });
    expect(readdirSync(t.outDir)).toEqual(['image.qcow2']);
    expect(readFileSync(`${t.stem}.qcow2`, 'utf8')).toBe('qemu-img qcow2');
  });

  it('--checksum writes NAME.md5 and NAME.sha256 ("<hex>  <basename>") for every output type, the baremetal element\'s vmlinuz and initrd included', async () => {
    const t = setup({ mksquashfs: { script: 'echo squash > "$2"' } });
    const root = join(t.fake.dir, 'tree');
    mkdirSync(join(root, 'etc'), { recursive: true });
    mkdirSync(join(root, 'boot'), { recursive: true });
    writeFileSync(join(root, 'etc/hostname'), 'image\n');
    writeFileSync(join(root, 'boot/vmlinuz-6.1.0-9-amd64'), 'kernel 9\n');
    writeFileSync(join(root, 'boot/initrd.img-6.1.0-9-amd64'), 'initrd 9\n');
    const all = OUTPUT_TYPES.map((o) => o.name);
    const disk = all.filter((n) => outputType(n).source === 'disk');
    const trees = all.filter((n) => outputType(n).source === 'tree');
    const written = [
      ...(await t.write(trees, { tree: root }, { checksum: true })),
      ...(await t.write(disk, { raw: t.raw }, { checksum: true })),
    ];
    expect(written.map((w) => w.slice(t.outDir.length + 1)).sort()).toEqual(
      [
        'image.qcow2',
        'image.raw',
        'image.vmdk',
        'image.vdi',
        'image.vhdx',
        'image.qed',
        'image.vhd',
        'image.ova',
        'image.stemcell.tgz',
        'image.tar',
        'image.tgz',
        'image.squash',
        'image.docker',
        'image.vmlinuz',
        'image.initrd',
      ].sort(),
    );
    expect(readFileSync(`${t.stem}.vmlinuz`, 'utf8')).toBe('kernel 9\n');
    expect(readFileSync(`${t.stem}.initrd`, 'utf8')).toBe('initrd 9\n');
    for (const file of written) {
      const content = readFileSync(file);
      const name = file.slice(t.outDir.length + 1);
      expect(readFileSync(`${file}.md5`, 'utf8')).toBe(`${createHash('md5').update(content).digest('hex')}  ${name}\n`);
      expect(readFileSync(`${file}.sha256`, 'utf8')).toBe(`${createHash('sha256').update(content).digest('hex')}  ${name}\n`);
    }
  });

  it('without --checksum no checksum files are written', async () => {
    const t = setup();
    await t.write(['qcow2', 'raw'], { raw: t.raw });
    expect(readdirSync(t.outDir).sort()).toEqual(['image.qcow2', 'image.raw']);
  });

  it('a failing converter: the error names the command; after the scope unwinds no partial file is left and the previous output is untouched', async () => {
    // The fake writes part of its output, then fails.
    const t = setup({ 'qemu-img': converter({ status: 1, stderr: 'qemu-img: error while writing sector 1024: No space left on device' }) });
    writeFileSync(`${t.stem}.qcow2`, 'previous build');
    const error = await t.resources
      .using((scope) => writeOutputs(t.runner, [{ type: outputType('qcow2'), path: `${t.stem}.qcow2` }], { raw: t.raw }, DEFAULTS, scope))
      .catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^command failed \(exit 1\): qemu-img convert /);
    expect(readdirSync(t.outDir)).toEqual(['image.qcow2']);
    expect(readFileSync(`${t.stem}.qcow2`, 'utf8')).toBe('previous build');
    expect(readdirSync(t.outDir).filter((n) => PARTIAL_DIR.test(n))).toEqual([]);
  });

  it('a failing converter leaves no final file; its partial file is removed when the resources unwind', async () => {
    const t = setup({ 'qemu-img': converter({ status: 1 }) });
    await expect(t.write(['vmdk'], { raw: t.raw })).rejects.toThrow('qemu-img');
    expect(readdirSync(t.outDir)).toEqual([expect.stringMatching(PARTIAL_DIR)]);
    expect(await t.resources.unwind()).toEqual([]);
    expect(readdirSync(t.outDir)).toEqual([]);
  });

  it('symlinks planted at the output, .md5 and .sha256 names are replaced, never written through: the victim keeps its content and mode', async () => {
    const t = setup();
    const victim = join(t.fake.dir, 'victim');
    writeFileSync(victim, 'precious\n', { mode: 0o600 });
    for (const name of ['image.qcow2.md5', 'image.qcow2.sha256']) symlinkSync(victim, join(t.outDir, name));
    await t.write(['qcow2'], { raw: t.raw }, { checksum: true, overwrite: true });
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(statSync(victim).mode & 0o777).toBe(0o600);
    for (const name of ['image.qcow2', 'image.qcow2.md5', 'image.qcow2.sha256'])
      expect(lstatSync(join(t.outDir, name)).isFile()).toBe(true);
  });
});
