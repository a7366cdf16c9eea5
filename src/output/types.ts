// The ONE table of output types: validation, file names, writers, tools, rotation, checksums and the
// Glance formats all read it, so a type is added in one place.

/** Writers that are one command (see writerArgv). */
export type CommandWriter = 'qemu-img' | 'copy' | 'tar' | 'squashfs';
/** Writers that package the disk or tree in-process (archives with tar-stream), running qemu-img where needed. */
export type PackageWriter = 'ova' | 'docker' | 'stemcell';
/** Files copied out of the finished tree (the baremetal element's kernel and initrd). */
export type TreeFileWriter = 'boot-file';
export type OutputWriter = CommandWriter | PackageWriter | TreeFileWriter;

export interface OutputType {
  /** The `-t` name. */
  name: string;
  /** File name suffix after the stem (DIB names squashfs `.squash`). */
  extension: string;
  writer: OutputWriter;
  /** What it is made from: the partitioned disk, or the finished tree. */
  source: 'disk' | 'tree';
  /** qemu-img's `-O` format, for the qemu-img writer. */
  qemuFormat?: string;
  /** qemu-img `-o` options this type always gets (QEMU_IMG_OPTIONS follow them). */
  qemuOptions?: string;
  /** qemu-img `-c` unless `-u` (DIB compresses qcow2 only). */
  compressible?: boolean;
  /** Host tools the writer runs. */
  tools: string[];
  /** Glance's disk_format and container_format for this file (absent: Glance does not take it). */
  glance?: { diskFormat: string; containerFormat: string };
  /** Only a booting whole disk makes sense in it (a partition table and a bootloader): refused for a partition image. */
  wholeDisk?: boolean;
  /** A container image: refused with `vm` (a container has no kernel, bootloader or partition table). */
  container?: boolean;
  /** Written because this element is in the image, never asked for with `-t` (DIB's baremetal files). */
  madeBy?: string;
}

/** A disk converted by qemu-img to `format` (its Glance disk_format too, where Glance knows it). */
const qemuImg = (format: string, glanceDiskFormat: string | undefined, more: Partial<OutputType> = {}): OutputType => ({
  name: format,
  extension: format,
  writer: 'qemu-img',
  source: 'disk',
  qemuFormat: format,
  tools: ['qemu-img'],
  glance: glanceDiskFormat ? { diskFormat: glanceDiskFormat, containerFormat: 'bare' } : undefined,
  ...more,
});

export const OUTPUT_TYPES: readonly OutputType[] = [
  qemuImg('qcow2', 'qcow2', { qemuOptions: 'compat=1.1', compressible: true }),
  { name: 'raw', extension: 'raw', writer: 'copy', source: 'disk', tools: ['cp'], glance: { diskFormat: 'raw', containerFormat: 'bare' } },
  qemuImg('vmdk', 'vmdk'),
  qemuImg('vdi', 'vdi'),
  qemuImg('vhdx', 'vhdx'),
  qemuImg('qed', undefined), // not a Glance disk format
  // Dynamic, as DIB's vhd-util path makes it, and what Glance's format inspector recognises as vhd (a
  // fixed VHD is raw data with a footer: detected as raw). force_size: the exact raw size, not CHS-rounded.
  qemuImg('vhd', 'vhd', { qemuFormat: 'vpc', qemuOptions: 'subformat=dynamic,force_size=on' }),
  {
    name: 'ova',
    extension: 'ova',
    writer: 'ova',
    source: 'disk',
    tools: ['qemu-img'],
    glance: { diskFormat: 'vmdk', containerFormat: 'ova' },
    wholeDisk: true,
  },
  {
    name: 'stemcell',
    extension: 'stemcell.tgz',
    writer: 'stemcell',
    source: 'disk',
    tools: ['qemu-img'],
    // Not a Glance image itself: `bosh upload-stemcell` takes it, and the CPI uploads the qcow2 inside (qcow2/bare).
    wholeDisk: true,
  },
  // Trees are no Glance images (a tarball is only a container in Glance's sense for docker/ova).
  { name: 'tar', extension: 'tar', writer: 'tar', source: 'tree', tools: ['tar'] },
  { name: 'tgz', extension: 'tgz', writer: 'tar', source: 'tree', tools: ['tar', 'gzip'] },
  { name: 'squashfs', extension: 'squash', writer: 'squashfs', source: 'tree', tools: ['mksquashfs'] },
  // A docker-archive (`docker load -i`); getfattr reads the xattrs the layer carries.
  {
    name: 'docker',
    extension: 'docker',
    writer: 'docker',
    source: 'tree',
    tools: ['getfattr'],
    glance: { diskFormat: 'raw', containerFormat: 'docker' },
    container: true,
  },
  // The baremetal element: the image's kernel and initrd beside it (Glance's aki and ari; Ironic's
  // deploy_kernel/deploy_ramdisk for a partition image), taken from the finished tree's /boot.
  {
    name: 'vmlinuz',
    extension: 'vmlinuz',
    writer: 'boot-file',
    source: 'tree',
    tools: [],
    glance: { diskFormat: 'aki', containerFormat: 'aki' },
    madeBy: 'baremetal',
  },
  {
    name: 'initrd',
    extension: 'initrd',
    writer: 'boot-file',
    source: 'tree',
    tools: [],
    glance: { diskFormat: 'ari', containerFormat: 'ari' },
    madeBy: 'baremetal',
  },
];

/** The types `-t` takes (the element-made files are not among them). */
export const OUTPUT_TYPE_NAMES = OUTPUT_TYPES.filter((t) => !t.madeBy).map((t) => t.name);

/** The files the resolved elements ask for themselves (baremetal: NAME.vmlinuz and NAME.initrd). */
export function elementOutputTypes(elements: readonly string[]): OutputType[] {
  return OUTPUT_TYPES.filter((t) => t.madeBy && elements.includes(t.madeBy));
}

export function outputType(name: string): OutputType {
  const t = OUTPUT_TYPES.find((o) => o.name === name);
  if (!t) throw new Error(`unknown output type ${name}`); // validated in the settings; a bug if reached
  return t;
}

/** The file a type is written to: `<stem>.<extension>`. */
export function outputPath(stem: string, type: string): string {
  return `${stem}.${outputType(type).extension}`;
}
