// Partition-table arithmetic and checks (pure), and the sfdisk script built from them, without touching a disk.
import { UsageError, throwIfProblems } from '../core/errors.js';
import type { PartitioningNode, PartitionNode } from './layout.js';

const SECTOR = 512;
export const GPT_TYPES: Record<string, string> = {
  EF02: '21686148-6449-6E6F-744E-656564454649', // BIOS boot
  EF00: 'C12A7328-F81F-11D2-BA4B-00A0C93EC3B8', // EFI system
  '8300': '0FC63DAF-8483-4772-8E79-3D69D8477DE4', // Linux filesystem
  '8200': '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', // Linux swap
  '8E00': 'E6D6D379-F507-44C2-A23C-238F2A3DF928', // Linux LVM
  '4100': '9E1A2D38-C612-4316-AA26-8B49521E5A8B', // PowerPC PReP boot
  '8304': '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709', // Linux x86-64 root
};
/** sfdisk's default GPT has 128 entries. */
export const GPT_MAX_PARTITIONS = 128;
/** The MBR itself has four slots; the extended partition holding the logical ones takes one. */
export const MBR_PRIMARY_SLOTS = 4;
/** No hard limit in the format (a chain of EBRs); 60 keeps partition numbers well inside the kernel's 256. */
export const MBR_MAX_LOGICAL = 60;
/** GPT partition names are 36 UTF-16 code units. */
export const GPT_NAME_UNITS = 36;

/** A problem with one partitioning node; `at` is a place in the document. */
export interface PartitionProblem {
  kind: 'invalid-block-device' | 'image-too-small';
  at: string;
  message: string;
  hint?: string;
}

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

/** One partition placed on a disk of a given size. */
export interface PartitionExtent {
  partition: PartitionNode;
  number: number;
  isLogical: boolean;
  /** Undefined for a last `100%` partition: sfdisk gives it the rest. */
  sectors?: number;
}

export interface PartitionSizing {
  extents: PartitionExtent[];
  /** The first partition that does not fit (later ones are not meaningful once one is missing). */
  misfit?: PartitionNode;
}

