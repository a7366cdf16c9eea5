// Turn a partitioning node into an sfdisk script (sizes resolved, 1 MiB aligned), without touching a disk.
import { UsageError } from '../core/errors.js';
import type { PartitioningNode } from './layout.js';

const SECTOR = 512;
const GPT_TYPES: Record<string, string> = {
  EF02: '21686148-6449-6E6F-744E-656564454649', // BIOS boot
  EF00: 'C12A7328-F81F-11D2-BA4B-00A0C93EC3B8', // EFI system
  '8300': '0FC63DAF-8483-4772-8E79-3D69D8477DE4', // Linux filesystem
  '8200': '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', // Linux swap
  '8E00': 'E6D6D379-F507-44C2-A23C-238F2A3DF928', // Linux LVM
  '4100': '9E1A2D38-C612-4316-AA26-8B49521E5A8B', // PowerPC PReP boot
  '8304': '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', // Linux x86-64 root
};

export interface PlannedPartition {
  name: string;
  /** Partition number as the kernel sees it (MBR logicals start at 5). */
  number: number;
}

export interface PartitionScript {
  script: string;
  partitions: PlannedPartition[];
  /** Bytes the fixed-size partitions need, for the image-size check. */
  minimumBytes: number;
}

/** Build the sfdisk input; throws a UsageError when the fixed sizes do not fit the disk. */
export function planPartitions(node: PartitioningNode, diskBytes: number): PartitionScript {
  const alignSectors = node.align / SECTOR;
  const totalSectors = Math.floor(diskBytes / SECTOR);
  // Keep the lead-in plus one alignment unit at the end free (GPT backup header; DIB does the same for MBR).
  let free = totalSectors - 2 * alignSectors;
  const lines = [`label: ${node.label === 'gpt' ? 'gpt' : 'dos'}`, 'unit: sectors', `first-lba: ${alignSectors}`, ''];
  const parts: PlannedPartition[] = [];
  let number = 0;
  let logical = 4;
  let extendedAdded = false;
  let minimum = 2 * node.align;
  node.partitions.forEach((p, i) => {
    const isLast = i === node.partitions.length - 1;
    const isLogical = node.label === 'mbr' && !p.flags.includes('primary');
    if (isLogical && !extendedAdded) {
      lines.push('type=5');
      extendedAdded = true;
      number++;
    }
    let sectors: number | undefined;
    if ('bytes' in p.size) {
      sectors = Math.ceil(p.size.bytes / node.align) * alignSectors;
      minimum += sectors * SECTOR + (isLogical ? node.align : 0);
    } else if (!(isLast && p.size.percent === 100)) {
      sectors = Math.floor((free * p.size.percent) / 100 / alignSectors) * alignSectors;
      minimum += node.align;
    }
    if (sectors !== undefined) {
      free -= sectors + (isLogical ? alignSectors : 0);
      if (sectors <= 0 || free < 0) {
        throw new UsageError('image-too-small', `partition '${p.name}' does not fit: the image is ${mib(diskBytes)} MiB and the layout needs at least ${mib(minimum)} MiB`, {
          hint: `give a bigger --image-size (at least ${Math.ceil(minimum / 1024 ** 3 * 10) / 10} GiB), or smaller fixed partition sizes`,
        });
      }
    }
    const fields: string[] = [];
    if (sectors !== undefined) fields.push(`size=${sectors}`);
    if (node.label === 'gpt') {
      const code = (p.type ?? '8300').replace(/^0x/i, '').toUpperCase();
      fields.push(`type=${GPT_TYPES[code] ?? code}`, `name="${p.name}"`);
    } else {
      fields.push(`type=${(p.type ?? '83').replace(/^0x/i, '').toLowerCase()}`);
      if (p.flags.includes('boot')) fields.push('bootable');
    }
    lines.push(fields.join(', '));
    parts.push({ name: p.name, number: isLogical ? ++logical : ++number });
  });
  if (node.label === 'gpt') for (const p of node.partitions) {
    const code = (p.type ?? '8300').replace(/^0x/i, '').toUpperCase();
    if (!GPT_TYPES[code] && !/^[0-9A-F]{8}-/.test(code)) throw new UsageError('invalid-block-device', `partition '${p.name}': unknown GPT type code '${p.type}'`, { hint: `known codes: ${Object.keys(GPT_TYPES).join(', ')}` });
  }
  if (node.label === 'mbr' && number > 4) {
    throw new UsageError('invalid-block-device', `partitioning '${node.name}': an MBR has room for 4 primary partitions`, { hint: 'make later partitions logical (drop the primary flag)' });
  }
  return { script: lines.join('\n') + '\n', partitions: parts, minimumBytes: minimum };
}

function mib(bytes: number): number {
  return Math.ceil(bytes / 1024 / 1024);
}
