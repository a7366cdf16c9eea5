// `-t ova`: one ustar archive of the OVF descriptor, its manifest and a streamOptimized VMDK, in that
// order (DSP0243: descriptor first, manifest next, files in References order; not compressed, the
// VMDK's grains already are). The VMDK is the only copy of the disk: it streams into the archive.
import { createHash } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Runner } from '../core/exec.js';
import { addBuffer, addFile, fileDigest, writeArchive } from './archive.js';
import { archNames } from './names.js';
import { renderOvf } from './ovf.js';

export interface OvaOptions {
  /** Debian architecture of the image. */
  arch: string;
  /** DISTRO_NAME ('' when unknown), for the guest OS type. */
  distro: string;
}

/** qemu-img options of the disk inside: what vSphere imports; the adapter matches the OVF's SCSI controller. */
export const OVA_VMDK_OPTIONS = 'subformat=streamOptimized,adapter_type=lsilogic';

/** Member names in the OVA: `<base>.ovf`, `<base>.mf`, `<base>-disk1.vmdk`. */
export function ovaMembers(file: string): { ovf: string; mf: string; vmdk: string } {
  const base =
    basename(file)
      .replace(/\.ova$/, '')
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 64) || 'image';
  return { ovf: `${base}.ovf`, mf: `${base}.mf`, vmdk: `${base}-disk1.vmdk` };
}

/** Write `file` (in a private directory: the VMDK is made beside it, then removed) from the raw disk. */
export async function writeOva(runner: Runner, raw: string, file: string, options: OvaOptions): Promise<void> {
  const members = ovaMembers(file);
  const vmdk = join(dirname(file), members.vmdk);
  try {
    await runner.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk', '-o', OVA_VMDK_OPTIONS, raw, vmdk]);
    const disk = statSync(raw);
    const vmdkSize = statSync(vmdk).size;
    const ovf = renderOvf({
      name: members.ovf.slice(0, -'.ovf'.length),
      distro: options.distro,
      is64Bit: archNames(options.arch).is64Bit,
      disk: { file: members.vmdk, fileSize: vmdkSize, capacity: disk.size, populatedSize: Math.min(disk.blocks * 512, disk.size) },
    });
    // ESXi wants exactly `SHA256(name)= hex`; the manifest covers every other member.
    const manifest = [
      `SHA256(${members.ovf})= ${createHash('sha256').update(ovf).digest('hex')}`,
      `SHA256(${members.vmdk})= ${await fileDigest(vmdk, 'sha256')}`,
      '',
    ].join('\n');
    const member = { mode: 0o644, mtime: new Date() };
    await writeArchive(file, async (pack) => {
      await addBuffer(pack, { ...member, name: members.ovf }, ovf);
      await addBuffer(pack, { ...member, name: members.mf }, manifest);
      await addFile(pack, { ...member, name: members.vmdk, size: vmdkSize }, vmdk);
    });
  } finally {
    rmSync(vmdk, { force: true });
  }
}
