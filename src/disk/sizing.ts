// Image size: --image-size, or the tree's usage plus DIB's margins (÷0.6, or + --image-extra-size), plus the journal.
import type { BuildContext } from '../build/context.js';
import { UsageError } from '../core/errors.js';

const KiB = 1024;

export async function imageSizeBytes(ctx: BuildContext): Promise<number> {
  const { config } = ctx;
  const journalMiB = Number(config.mkfsJournalSize) || 64;
  let kib: number;
  const out = await ctx.runner.output(['du', '-s', '-x', '--block-size=1024', ctx.builtDir]);
  const used = Number(out.split(/\s+/)[0]);
  if (Number(config.imageSize) > 0) {
    kib = Math.floor(Number(config.imageSize) * 1024 * 1024);
    // Filesystem metadata (-i 4096 inode tables, journal) and partition alignment need room too.
    const needed = Math.ceil(used * 1.15) + journalMiB * 1024 + fixedPartitionKiB(ctx) + 4 * 1024;
    if (kib < needed) {
      const gib = Math.ceil((needed / 1024 / 1024) * 10) / 10;
      throw new UsageError('image-too-small', `--image-size ${config.imageSize} GiB is too small for the tree (${Math.ceil(used / 1024)} MiB used)`, {
        hint: `use --image-size ${gib} or more, or leave it out to size the image from the tree`,
      });
    }
  } else {
    kib = Number(config.imageExtraSize) > 0 ? used + Number(config.imageExtraSize) * 1024 : Math.floor(used / 0.6);
    if (String(config.fsType) === 'ext4') kib += journalMiB * 1024;
    // Room for partition-table alignment (lead-in and tail) and small fixed partitions.
    kib += fixedPartitionKiB(ctx) + 2 * 1024;
  }
  if (ctx.plan.elements.some((e) => e.name.includes('block-device-efi'))) kib += 525 * 1024;
  kib = Math.ceil(kib / 64) * 64;
  return kib * KiB;
}

function fixedPartitionKiB(ctx: BuildContext): number {
  let total = 0;
  for (const p of ctx.layout.partitionings) for (const part of p.partitions) if ('bytes' in part.size) total += Math.ceil(part.size.bytes / KiB) + 1024;
  return total;
}
