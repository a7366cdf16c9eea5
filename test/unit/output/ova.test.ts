// -t ova checked by readers that are not ours: GNU tar (member order, ustar), xmllint (well-formed OVF,
// XPath for the required elements), sha256 recomputed for the manifest, qemu-img for the VMDK inside.
import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { outputPath, outputType } from '../../../src/output/types.js';
import { writeOutputs } from '../../../src/output/write.js';
import { installFakeBin } from '../../helpers/fake-bin.js';
import { LEDGER_NAME, Ledger } from '../../../src/core/ledger.js';
import { Resources } from '../../../src/core/resources.js';
import { OPTIONS, makeRawDisk, member, members, qemuInfo, realTools, run } from './fixtures.js';

let cleanup: (() => void) | undefined;
afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

async function buildOva() {
  const t = realTools();
  cleanup = () => t.fake.restore();
  const raw = makeRawDisk(t.dir, 24);
  const stem = join(t.out, 'image');
  const { runner } = t.fake.runner();
  await writeOutputs(runner, [{ type: outputType('ova'), path: outputPath(stem, 'ova') }], { raw }, OPTIONS, t.resources);
  const ova = `${stem}.ova`;
  const ovfFile = join(t.dir, 'image.ovf');
  writeFileSync(ovfFile, member(ova, 'image.ovf'));
  // xmllint --xpath with the OVF namespaces bound (it has no option to bind them: local-name() paths).
  const xpath = (expr: string) => run('xmllint', ['--xpath', expr, ovfFile]).trim();
  return { t, raw, ova, ovfFile, xpath };
}

describe('-t ova', () => {
  it('tar -tvf: one ustar archive of image.ovf, image.mf, image-disk1.vmdk in that order, uncompressed; no scratch VMDK left beside it', async () => {
    const { t, ova } = await buildOva();
    expect(members(ova)).toEqual(['image.ovf', 'image.mf', 'image-disk1.vmdk']);
    const header = readFileSync(ova).subarray(0, 512);
    expect(header.toString('latin1', 257, 265)).toBe('ustar\u000000'); // POSIX ustar magic and version, not GNU
    expect(run('tar', ['-tvf', ova])).toMatch(/^-rw-r--r-- 0\/0 +\d+ .* image\.ovf\n/);
    expect(readdirSync(t.out)).toEqual(['image.ova']);
  });

  it('xmllint: the descriptor is well-formed and has References, DiskSection (capacity = raw size, populated size), NetworkSection, OperatingSystemSection and CPU, memory, SCSI and disk items', async () => {
    const { raw, ova, ovfFile, xpath } = await buildOva();
    run('xmllint', ['--noout', ovfFile]);
    const vmdkSize = member(ova, 'image-disk1.vmdk').length;
    const el = (path: string) =>
      path
        .split('/')
        .map((p) => (p ? `*[local-name()='${p}']` : ''))
        .join('/');
    expect(xpath(`string(/${el('Envelope/References/File')}/@*[local-name()='href'])`)).toBe('image-disk1.vmdk');
    expect(Number(xpath(`string(/${el('Envelope/References/File')}/@*[local-name()='size'])`))).toBe(vmdkSize);
    const disk = `/${el('Envelope/DiskSection/Disk')}`;
    expect(Number(xpath(`string(${disk}/@*[local-name()='capacity'])`))).toBe(statSync(raw).size);
    expect(Number(xpath(`string(${disk}/@*[local-name()='populatedSize'])`))).toBeGreaterThan(0);
    expect(xpath(`string(${disk}/@*[local-name()='format'])`)).toBe(
      'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized',
    );
    expect(xpath(`count(/${el('Envelope/NetworkSection/Network')})`)).toBe('1');
    expect(xpath(`string(/${el('Envelope/VirtualSystem/OperatingSystemSection')}/@*[local-name()='id'])`)).toBe('96'); // Debian 64-Bit
    const items = `/${el('Envelope/VirtualSystem/VirtualHardwareSection/Item')}`;
    const resourceTypes = xpath(`${items}/*[local-name()='ResourceType']/text()`).split(/\s+/);
    expect(resourceTypes).toEqual(['3', '4', '6', '17', '10']); // CPU, memory, SCSI controller, disk, NIC
    const diskItem = `${items}[*[local-name()='ResourceType']='17']`;
    expect(xpath(`string(${diskItem}/*[local-name()='HostResource'])`)).toBe('ovf:/disk/vmdisk1');
    expect(xpath(`string(${diskItem}/*[local-name()='Parent'])`)).toBe(
      xpath(`string(${items}[*[local-name()='ResourceType']='6']/*[local-name()='InstanceID'])`),
    );
  });

  it('the manifest: one "SHA256(name)= hex" line per other member, hashes recomputed from the archive', async () => {
    const { ova } = await buildOva();
    const sha = (name: string) => createHash('sha256').update(member(ova, name)).digest('hex');
    expect(member(ova, 'image.mf').toString()).toBe(
      `SHA256(image.ovf)= ${sha('image.ovf')}\nSHA256(image-disk1.vmdk)= ${sha('image-disk1.vmdk')}\n`,
    );
  });

  it('qemu-img info of the VMDK inside: vmdk, create type streamOptimized, virtual size = the raw disk', async () => {
    const { t, raw, ova } = await buildOva();
    const vmdk = join(t.dir, 'extracted.vmdk');
    writeFileSync(vmdk, member(ova, 'image-disk1.vmdk'));
    const info = qemuInfo(vmdk, 'vmdk');
    expect(info['virtual-size']).toBe(statSync(raw).size);
    expect(info).toMatchObject({ format: 'vmdk', 'format-specific': { data: { 'create-type': 'streamOptimized' } } });
    expect(t.fake.argvs('qemu-img')[0]).toEqual([
      'qemu-img',
      'convert',
      '-f',
      'raw',
      '-O',
      'vmdk',
      '-o',
      'subformat=streamOptimized,adapter_type=lsilogic',
      raw,
      expect.stringMatching(/\/\.image\.ova\.partial-[0-9a-f]{12}\/image-disk1\.vmdk$/),
    ]);
  });

  it('a failing qemu-img: the error names it, and once the resources unwind nothing is left in the output directory', async () => {
    const fake = installFakeBin({ 'qemu-img': { status: 1, stderr: 'qemu-img: No space left on device' } });
    cleanup = () => fake.restore();
    const resources = new Resources(new Ledger(join(fake.dir, LEDGER_NAME), fake.dir));
    const raw = join(fake.dir, 'image0.raw');
    writeFileSync(raw, Buffer.alloc(4096));
    const out = join(fake.dir, 'image.ova');
    const { runner } = fake.runner();
    await expect(writeOutputs(runner, [{ type: outputType('ova'), path: out }], { raw }, OPTIONS, resources)).rejects.toThrow(
      /^command failed \(exit 1\): qemu-img convert/,
    );
    expect(await resources.unwind()).toEqual([]);
    expect(readdirSync(fake.dir).filter((n) => n.includes('ova'))).toEqual([]);
  });
});
