// What image-verify refuses to hand to qemu-img: formats by magic, and what `qemu-img info` shows besides the file.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/core/errors.js';
import { detectFormat, infoProblems } from '../../../src/verify/image-file.js';

const head = (text: string, size = 512) => {
  const b = Buffer.alloc(size);
  b.write(text, 'latin1');
  return b;
};
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (error) {
    if (error instanceof UsageError) return `${error.kind}: ${error.message}`;
    throw error;
  }
  return undefined;
};

describe('detectFormat', () => {
  it('pins the formats image-verify reads from their magic bytes, raw otherwise', () => {
    const qcow2 = head('QFI\xfb');
    qcow2.writeUInt32BE(3, 4);
    expect(detectFormat(qcow2, 'x')).toBe('qcow2');
    expect(detectFormat(head('QED\0'), 'x')).toBe('qed');
    expect(detectFormat(head('vhdxfile'), 'x')).toBe('vhdx');
    expect(detectFormat(head('KDMV'), 'x')).toBe('vmdk');
    const vdi = head('<<< Oracle VM VirtualBox Disk Image >>>\n');
    vdi.writeUInt32LE(0xbeda107f, 64);
    expect(detectFormat(vdi, 'x')).toBe('vdi');
    expect(detectFormat(Buffer.alloc(512), 'x')).toBe('raw');
  });
  it('refuses other formats by name, and a VMDK descriptor naming its extents', () => {
    const qcow1 = head('QFI\xfb');
    qcow1.writeUInt32BE(1, 4);
    expect(refusal(() => detectFormat(qcow1, 'img'))).toBe(
      'unsupported-image: img is a qcow image of version 1, which image-verify does not read',
    );
    expect(refusal(() => detectFormat(head('conectix'), 'img'))).toMatch(/a VHD \(vpc\) image/);
    expect(refusal(() => detectFormat(head('LUKS\xba\xbe'), 'img'))).toMatch(/LUKS/);
    const descriptor = '# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "/dev/sda" 0\n';
    expect(refusal(() => detectFormat(head(descriptor), 'img'))).toBe(
      'unsupported-image: img is a VMDK descriptor file naming extents in other files: "/dev/sda", which image-verify does not read',
    );
  });
});

describe('infoProblems', () => {
  const base = { format: 'qcow2', filename: '/w/image', 'virtual-size': 1 };
  it('a self-contained image has none', () => expect(infoProblems(base, '/w/image', 'qcow2')).toEqual([]));
  it('names backing files, data files, other protocols, other formats and foreign VMDK extents', () => {
    expect(infoProblems({ ...base, 'backing-filename': 'x', 'full-backing-filename': '/etc/shadow' }, '/w/image', 'qcow2')).toEqual([
      'a backing file ("/etc/shadow")',
    ]);
    expect(infoProblems({ ...base, 'format-specific': { type: 'qcow2', data: { 'data-file': '/dev/sda' } } }, '/w/image', 'qcow2')).toEqual(
      ['an external data file ("/dev/sda")'],
    );
    expect(infoProblems({ ...base, filename: 'nbd://10.0.0.1/x' }, '/w/image', 'qcow2')).toEqual([
      'qemu-img opened "nbd://10.0.0.1/x", not the local file',
    ]);
    expect(infoProblems({ ...base, format: 'raw' }, '/w/image', 'qcow2')).toEqual(['qemu-img reads it as raw, not qcow2']);
    const vmdk = {
      ...base,
      format: 'vmdk',
      'format-specific': {
        type: 'vmdk',
        data: { 'create-type': 'monolithicSparse', extents: [{ filename: '/w/image' }, { filename: '/root/x' }] },
      },
    };
    expect(infoProblems(vmdk, '/w/image', 'vmdk')).toEqual(['2 extents', 'an extent in another file ("/root/x")']);
    expect(
      infoProblems(
        {
          ...base,
          children: [
            { name: 'file', info: { format: 'nbd' } },
            { name: 'data-file', info: { filename: '/dev/sdb' } },
          ],
        },
        '/w/image',
        'qcow2',
      ),
    ).toEqual(['the nbd protocol', 'a data-file child ("/dev/sdb")']);
  });
});
