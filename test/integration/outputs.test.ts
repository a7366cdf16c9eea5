// Root-only: the output types from real Debian builds, each checked by a reader that is not ours
// (qemu-img, GNU tar, xmllint, sha256sum, skopeo, blkid, debugfs, a YAML parser); one build writes
// several types. The partition image boots under qemu with the baremetal element's kernel and initrd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../helpers/cli.js';
import { bootUntil } from '../helpers/boot.js';
import { NO_LEAKS, findLeaks } from '../helpers/leaks.js';
import { ensureCachedBaseTree, tinyOsElement } from '../helpers/tiny-os.js';
import { writeTree } from '../helpers/tree.js';
import { member, members, qemuInfo, run } from '../unit/output/fixtures.js';

const CACHE = process.env.DIB_TS_TEST_CACHE ?? '/var/tmp/dib-ts-test-cache';
const root = `/var/tmp/dib-ts-outputs-${process.pid}`;
const tmp = join(root, 'tmp');
const out = join(root, 'out');
const scratch = join(root, 'scratch');
const elements = join(root, 'elements');
const env = { TMP_DIR: tmp, ELEMENTS_PATH: elements };
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const sha1 = (data: Buffer) => createHash('sha1').update(data).digest('hex');

interface ManifestFile {
  path: string;
  format: string;
  size: number;
  sha256: string;
}
const manifestFiles = (file: string) =>
  (JSON.parse(readFileSync(file, 'utf8')) as { images: Array<{ files: ManifestFile[] }> }).images[0].files;

beforeAll(() => {
  for (const d of [tmp, out, scratch]) mkdirSync(d, { recursive: true });
  writeTree(elements, { 'tiny-os': tinyOsElement() });
});
afterAll(() => {
  if (!findLeaks(root).mounts.length) rmSync(root, { recursive: true, force: true });
});

