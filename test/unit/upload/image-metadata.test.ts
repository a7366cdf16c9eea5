// What image-upload tells Glance about a file: its formats from the output table, whether its content is
// what the name says (qemu-img, tar), and the image guide's properties from NAME.d/image-metadata.json.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { glanceProperties, readImageMetadata, writeImageMetadata, type ImageMetadata } from '../../../src/upload/image-metadata.js';
import { contentProblem, kindOf, planUpload } from '../../../src/upload/upload.js';
import { tempDir } from '../../helpers/tree.js';

let dirs: Array<{ remove: () => void }> = [];
afterEach(() => {
  for (const d of dirs) d.remove();
  dirs = [];
});
function scratch(): string {
  const d = tempDir('dib-ts-upload-');
  dirs.push(d);
  return d.path;
}
const META: ImageMetadata = {
  tool: 'dib-ts',
  version: '0.1.0',
  arch: 'amd64',
  distro: 'debian',
  release: 'bookworm',
  elements: ['vm', 'cloud-init'],
  expandedElements: ['debian', 'vm', 'cloud-init'],
  firmware: 'bios',
};

describe('kindOf: Glance formats from the output table', () => {
  it('qcow2/bare, vhd/bare, ova as vmdk/ova, docker as raw/docker, the baremetal files as aki and ari; .stemcell.tgz is not .tgz', () => {
    const k = (f: string) => {
      const x = kindOf(f, {});
      return [x.diskFormat, x.containerFormat, x.stem];
    };
    expect(k('/o/cloud.qcow2')).toEqual(['qcow2', 'bare', '/o/cloud']);
    expect(k('/o/cloud.vhd')).toEqual(['vhd', 'bare', '/o/cloud']);
    expect(k('/o/cloud.ova')).toEqual(['vmdk', 'ova', '/o/cloud']);
    expect(k('/o/c.docker')).toEqual(['raw', 'docker', '/o/c']);
    expect(k('/o/node.vmlinuz')).toEqual(['aki', 'aki', '/o/node']);
    expect(k('/o/node.initrd')).toEqual(['ari', 'ari', '/o/node']);
    expect(() => kindOf('/o/x.stemcell.tgz', {})).toThrow(/is a stemcell output, which Glance does not take/);
    expect(() => kindOf('/o/x.tar', {})).toThrow(/is a tar output/);
    expect(() => kindOf('/o/x.img', {})).toThrow(/the disk format is not known from its name/);
    expect(kindOf('/o/x.img', { diskFormat: 'raw' })).toMatchObject({ diskFormat: 'raw', containerFormat: 'bare' });
  });
});

describe('contentProblem: the file is what its name says (qemu-img, tar)', () => {
  it('a raw file named .qcow2 is refused; a real qcow2 passes; a vhd is detected as vpc', () => {
    const d = scratch();
    writeFileSync(join(d, 'fake.qcow2'), Buffer.alloc(65536));
    expect(contentProblem(join(d, 'fake.qcow2'), kindOf(join(d, 'fake.qcow2'), {}))).toBe(
      `${join(d, 'fake.qcow2')} is not qcow2: its header says raw`,
    );
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(d, 'real.qcow2'), '16M']);
    expect(contentProblem(join(d, 'real.qcow2'), kindOf(join(d, 'real.qcow2'), {}))).toBeUndefined();
    execFileSync('qemu-img', ['create', '-q', '-f', 'vpc', '-o', 'force_size=on', join(d, 'd.vhd'), '16M']);
    expect(contentProblem(join(d, 'd.vhd'), kindOf(join(d, 'd.vhd'), {}))).toBeUndefined();
  });
  it('a qcow2 with a backing file (the reader would open a file of its own host) is refused, naming it', () => {
    const d = scratch();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(d, 'base.qcow2'), '16M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', join(d, 'base.qcow2'), join(d, 'overlay.qcow2')]);
    expect(contentProblem(join(d, 'overlay.qcow2'), kindOf(join(d, 'overlay.qcow2'), {}))).toBe(
      `${join(d, 'overlay.qcow2')} refers to more than itself (a backing file ("${join(d, 'base.qcow2')}")): an image to upload must stand alone`,
    );
  });

  it('an .ova that is not a tar, and one whose first member is not the descriptor', () => {
    const d = scratch();
    writeFileSync(join(d, 'x.ova'), 'not a tar');
    expect(contentProblem(join(d, 'x.ova'), kindOf(join(d, 'x.ova'), {}))).toMatch(/is not a tar archive/);
    writeFileSync(join(d, 'a.vmdk'), 'x');
    execFileSync('tar', ['-C', d, '-cf', join(d, 'y.ova'), 'a.vmdk']);
    expect(contentProblem(join(d, 'y.ova'), kindOf(join(d, 'y.ova'), {}))).toMatch(/its first member is not an \.ovf descriptor/);
  });
});

