// -t docker checked by readers that are not ours: skopeo reads and copies the docker-archive (copying
// verifies the layer digest), GNU tar lists the layer with owners, modes, hard links and xattrs.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planLayer, layerBytes } from '../../../src/output/layer.js';
import { outputPath, outputType } from '../../../src/output/types.js';
import { writeOutputs } from '../../../src/output/write.js';
import { FACTS, OPTIONS, member, members, realTools, run } from './fixtures.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

const LONG_DIR = `usr/share/${'d'.repeat(60)}/${'e'.repeat(60)}`;
const LONG_TARGET = `../${'t'.repeat(120)}`;

/** A small image tree with what a layer must keep, and host kernel filesystems' stand-ins to leave out. */
function makeTree(root: string): void {
  for (const d of ['etc', 'usr/bin', LONG_DIR, 'proc/1', 'sys/kernel', 'dev/pts', 'var/run']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'etc/hostname'), 'image\n');
  writeFileSync(join(root, 'etc/machine-id'), ''); // empty, as images ship it
  writeFileSync(join(root, 'etc/shadow'), 'root:*:19000:0:99999:7:::\n');
  chmodSync(join(root, 'etc/shadow'), 0o000);
  writeFileSync(join(root, 'usr/bin/tool'), '#!/bin/sh\n');
  chmodSync(join(root, 'usr/bin/tool'), 0o4755);
  linkSync(join(root, 'usr/bin/tool'), join(root, 'usr/bin/tool-alias'));
  symlinkSync(LONG_TARGET, join(root, 'usr/bin/far'));
  writeFileSync(join(root, LONG_DIR, 'caf\u00e9.txt'), 'long, non-ASCII name\n');
  run('mkfifo', [join(root, 'var/run/initctl')]);
  run('setfattr', ['-n', 'user.binary', '-v', '0x00ff80', join(root, 'usr/bin/tool')]);
  run('setfattr', ['-n', 'user.note', '-v', 'kept', join(root, 'etc/hostname')]);
  // Owners other than ours where we may set them (as root); otherwise the layer must carry ours.
  if (process.getuid?.() === 0) chownSync(join(root, 'etc/hostname'), 1234, 5678);
  writeFileSync(join(root, 'proc/cpuinfo'), 'host cpu\n');
  writeFileSync(join(root, 'sys/kernel/x'), 'host\n');
  writeFileSync(join(root, 'dev/null-host'), 'host\n');
}

async function buildDocker(facts = FACTS) {
  const t = realTools();
  cleanup = () => t.fake.restore();
  const tree = join(t.dir, 'tree');
  makeTree(tree);
  const stem = join(t.out, 'image');
  const { runner } = t.fake.runner();
  await writeOutputs(
    runner,
    [{ type: outputType('docker'), path: outputPath(stem, 'docker') }],
    { tree },
    { ...OPTIONS, image: facts },
    t.resources,
  );
  const archive = `${stem}.docker`;
  const layer = join(t.dir, 'layer.tar');
  writeFileSync(layer, member(archive, 'layer.tar'));
  return { t, tree, archive, layer };
}