describe('output types from real builds, checked by readers that are not ours', () => {
  it('vm -t qcow2,vhd,ova,stemcell,raw --checksum: qemu-img (check, compare with the raw disk), tar, xmllint, sha256sum and a YAML parser agree with what each format promises', async () => {
    const stem = join(out, 'cloud');
    const manifest = join(out, 'cloud.manifest.json');
    const r = await runCli(
      'disk-image-create',
      ['--image-cache', CACHE, '--checksum', '--manifest', manifest, '-t', 'qcow2,vhd,ova,stemcell,raw', '-o', stem, 'vm'],
      env,
      { timeout: 1_800_000 },
    );
    expect(r.stderr.slice(-3000)).toContain('Build completed successfully');
    expect(r.status).toBe(0);
    const rawSize = statSync(`${stem}.raw`).size;

    // qcow2 and vhd: qemu-img check, exact virtual size (vpc would round it to CHS geometry without force_size).
    run('qemu-img', ['check', `${stem}.qcow2`]);
    expect(qemuInfo(`${stem}.qcow2`, 'qcow2')['virtual-size']).toBe(rawSize);
    const vhd = JSON.parse(run('qemu-img', ['info', '--output=json', `${stem}.vhd`])) as Record<string, unknown>;
    expect([vhd.format, vhd['virtual-size']]).toEqual(['vpc', rawSize]);
    // qemu-img has no check for vpc: compare its content with the raw disk instead.
    expect(run('qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', `${stem}.raw`, `${stem}.vhd`])).toMatch(/Images are identical/);

    // ova: member order, a well-formed descriptor whose capacity is the disk, the manifest's hashes, a streamOptimized VMDK.
    const ova = `${stem}.ova`;
    expect(members(ova)).toEqual(['cloud.ovf', 'cloud.mf', 'cloud-disk1.vmdk']);
    const ovf = join(scratch, 'cloud.ovf');
    writeFileSync(ovf, member(ova, 'cloud.ovf'));
    run('xmllint', ['--noout', ovf]);
    const capacity = run('xmllint', ['--xpath', "string(//*[local-name()='Disk']/@*[local-name()='capacity'])", ovf]).trim();
    expect(Number(capacity)).toBe(rawSize);
    const vmdk = join(scratch, 'cloud-disk1.vmdk');
    writeFileSync(vmdk, member(ova, 'cloud-disk1.vmdk'));
    expect(member(ova, 'cloud.mf').toString()).toBe(
      `SHA256(cloud.ovf)= ${sha256(readFileSync(ovf))}\nSHA256(cloud-disk1.vmdk)= ${sha256(readFileSync(vmdk))}\n`,
    );
    expect(qemuInfo(vmdk, 'vmdk')).toMatchObject({
      'virtual-size': rawSize,
      'format-specific': { data: { 'create-type': 'streamOptimized' } },
    });
    rmSync(vmdk);

    // stemcell: stemcell.MF read as YAML; its sha1 is image's; root.img inside image is a qcow2 of the disk; the package list is the image's.
    const stemcell = `${stem}.stemcell.tgz`;
    expect(members(stemcell, true)).toEqual(['stemcell.MF', 'packages.txt', 'image']);
    const mf = parseYaml(member(stemcell, 'stemcell.MF', true).toString()) as Record<string, unknown>;
    const image = join(scratch, 'image');
    writeFileSync(image, member(stemcell, 'image', true));
    expect(mf).toMatchObject({
      name: 'bosh-openstack-kvm-debian-bookworm-go_agent',
      bosh_protocol: 1,
      api_version: 3,
      sha1: sha1(readFileSync(image)),
      operating_system: 'debian-bookworm',
      stemcell_formats: ['openstack-qcow2'],
      cloud_properties: {
        infrastructure: 'openstack',
        hypervisor: 'kvm',
        disk_format: 'qcow2',
        container_format: 'bare',
        architecture: 'x86_64',
      },
    });
    expect(members(image, true)).toEqual(['root.img']);
    run('tar', ['-C', scratch, '-xzf', image]);
    run('qemu-img', ['check', join(scratch, 'root.img')]);
    expect(qemuInfo(join(scratch, 'root.img'), 'qcow2')['virtual-size']).toBe(rawSize);
    expect(member(stemcell, 'packages.txt', true).toString()).toMatch(/^linux-image-amd64 /m);
    rmSync(join(scratch, 'root.img'));
    rmSync(image);

    // Every output: checksums that sha256sum and md5sum accept, and an entry in the manifest with its hash.
    const files = ['qcow2', 'vhd', 'ova', 'stemcell.tgz', 'raw'].map((ext) => `cloud.${ext}`);
    for (const f of files) {
      execFileSync('sha256sum', ['--quiet', '-c', `${f}.sha256`], { cwd: out });
      execFileSync('md5sum', ['--quiet', '-c', `${f}.md5`], { cwd: out });
    }
    const listed = manifestFiles(manifest);
    expect(listed.map((f) => [f.format, f.path])).toEqual(
      ['qcow2', 'vhd', 'ova', 'stemcell', 'raw'].map((t, i) => [t, join(out, files[i])]),
    );
    for (const f of listed) expect(f.sha256).toBe(readFileSync(`${f.path}.sha256`, 'utf8').split(' ')[0]);
    expect(readdirSync(out).filter((n) => n.includes('partial'))).toEqual([]);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
    for (const f of files) rmSync(join(out, f));
  });

  it("baremetal without vm: a partition image (blkid: ext4 labelled cloudimg-rootfs, no partition table), NAME.vmlinuz and NAME.initrd equal to the image's /boot files (debugfs), a docker archive skopeo reads; booted with qemu -kernel/-initrd to a login prompt", async () => {
    const stem = join(out, 'node');
    const manifest = join(out, 'node.manifest.json');
    const r = await runCli(
      'disk-image-create',
      [
        '--image-cache',
        CACHE,
        '--checksum',
        '--manifest',
        manifest,
        '-t',
        'raw,docker',
        '--docker-target',
        'dib-ts/node:test',
        '-o',
        stem,
        'baremetal',
      ],
      env,
      { timeout: 1_800_000 },
    );
    expect(r.stderr.slice(-3000)).toContain('Build completed successfully');
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/baremetal: kernel \/boot\/vmlinuz-\S+ and initrd \/boot\/initrd\.img-\S+ will be written beside the image/);

    // The raw file is one filesystem: no partition table, the root label the kernel command line names.
    const probe = run('blkid', ['-p', '-o', 'export', `${stem}.raw`]);
    expect(probe).toMatch(/^TYPE=ext4$/m);
    expect(probe).toMatch(/^LABEL=cloudimg-rootfs$/m);
    expect(probe).not.toMatch(/PTTYPE/);

    // The kernel and initrd are the image's own files, read back with debugfs from the filesystem.
    const boot = run('debugfs', ['-R', 'ls -l /boot', `${stem}.raw`]);
    const kernelName = /\b(vmlinuz-\S+)/.exec(boot)![1];
    const initrdName = `initrd.img-${kernelName.slice('vmlinuz-'.length)}`;
    expect(boot).toContain(initrdName);
    for (const [inImage, beside] of [
      [kernelName, 'node.vmlinuz'],
      [initrdName, 'node.initrd'],
    ]) {
      const dumped = join(scratch, inImage);
      run('debugfs', ['-R', `dump /boot/${inImage} ${dumped}`, `${stem}.raw`]);
      expect(sha256(readFileSync(join(out, beside)))).toBe(sha256(readFileSync(dumped)));
      expect(statSync(join(out, beside)).mode & 0o777).toBe(0o644);
      execFileSync('sha256sum', ['--quiet', '-c', `${beside}.sha256`], { cwd: out });
      rmSync(dumped);
    }
    expect(
      manifestFiles(manifest)
        .map((f) => f.format)
        .sort(),
    ).toEqual(['docker', 'initrd', 'raw', 'vmlinuz']);

    // docker: skopeo reads the archive; the layer lists the image's files and keeps /dev empty.
    const inspect = JSON.parse(run('skopeo', ['inspect', `docker-archive:${stem}.docker`])) as Record<string, unknown>;
    expect(inspect).toMatchObject({ Architecture: 'amd64', Os: 'linux' });
    expect(inspect.Layers).toHaveLength(1);
    const dockerManifest = JSON.parse(member(`${stem}.docker`, 'manifest.json').toString()) as Array<{
      RepoTags: string[];
      Layers: string[];
    }>;
    expect(dockerManifest[0].RepoTags).toEqual(['dib-ts/node:test']);
    const layer = join(scratch, 'layer.tar');
    writeFileSync(layer, member(`${stem}.docker`, dockerManifest[0].Layers[0]));
    const listing = members(layer);
    expect(listing).toEqual(expect.arrayContaining(['etc/debian_version', `boot/${kernelName}`]));
    expect(listing.filter((n) => /^(dev|proc|sys)\/./.test(n))).toEqual([]);
    rmSync(layer);
    expect(findLeaks(root)).toEqual(NO_LEAKS);

    const booted = await bootUntil(`${stem}.raw`, root, /login:/, 400, {
      kernel: `${stem}.vmlinuz`,
      initrd: `${stem}.initrd`,
      append: 'root=LABEL=cloudimg-rootfs console=ttyS0',
    });
    expect(booted.console).toMatch(/Linux version/);
    expect(booted.matched).toBe(true);
    console.log(`partition image booted with its kernel and initrd to login: in ${booted.seconds.toFixed(0)}s`);
  });

  it('baremetal on an image without a kernel: exit 2 before the disk is made, naming both files and what /boot holds, with a hint; no output, no leak', async () => {
    await ensureCachedBaseTree(CACHE, env, out);
    const stem = join(out, 'nokernel');
    const r = await runCli('disk-image-create', ['--image-cache', CACHE, '-n', '-t', 'raw', '-o', stem, 'tiny-os', 'baremetal'], env, {
      timeout: 600_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`the baremetal element writes ${stem}.vmlinuz and ${stem}.initrd, and no kernel (vmlinuz-VERSION)`);
    expect(r.stderr).toMatch(/hint: install a kernel in the image/);
    expect(r.stderr).not.toMatch(/create the disk/);
    expect(readdirSync(out).filter((n) => n.startsWith('nokernel'))).toEqual([]);
    expect(existsSync(`${stem}.raw`)).toBe(false);
    expect(findLeaks(root)).toEqual(NO_LEAKS);
  });
});
