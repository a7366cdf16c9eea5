// Image size: --image-size, or the tree's usage plus DIB's margins (÷0.6, or + --image-extra-size), plus the journal.
import type { BuildContext } from '../build/context.js';
import { BuildError, UsageError } from '../core/errors.js';
import type { Layout } from './layout.js';
import { minimumPartitioningBytes } from './partition.js';

const KiB = 1024;
/** DIC pads EFI builds by 525 MiB, even when --image-size is given. */
const EFI_PAD_KIB = 525 * 1024;

export interface ImageSizeInput {
  /** `du -s -x --block-size=1024` of the built tree. */
  treeKiB: number;
  /** --image-size in GiB; 0 or unset sizes the image from the tree. */
  imageSizeGiB: number;
  /** --image-extra-size in MiB, replacing the ÷0.6 margin when > 0. */
  imageExtraSizeMiB: number;
  journalMiB: number;
  /** FS_TYPE: the journal is added to a computed size only for ext4. */
  fsType: string;
  layout: Layout;
  hasEfi: boolean;
}

/** Bytes of the image (a whole number of 64 KiB), or a UsageError when --image-size cannot hold the tree. */
export function computeImageSize(input: ImageSizeInput): number {
  const { treeKiB, journalMiB } = input;
  const layoutKiB = Math.ceil(minimumLayoutBytes(input.layout) / KiB);
  if (!Number.isFinite(layoutKiB))
    throw new UsageError(
      'invalid-block-device',
      `block-device config ${input.layout.source}: the partitions fit no disk size (validateLayout says where)`,
    );
  const requested = requestedImageBytes(input);
  if (requested !== undefined) {
    // Filesystem metadata (-i 4096 inode tables, journal) needs room too; 2 MiB slack on top.
    const neededKiB = Math.ceil(treeKiB * 1.15) + journalMiB * 1024 + layoutKiB + 2 * 1024;
    if (Math.floor(input.imageSizeGiB * 1024 * 1024) < neededKiB) {
      const gib = Math.ceil((neededKiB / 1024 / 1024) * 10) / 10;
      throw new UsageError(
        'image-too-small',
        `--image-size ${input.imageSizeGiB} GiB is too small for the tree (${Math.ceil(treeKiB / 1024)} MiB used)`,
        {
          hint: `use --image-size ${gib} or more, or leave it out to size the image from the tree`,
        },
      );
    }
    return requested;
  }
  let kib = input.imageExtraSizeMiB > 0 ? treeKiB + input.imageExtraSizeMiB * 1024 : Math.floor(treeKiB / 0.6);
  if (input.fsType === 'ext4') kib += journalMiB * 1024;
  // Room for the partition table (lead-in, tail, alignment) and the fixed partitions.
  kib += layoutKiB;
  if (input.hasEfi) kib += EFI_PAD_KIB;
  return roundUp64KiB(kib) * KiB;
}

/**
 * The image size --image-size asks for (GiB, plus DIC's EFI pad), or undefined when the size comes from
 * the tree. Known before the build: pass it to validateLayout as `imageSizeBytes`.
 */
export function requestedImageBytes(input: { imageSizeGiB: number; hasEfi: boolean }): number | undefined {
  if (!(input.imageSizeGiB > 0)) return undefined;
  const kib = Math.floor(input.imageSizeGiB * 1024 * 1024) + (input.hasEfi ? EFI_PAD_KIB : 0);
  return roundUp64KiB(kib) * KiB;
}

/**
 * Bytes the image needs for the layout alone: the largest, over the partitionings on loops that take the
 * image size, of lead-in + fixed partitions + alignment (0 for a filesystem straight on the disk).
 */
export function minimumLayoutBytes(layout: Layout): number {
  let bytes = 0;
  for (const node of layout.partitionings) {
    if (layout.loops.find((l) => l.name === node.base)?.size !== undefined) continue;
    bytes = Math.max(bytes, minimumPartitioningBytes(node));
  }
  return bytes;
}

/** DIC's rule: any element whose name contains block-device-efi (also -efi-4k, -efi-lvm). */
export function needsEfiPad(elementNames: string[]): boolean {
  return elementNames.some((name) => name.includes('block-device-efi'));
}

/** The build step: `du` the built tree, then computeImageSize. */
export async function imageSizeBytes(ctx: BuildContext): Promise<number> {
  const { config } = ctx;
  const out = await ctx.runner.output(['du', '-s', '-x', '--block-size=1024', ctx.builtDir]);
  const treeKiB = Number(out.split(/\s+/)[0]);
  if (!Number.isFinite(treeKiB)) throw new BuildError(`du printed no size for ${ctx.builtDir}: '${out.slice(0, 200)}'`);
  return computeImageSize({
    treeKiB,
    imageSizeGiB: Number(config.imageSize) || 0,
    imageExtraSizeMiB: Number(config.imageExtraSize) || 0,
    journalMiB: Number(config.mkfsJournalSize) || 64,
    fsType: String(config.fsType),
    layout: ctx.layout,
    hasEfi: needsEfiPad(ctx.plan.elements.map((e) => e.name)),
  });
}

function roundUp64KiB(kib: number): number {
  return Math.ceil(kib / 64) * 64;
}