describe('-t docker', () => {
  it('skopeo inspect docker-archive: amd64, linux, the tag from -o, one layer whose digest is the sha256 of layer.tar', async () => {
    const { archive, layer } = await buildDocker();
    const info = JSON.parse(run('skopeo', ['inspect', `docker-archive:${archive}`]));
    const digest = `sha256:${createHash('sha256').update(member(archive, 'layer.tar')).digest('hex')}`;
    expect(info).toMatchObject({ Architecture: 'amd64', Os: 'linux', Layers: [digest] });
    const config = JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${archive}`]));
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/bash'] }, rootfs: { diff_ids: [digest] } });
    const manifest = JSON.parse(member(archive, 'manifest.json').toString());
    expect(manifest).toEqual([
      { Config: expect.stringMatching(/^[0-9a-f]{64}\.json$/), RepoTags: ['image:latest'], Layers: ['layer.tar'] },
    ]);
    expect(members(archive)).toEqual(['layer.tar', manifest[0].Config, 'manifest.json']);
    expect(members(layer).length).toBeGreaterThan(10);
  });

  it('skopeo copy docker-archive → dir: the layer verifies against its digest; --docker-target sets the tag; arm64 is arm64/v8', async () => {
    const { t, archive } = await buildDocker({ ...FACTS, arch: 'arm64', dockerTarget: 'registry.example:5000/cloud/debian:bookworm' });
    const dir = join(t.dir, 'copied');
    run('skopeo', ['copy', '--quiet', `docker-archive:${archive}`, `dir:${dir}`]);
    expect(JSON.parse(member(archive, 'manifest.json').toString())[0].RepoTags).toEqual(['registry.example:5000/cloud/debian:bookworm']);
    const config = JSON.parse(run('skopeo', ['inspect', '--config', `docker-archive:${archive}`]));
    expect([config.architecture, config.variant]).toEqual(['arm64', 'v8']);
  });

  it('tar -tvv of the layer: numeric owners, modes (setuid, 000), an empty file, the hard link, a long link target, a long non-ASCII name, a fifo and the xattrs (pax)', async () => {
    const { tree, layer } = await buildDocker();
    const listing = run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-tvvf', layer]);
    const line = (name: string) => listing.split('\n').find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} `)) ?? `(no ${name})`;
    const owner = lstatSync(join(tree, 'etc/hostname'));
    expect(line('etc/hostname')).toMatch(new RegExp(`^-rw-r--r--\\* ${owner.uid}/${owner.gid} +6 `));
    expect(listing).toMatch(/\n {2}x: +4 user\.note\n/);
    expect(line('etc/shadow')).toMatch(/^---------- /);
    expect(line('etc/machine-id')).toMatch(/^-rw-r--r-- +\d+\/\d+ +0 /);
    expect(line('usr/bin/tool')).toMatch(/^-rwsr-xr-x\* /);
    expect(listing).toMatch(/\n {2}x: +3 user\.binary\n/);
    expect(line('usr/bin/tool-alias')).toMatch(/^hrwsr-xr-x .* usr\/bin\/tool-alias link to usr\/bin\/tool$/);
    expect(line('usr/bin/far')).toMatch(new RegExp(`^lrwxrwxrwx .* usr/bin/far -> ${LONG_TARGET.replace(/\./g, '\\.')}$`));
    expect(line(`${LONG_DIR}/caf\u00e9.txt`)).toMatch(/^-rw-r--r-- /);
    expect(line('var/run/initctl')).toMatch(/^prw-r--r-- /);
  });

  it('proc, sys and dev are in the layer as empty directories: the host files mounted there are not', async () => {
    const { layer } = await buildDocker();
    const names = members(layer);
    expect(names.filter((n) => /^(proc|sys|dev)\//.test(n))).toEqual(['dev/', 'proc/', 'sys/']);
    expect(names).toContain('etc/hostname');
    expect(names[0]).toBe('dev/'); // byte order, parents first: a stable layer
  });

  it('extracted by GNU tar, the binary xattr value (bytes 00 ff 80) is byte-exact, not UTF-8-mangled', async () => {
    const { t, layer } = await buildDocker();
    const out = join(t.dir, 'extracted');
    mkdirSync(out);
    run('tar', ['--xattrs', '--xattrs-include=*', '-C', out, '-xf', layer]);
    const dump = run('getfattr', ['--absolute-names', '--encoding=hex', '-n', 'user.binary', join(out, 'usr/bin/tool')]);
    expect(dump.split('\n')[1]).toBe('user.binary=0x00ff80');
  });

  it('a file that grows after the layer was planned fails the output instead of writing a layer that disagrees with its size', async () => {
    const t = realTools();
    cleanup = () => t.fake.restore();
    const tree = join(t.dir, 'tree');
    makeTree(tree);
    const { runner } = t.fake.runner();
    const plan = await planLayer(runner, tree);
    writeFileSync(join(tree, 'etc/hostname'), 'a longer name than before\n');
    const drain = async () => {
      for await (const _ of layerBytes(plan, createHash('sha256'))) void _;
    };
    await expect(drain()).rejects.toThrow(/etc\/hostname changed while it was archived/);
  });
});