/** Build the sfdisk input; throws UsageErrors when the table is invalid or the fixed sizes do not fit the disk. */
export function planPartitions(node: PartitioningNode, diskBytes: number): PartitionScript {
  const problems = [...partitionTableProblems(node)];
  const fit = partitionFitProblem(node, diskBytes, 'image');
  if (fit) problems.push(fit);
  throwIfProblems(problems.map((p) => new UsageError(p.kind, `partitioning at ${p.at}: ${p.message}`, { hint: p.hint })));
  const { extents } = sizePartitions(node, diskBytes);
  const lines = [`label: ${node.label === 'gpt' ? 'gpt' : 'dos'}`, 'unit: sectors', `first-lba: ${node.align / SECTOR}`, ''];
  let extendedAdded = false;
  for (const { partition: p, isLogical, sectors } of extents) {
    if (isLogical && !extendedAdded) {
      lines.push('type=5');
      extendedAdded = true;
    }
    const fields: string[] = [];
    if (sectors !== undefined) fields.push(`size=${sectors}`);
    if (node.label === 'gpt') {
      // The name is quoted in the script; parseLayout rejects these characters, this only keeps the script intact.
      if (/["\\\x00-\x1f\x7f]/.test(p.name))
        throw new UsageError('invalid-block-device', `partition at ${p.at}: the name cannot be written into an sfdisk script`);
      fields.push(`type=${GPT_TYPES[gptCode(p.type)]}`, `name="${p.name}"`);
    } else {
      fields.push(`type=${(p.type ?? '83').replace(/^0x/i, '').toLowerCase()}`);
      if (p.flags.includes('boot')) fields.push('bootable');
    }
    lines.push(fields.join(', '));
  }
  return {
    script: lines.join('\n') + '\n',
    partitions: extents.map((e) => ({ name: e.partition.name, number: e.number })),
    minimumBytes: minimumPartitioningBytes(node),
  };
}

/**
 * The one implementation of the size arithmetic (planPartitions, the checks and the image size use it).
 * Sizes are whole alignment units; the lead-in and one unit at the end stay free (GPT backup header; DIB
 * does the same for MBR); each logical partition has its EBR one unit before it; `N%` is of what is left.
 */
export function sizePartitions(node: PartitioningNode, diskBytes: number): PartitionSizing {
  const alignSectors = node.align / SECTOR;
  let free = Math.floor(diskBytes / SECTOR) - 2 * alignSectors;
  const extents: PartitionExtent[] = [];
  let misfit: PartitionNode | undefined;
  let number = 0;
  let logical = MBR_PRIMARY_SLOTS;
  let extendedAdded = false;
  node.partitions.forEach((p, i) => {
    const isLast = i === node.partitions.length - 1;
    const isLogical = node.label === 'mbr' && !p.flags.includes('primary');
    if (isLogical && !extendedAdded) {
      extendedAdded = true;
      number++;
    }
    const ebr = isLogical ? alignSectors : 0;
    let sectors: number | undefined;
    if ('bytes' in p.size) sectors = Math.ceil(p.size.bytes / node.align) * alignSectors;
    else if (!(isLast && p.size.percent === 100)) sectors = Math.floor((free * p.size.percent) / 100 / alignSectors) * alignSectors;
    // The rest partition must get at least one alignment unit too, or sfdisk finds no free sectors.
    free -= (sectors ?? alignSectors) + ebr;
    if (!misfit && ((sectors !== undefined && sectors <= 0) || free < 0)) misfit = p;
    extents.push({ partition: p, number: isLogical ? ++logical : ++number, isLogical, sectors });
  });
  return { extents, misfit };
}

/**
 * The smallest disk (bytes, a whole number of alignment units) on which every partition fits, or
 * Infinity when none does (a `100%` partition followed by others).
 */
export function minimumPartitioningBytes(node: PartitioningNode): number {
  const fits = (units: number) => !sizePartitions(node, units * node.align).misfit;
  // Lower bound: lead-in, tail, fixed sizes, one unit per relative partition and per EBR.
  let low = 2;
  for (const p of node.partitions) {
    low += 'bytes' in p.size ? Math.ceil(p.size.bytes / node.align) : 1;
    if (node.label === 'mbr' && !p.flags.includes('primary')) low += 1;
  }
  if (low * node.align > Number.MAX_SAFE_INTEGER) return Infinity;
  if (fits(low)) return low * node.align;
  // Relative sizes take a share of what is left, so a bigger disk may be needed: double, then bisect.
  let high = low * 2;
  while (!fits(high)) {
    if (high * node.align > Number.MAX_SAFE_INTEGER / 2) return Infinity;
    high *= 2;
  }
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (fits(mid)) high = mid;
    else low = mid;
  }
  return high * node.align;
}

/** Problems of the table itself, whatever the disk size: type codes, slots, counts, names. */
export function partitionTableProblems(node: PartitioningNode): PartitionProblem[] {
  const problems: PartitionProblem[] = [];
  const add = (at: string, message: string, hint?: string) => problems.push({ kind: 'invalid-block-device', at, message, hint });
  if (node.label === 'gpt') {
    if (node.partitions.length > GPT_MAX_PARTITIONS) {
      add(`${node.at}.partitions`, `${node.partitions.length} partitions; a GPT holds at most ${GPT_MAX_PARTITIONS}`);
    }
    for (const p of node.partitions) {
      if (!GPT_TYPES[gptCode(p.type)])
        add(`${p.at}.type`, `unknown GPT type code '${p.type}'`, `known codes: ${Object.keys(GPT_TYPES).join(', ')}`);
      if (p.name.length > GPT_NAME_UNITS)
        add(`${p.at}.name`, `'${p.name}' is longer than a GPT partition name (${GPT_NAME_UNITS} UTF-16 code units)`);
    }
  } else {
    const primaries = node.partitions.filter((p) => p.flags.includes('primary'));
    const logicals = node.partitions.filter((p) => !p.flags.includes('primary'));
    if (primaries.length > MBR_PRIMARY_SLOTS) {
      add(
        `${primaries[MBR_PRIMARY_SLOTS].at}.flags`,
        `an MBR has room for ${MBR_PRIMARY_SLOTS} primary partitions; this is primary number ${MBR_PRIMARY_SLOTS + 1}`,
        'make later partitions logical (drop the primary flag)',
      );
    } else if (logicals.length > 0 && primaries.length === MBR_PRIMARY_SLOTS) {
      add(
        `${logicals[0].at}.flags`,
        `an MBR has room for ${MBR_PRIMARY_SLOTS} primary partitions, and the extended partition that holds logical ones takes a slot`,
        'make at most 3 partitions primary when there are logical ones',
      );
    }
    if (logicals.length > MBR_MAX_LOGICAL) {
      add(
        `${node.at}.partitions`,
        `${logicals.length} logical partitions; at most ${MBR_MAX_LOGICAL} are supported`,
        'use fewer partitions, or a GPT (up to 128)',
      );
    }
  }
  return problems;
}

/**
 * Does the layout fit a disk of `diskBytes`? `sizeFrom` says where that size came from, for the hint:
 * the image size (`--image-size` or computed) or the local_loop node's own `size`.
 */
export function partitionFitProblem(
  node: PartitioningNode,
  diskBytes: number | undefined,
  sizeFrom: 'image' | 'loop',
): PartitionProblem | undefined {
  // Empty and unreadable sizes (stored as 0 bytes) are parseLayout's to report; they fit nowhere.
  if (node.partitions.some((p) => 'bytes' in p.size && p.size.bytes === 0)) return undefined;
  const minimum = minimumPartitioningBytes(node);
  if (minimum === Infinity) {
    const taker = node.partitions.find((p, i) => 'percent' in p.size && p.size.percent === 100 && i < node.partitions.length - 1);
    if (!taker)
      return {
        kind: 'invalid-block-device',
        at: `${node.at}.partitions`,
        message: 'the partition sizes add up to more than any disk this tool can make',
      };
    return {
      kind: 'invalid-block-device',
      at: `${taker.at}.size`,
      message: `partition '${taker.name}' takes 100% of the space left, so the partitions after it can never fit`,
      hint: 'only the last partition can be 100%',
    };
  }
  if (diskBytes === undefined) return undefined;
  const { misfit } = sizePartitions(node, diskBytes);
  if (!misfit) return undefined;
  const gib = Math.ceil((minimum / 1024 ** 3) * 10) / 10;
  return {
    kind: 'image-too-small',
    at: `${misfit.at}.size`,
    message: `partition '${misfit.name}' does not fit: the ${sizeFrom === 'loop' ? `local_loop '${node.base}'` : 'image'} is ${mib(diskBytes)} MiB and the layout needs at least ${mib(minimum)} MiB`,
    hint:
      sizeFrom === 'loop'
        ? `give local_loop '${node.base}' a size of at least ${mib(minimum)}MiB, or smaller fixed partition sizes`
        : `give a bigger --image-size (at least ${gib} GiB), or smaller fixed partition sizes`,
  };
}

/** Upper-case GPT short code without 0x (`'0x4100'` → `'4100'`); 8300 when unset. */
function gptCode(type: string | undefined): string {
  return (type ?? '8300').replace(/^0x/i, '').toUpperCase();
}

function mib(bytes: number): number {
  return Math.ceil(bytes / 1024 / 1024);
}
