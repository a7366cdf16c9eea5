// disk-image-create's command line: DIB's flags, getopt prefixes, environment defaults, fixed upstream bugs.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDiskImageCreateArgs } from '../../../src/cli/disk-image-create.js';
import { readHostMirrors } from '../../../src/config/host-apt.js';
import type { BuildConfig } from '../../../src/config/settings.js';
import { UsageError } from '../../../src/core/errors.js';
import { writeTree } from '../../helpers/tree.js';

const parse = async (argv: string[], env: NodeJS.ProcessEnv = {}) => (await parseDiskImageCreateArgs(argv, env)) as BuildConfig;

describe('disk-image-create options', () => {
  it('mixes options and elements, bundles short flags, takes attached values', async () => {
    const c = await parse(['debian-minimal', '-xu', 'vm', '-ofoo', '-t', 'qcow2,raw', '-a', 'x86_64']);
    expect(c.elements).toEqual(['debian-minimal', 'vm']);
    expect(c.debugTrace).toBe(1);
    expect(c.uncompressed).toBe(true);
    expect(c.imageName).toBe(resolve('foo'));
    expect(c.imageTypes).toEqual(['qcow2', 'raw']);
    expect(c.arch).toBe('amd64');
  });
  it('-x repeats and starts from DIB_DEBUG_TRACE', async () =>
    expect((await parse(['-x', '-x', 'vm'], { DIB_DEBUG_TRACE: '1' })).debugTrace).toBe(3));
  it('strips .<type> from -o when there is one type', async () =>
    expect((await parse(['-o', 'out.qcow2', 'vm'])).imageName).toBe(resolve('out')));
  it('accepts unambiguous long-option prefixes and rejects ambiguous ones', async () => {
    expect((await parse(['--off', 'vm'])).offline).toBe(true);
    expect((await parse(['--image-s', '5', 'vm'])).imageSize).toBe(5);
    await expect(parse(['--image', '5', 'vm'])).rejects.toThrow(/ambiguous/);
    await expect(parse(['--bogus', 'vm'])).rejects.toThrow(/unrecognized option '--bogus'/);
  });
  it('the word after a value-taking option is its value even when it starts with a dash (--mkfs-options, -o, a prefix)', async () => {
    expect((await parse(['--mkfs-options', '-s size=4096', 'vm'])).mkfsOptions).toBe('-s size=4096');
    expect((await parse(['--mkfs-opt', '-m 1', 'vm'])).mkfsOptions).toBe('-m 1');
    expect((await parse(['-xo', '-dash', 'vm'])).imageName).toBe(resolve('-dash'));
    // A value is never taken for an option: '--offline' here is the log file's name, and -n still counts.
    expect((await parse(['--logfile', '--offline', '-n', 'vm'])).offline).toBe(false);
  });
  it('--image-extra-size and --mkfs-journal-size work (rejected by upstream)', async () => {
    const c = await parse(['--image-extra-size', '500', '--mkfs-journal-size=32', 'vm']);
    expect(c.imageExtraSize).toBe(500);
    expect(c.mkfsJournalSize).toBe(32);
  });
  it('MKFS_OPTS from the environment works (ignored upstream)', async () =>
    expect((await parse(['vm'], { MKFS_OPTS: '-m 1' })).mkfsOptions).toBe('-m 1'));
  it('-p accumulates and splits on commas and spaces', async () =>
    expect((await parse(['-p', 'a,b', '-p', 'c d', 'vm'])).packages).toEqual(['a', 'b', 'c', 'd']));
  it('environment defaults: DIB_IMAGE_SIZE, ARCH, IMAGE_NAME', async () => {
    const c = await parse(['vm'], { DIB_IMAGE_SIZE: '3', ARCH: 'i386', IMAGE_NAME: 'envname' });
    expect(c.imageSize).toBe(3);
    expect(c.arch).toBe('i386');
    expect(c.imageName).toBe(resolve('envname'));
  });
  for (const [args, text] of [
    [['-t', 'qcow3', 'vm'], 'unknown output type: qcow3'],
    [['-a', 'sparc', 'vm'], "unknown architecture 'sparc'"],
    [['-t', 'vmlinuz', 'vm'], 'unknown output type: vmlinuz'],
    [['--image-size', 'big', 'vm'], '--image-size must be a positive number'],
  ] as const) {
    it(`rejects ${args.join(' ')}`, async () => {
      const e = await parse([...args]).catch((x) => x);
      expect(e).toBeInstanceOf(UsageError);
      expect(e.message).toContain(text);
      expect(e.hint).toBeTruthy();
    });
  }
});

it('-t vmlinuz: the hint says the baremetal element writes NAME.vmlinuz', async () => {
  const e = await parse(['-t', 'qcow2,vmlinuz,initrd', 'vm']).catch((x) => x);
  expect(e.message).toBe('unknown output types: vmlinuz, initrd');
  expect(e.hint).toMatch(
    /^NAME\.vmlinuz is written by the baremetal element, not asked for with -t; NAME\.initrd is written by the baremetal element, .*; known types: qcow2, /,
  );
});

