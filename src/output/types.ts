// The ONE table of output types: validation, file names, writers, tools, rotation, checksums and the
// Glance formats all read it, so a type is added in one place.

export type OutputWriter = 'qemu-img' | 'copy' | 'tar' | 'squashfs';

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
  /** Host tools the writer runs. */
  tools: string[];
  /** Glance's disk_format and container_format for this file. */
  glance: { diskFormat: string; containerFormat: string };
}

export const OUTPUT_TYPES: readonly OutputType[] = [
  {
    name: 'qcow2',
    extension: 'qcow2',
    writer: 'qemu-img',
    source: 'disk',
    qemuFormat: 'qcow2',
    tools: ['qemu-img'],
    glance: { diskFormat: 'qcow2', containerFormat: 'bare' },
  },
  { name: 'raw', extension: 'raw', writer: 'copy', source: 'disk', tools: ['cp'], glance: { diskFormat: 'raw', containerFormat: 'bare' } },
  {
    name: 'vmdk',
    extension: 'vmdk',
    writer: 'qemu-img',
    source: 'disk',
    qemuFormat: 'vmdk',
    tools: ['qemu-img'],
    glance: { diskFormat: 'vmdk', containerFormat: 'bare' },
  },
  {
    name: 'vdi',
    extension: 'vdi',
    writer: 'qemu-img',
    source: 'disk',
    qemuFormat: 'vdi',
    tools: ['qemu-img'],
    glance: { diskFormat: 'vdi', containerFormat: 'bare' },
  },
  {
    name: 'vhdx',
    extension: 'vhdx',
    writer: 'qemu-img',
    source: 'disk',
    qemuFormat: 'vhdx',
    tools: ['qemu-img'],
    glance: { diskFormat: 'vhdx', containerFormat: 'bare' },
  },
  {
    name: 'qed',
    extension: 'qed',
    writer: 'qemu-img',
    source: 'disk',
    qemuFormat: 'qed',
    tools: ['qemu-img'],
    glance: { diskFormat: 'qed', containerFormat: 'bare' },
  },
  { name: 'tar', extension: 'tar', writer: 'tar', source: 'tree', tools: ['tar'], glance: { diskFormat: 'raw', containerFormat: 'bare' } },
  {
    name: 'tgz',
    extension: 'tgz',
    writer: 'tar',
    source: 'tree',
    tools: ['tar', 'gzip'],
    glance: { diskFormat: 'raw', containerFormat: 'bare' },
  },
  {
    name: 'squashfs',
    extension: 'squash',
    writer: 'squashfs',
    source: 'tree',
    tools: ['mksquashfs'],
    glance: { diskFormat: 'raw', containerFormat: 'bare' },
  },
];

export const OUTPUT_TYPE_NAMES = OUTPUT_TYPES.map((t) => t.name);

export function outputType(name: string): OutputType {
  const t = OUTPUT_TYPES.find((o) => o.name === name);
  if (!t) throw new Error(`unknown output type ${name}`); // validated in the settings; a bug if reached
  return t;
}

/** The file a type is written to: `<stem>.<extension>`. */
export function outputPath(stem: string, type: string): string {
  return `${stem}.${outputType(type).extension}`;
}