describe('the image guide properties from NAME.d/image-metadata.json', () => {
  it('architecture (uname -m), os_distro, os_version (the Debian number), os_type, hw_firmware_type, hw_disk_bus, provenance; hw_qemu_guest_agent from the dpkg manifest', () => {
    const d = scratch();
    mkdirSync(join(d, 'cloud.d', 'dib-manifests'), { recursive: true });
    writeImageMetadata(join(d, 'cloud.d'), META);
    writeFileSync(join(d, 'cloud.d', 'dib-manifests', 'dib-manifest-dpkg-cloud'), 'bash 5.2\nqemu-guest-agent 1:7.2\n');
    expect(glanceProperties(readImageMetadata(join(d, 'cloud')), 'qcow2')).toEqual({
      architecture: 'x86_64',
      os_distro: 'debian',
      os_version: '12',
      os_type: 'linux',
      hw_firmware_type: 'bios',
      hw_disk_bus: 'virtio',
      hw_qemu_guest_agent: 'yes',
      'owner_specified.dib_ts.elements': 'vm cloud-init',
      'owner_specified.dib_ts.version': '0.1.0',
    });
  });
  it('a partition image has no firmware type; arm64 is aarch64; no NAME.d gives no properties', () => {
    const d = scratch();
    mkdirSync(join(d, 'node.d'));
    writeImageMetadata(join(d, 'node.d'), { ...META, arch: 'arm64', firmware: null });
    const p = glanceProperties(readImageMetadata(join(d, 'node')), 'raw');
    expect(p.architecture).toBe('aarch64');
    expect(p).not.toHaveProperty('hw_firmware_type');
    expect(glanceProperties(readImageMetadata(join(d, 'none')), 'qcow2')).toEqual({});
  });
  it('hostile metadata (a property value smuggled in, a symlink to a host file) is ignored with a reason, never used', () => {
    const d = scratch();
    mkdirSync(join(d, 'a.d'));
    writeFileSync(join(d, 'a.d', 'image-metadata.json'), JSON.stringify({ ...META, distro: 'debian", "visibility": "public' }));
    const bad = readImageMetadata(join(d, 'a'));
    expect(bad.metadata).toBeUndefined();
    expect(bad.problem).toMatch(/\/distro must match pattern/);
    mkdirSync(join(d, 'b.d'));
    symlinkSync('/etc/passwd', join(d, 'b.d', 'image-metadata.json'));
    expect(readImageMetadata(join(d, 'b')).problem).toMatch(/is not a small regular file/);
  });
  it('planUpload: --property wins over a derived one; os_glance* properties and image fields (visibility, id) are refused; the name defaults to the stem', () => {
    const d = scratch();
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(d, 'cloud.qcow2'), '1G']);
    mkdirSync(join(d, 'cloud.d'));
    writeImageMetadata(join(d, 'cloud.d'), META);
    const req = { file: join(d, 'cloud.qcow2'), visibility: 'private', tags: [], useImport: false, replace: false, waitSeconds: 1 };
    const p = planUpload({
      ...req,
      properties: { hw_disk_bus: 'scsi', os_glance_importing_to_stores: 'x', visibility: 'public', id: 'x' },
    });
    closeSync(p.file.fd);
    expect(p.name).toBe('cloud');
    expect(p.properties.hw_disk_bus).toBe('scsi');
    expect(p.problems.map((e) => e.message)).toEqual([
      '--property os_glance_importing_to_stores: os_glance* properties are reserved by Glance',
      '--property visibility: visibility is a field of the image, not a property',
      '--property id: id is a field of the image, not a property',
    ]);
  });

  it('planUpload names the baremetal files NAME-vmlinuz and NAME-initrd (TripleO), and refuses a symlink instead of following it', () => {
    const d = scratch();
    writeFileSync(join(d, 'node.vmlinuz'), 'kernel');
    const req = { visibility: 'private', tags: [], properties: {}, useImport: false, replace: false, waitSeconds: 1 };
    const k = planUpload({ ...req, file: join(d, 'node.vmlinuz') });
    closeSync(k.file.fd);
    expect(k.name).toBe('node-vmlinuz');
    symlinkSync('/etc/passwd', join(d, 'link.raw'));
    expect(() => planUpload({ ...req, file: join(d, 'link.raw') })).toThrow(/is not a regular file/);
  });
});