describe('host apt configuration', () => {
  it('reads one-line and deb822 sources; security separately', () => {
    const dir = mkdtempSync(join(tmpdir(), 'apt-'));
    writeTree(dir, {
      'sources.list': '# comment\ndeb [arch=amd64] http://mirror.example/debian/ bookworm main\n',
      'sources.list.d': {
        'sec.sources': 'Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\nComponents: main\n',
        'other.list': 'deb https://packages.example/apt cloud-sdk main\n',
      },
    });
    try {
      expect(readHostMirrors(dir)).toEqual({
        mirror: 'http://mirror.example/debian',
        securityMirror: 'http://sec.example/debian-security',
      });
      writeFileSync(join(dir, 'sources.list'), '');
      expect(readHostMirrors(dir).mirror).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('settings read through the table', () => {
  it('SKIP_BASE=1 skips base like -n, and is exported to hooks', async () => {
    expect((await parse(['vm'], { SKIP_BASE: '1' })).skipBase).toBe(true);
    expect((await parse(['vm'], { SKIP_BASE: '0' })).skipBase).toBe(false);
    expect((await parse(['-n', 'vm'])).skipBase).toBe(true);
  });
  it('DIB_QUIET: quiet by default only with a log file; DIB_QUIET=0 keeps the console with --logfile', async () => {
    expect((await parse(['vm'])).quiet).toBe(false);
    expect((await parse(['--logfile', '/tmp/x.log', 'vm'])).quiet).toBe(true);
    expect((await parse(['--logfile', '/tmp/x.log', 'vm'], { DIB_QUIET: '0' })).quiet).toBe(false);
    expect((await parse(['vm'], { DIB_QUIET: '1' })).quiet).toBe(true);
  });
  it('OVERWRITE_OLD_IMAGE, RUN_PARTS_REGEX, DIB_BLOCK_SIZE, break, break_cmd come from the table', async () => {
    const c = await parse(['vm'], {
      OVERWRITE_OLD_IMAGE: '1',
      RUN_PARTS_REGEX: '^[0-9a-z-]+$',
      DIB_BLOCK_SIZE: '4096',
      break: 'before-install,after-error',
      break_cmd: 'true',
    });
    expect([c.overwriteOldImage, c.runPartsRegex, c.blockSize, c.breakPoints, c.breakCmd]).toEqual([
      true,
      '^[0-9a-z-]+$',
      4096,
      ['before-install', 'after-error'],
      'true',
    ]);
    const d = await parse(['vm']);
    expect([d.overwriteOldImage, d.runPartsRegex, d.blockSize, d.breakPoints, d.breakCmd]).toEqual([
      false,
      '^[0-9A-Za-z_-]+$',
      512,
      [],
      'bash',
    ]);
  });
  it('bad RUN_PARTS_REGEX, DIB_BLOCK_SIZE and break points are exit-2 errors reported together', async () => {
    const e = await parse(['vm'], { RUN_PARTS_REGEX: '([', DIB_BLOCK_SIZE: '1000', break: 'before-instal' }).catch((x: unknown) => x);
    expect((e as { exitCode: number }).exitCode).toBe(2);
    expect((e as Error).message).toMatch(/3 problems found/);
    for (const part of [
      'DIB_BLOCK_SIZE must be 512 or 4096',
      'RUN_PARTS_REGEX is not a valid regular expression',
      'unknown break point: before-instal',
    ])
      expect((e as Error).message).toContain(part);
  });
  it('the hook environment gets SKIP_BASE and the exported settings in DIB form', async () => {
    const { hookEnvironment } = await import('../../../src/build/environment.js');
    const config = await parse(['vm'], { SKIP_BASE: '1', DIB_CHECKSUM: '1' });
    const { SecretPolicy } = await import('../../../src/build/secrets.js');
    const env = hookEnvironment({
      config,
      elements: [],
      elementsPath: '',
      argv: [],
      callerEnv: {},
      extra: {},
      secrets: new SecretPolicy(),
    });
    expect([env.SKIP_BASE, env.DIB_CHECKSUM, env.DIB_OFFLINE, env.ARCH]).toEqual(['1', '1', '', config.arch]);
  });
  it('--help lists the environment-only settings (SKIP_BASE comes with -n; DIB_QUIET, OVERWRITE_OLD_IMAGE, RUN_PARTS_REGEX, break)', async () => {
    const { runCli } = await import('../../helpers/cli.js');
    const r = await runCli('disk-image-create', ['--help']);
    for (const name of [
      'SKIP_BASE',
      'DIB_QUIET',
      'OVERWRITE_OLD_IMAGE',
      'RUN_PARTS_REGEX',
      'DIB_BLOCK_SIZE',
      'break ',
      'break_cmd',
      '--debug',
    ])
      expect(r.stdout).toContain(name);
  });
});
