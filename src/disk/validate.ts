// Checks on a parsed layout (pure): everything that can end in exit 2 is found here, before any file or device exists.
import { UsageError, throwIfProblems } from '../core/errors.js';
import type { Layout, MkfsNode } from './layout.js';
import { minimumPartitioningBytes, partitionFitProblem, partitionTableProblems } from './partition.js';

/** Longest label each filesystem stores, in bytes (mkfs truncates or refuses longer ones). */
export const LABEL_LIMITS: Record<string, number> = { ext2: 16, ext3: 16, ext4: 16, xfs: 12, vfat: 11, fat: 11, btrfs: 255, swap: 16 };
/** mkfs.fat refuses these in a volume label. */
const FAT_FORBIDDEN = /[*?.,;:/\\|+=<>[\]"]/;
/** Characters fstab, the kernel command line or the sfdisk script cannot carry unquoted. */
const UNSAFE = /[\s\p{Cc}#\\"'`]/u;
const DEFAULT_HINT = 'see README "Block-device layouts" for the node types and their keys';

export interface ValidateOptions {
  /** The size the image will have when `--image-size` is given (see requestedImageBytes); unset when it is computed from the tree. */
  imageSizeBytes?: number;
}

/** Every check on a layout, including fitting `imageSizeBytes`; throws all problems at once. */
export function validateLayout(layout: Layout, options: ValidateOptions = {}): void {
  const problems = layoutProblems(layout);
  if (options.imageSizeBytes !== undefined) {
    for (const node of layout.partitionings) {
      const loop = layout.loops.find((l) => l.name === node.base);
      if (loop?.size !== undefined || minimumPartitioningBytes(node) === Infinity) continue; // reported by layoutProblems
      const fit = partitionFitProblem(node, options.imageSizeBytes, 'image');
      if (fit) problems.push(layoutError(layout.source, fit.at, fit.message, { kind: fit.kind, hint: fit.hint }));
    }
  }
  throwIfProblems(problems);
}

/** The checks that need only the layout (parseLayout reports these): names, labels, mount points, partition tables. */
export function layoutProblems(layout: Layout): UsageError[] {
  const problems: UsageError[] = [];
  const bad = (at: string, message: string, hint?: string) => problems.push(layoutError(layout.source, at, message, { hint }));

  const nodes = [
    ...layout.loops,
    ...layout.partitionings.flatMap((p) => p.partitions),
    ...layout.filesystems,
    ...layout.mounts,
    ...layout.fstabs,
  ];
  for (const node of nodes) {
    const reason = unsafeNameReason(node.name);
    if (reason) bad(`${node.at}.name`, `node name '${printable(node.name)}' ${reason}`);
  }

  for (const loop of layout.loops) {
    if (loop.size !== undefined && loop.size < 1024 * 1024)
      bad(`${loop.at}.size`, `${loop.size} bytes is too small for a disk (at least 1MiB)`);
    if (loop.directory !== undefined) {
      const reason = pathProblem(loop.directory);
      if (reason) bad(`${loop.at}.directory`, `'${printable(loop.directory)}' ${reason}`);
    }
  }

  for (const node of layout.partitionings) {
    const loop = layout.loops.find((l) => l.name === node.base);
    const found = partitionTableProblems(node);
    const fit = partitionFitProblem(node, loop?.size, 'loop');
    if (fit) found.push(fit);
    for (const p of found) problems.push(layoutError(layout.source, p.at, p.message, { kind: p.kind, hint: p.hint }));
    if (layout.filesystems.some((f) => f.base === node.base))
      bad(node.at, `'${node.base}' is partitioned and also carries a filesystem directly`);
  }

  const labels = new Map<string, string>();
  const mkfsOn = new Map<string, string>();
  for (const fs of layout.filesystems) {
    if (!/^[a-z0-9]+$/.test(fs.type))
      bad(`${fs.at}.type`, `'${printable(fs.type)}' is not a filesystem type (ext4, xfs, vfat, btrfs, swap, ...)`);
    const reason = labelProblem(fs);
    if (reason)
      bad(
        `${fs.at}.label`,
        reason,
        'labels end up in fstab and on the kernel command line (root=LABEL=...): letters, digits, - and _ are safe',
      );
    if (labels.has(fs.label))
      bad(`${fs.at}.label`, `label '${printable(fs.label)}' is used by another filesystem (at ${labels.get(fs.label)})`);
    else labels.set(fs.label, fs.at);
    if (fs.uuid !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(fs.uuid)) {
      bad(`${fs.at}.uuid`, `'${printable(fs.uuid)}' is not a UUID (8-4-4-4-12 hex digits)`);
    }
    if (mkfsOn.has(fs.base)) bad(`${fs.at}.base`, `'${fs.base}' already carries a filesystem (at ${mkfsOn.get(fs.base)})`);
    else mkfsOn.set(fs.base, fs.at);
  }

  const mountPoints = new Map<string, string>();
  const mountOf = new Map<string, string>();
  for (const m of layout.mounts) {
    const reason = mountPointProblem(m.mountPoint);
    if (reason)
      bad(
        `${m.at}.mount_point`,
        `'${printable(m.mountPoint)}' ${reason}`,
        'a mount point is a clean absolute path inside the image, like /boot or /var/log',
      );
    else if (mountPoints.has(m.mountPoint))
      bad(`${m.at}.mount_point`, `'${m.mountPoint}' is mounted twice (also at ${mountPoints.get(m.mountPoint)})`);
    else mountPoints.set(m.mountPoint, m.at);
    if (mountOf.has(m.base)) bad(`${m.at}.base`, `'${m.base}' is already mounted (at ${mountOf.get(m.base)})`);
    else mountOf.set(m.base, m.at);
    if (layout.filesystems.find((f) => f.name === m.base)?.type === 'swap') bad(m.at, `'${m.base}' is swap, which is not mounted`);
  }

  const fstabOf = new Map<string, string>();
  for (const f of layout.fstabs) {
    if (!f.options || UNSAFE.test(f.options))
      bad(`${f.at}.options`, `'${printable(f.options)}' is not a mount option list (no spaces, quotes, # or control characters)`);
    if (fstabOf.has(f.base)) bad(`${f.at}.base`, `'${f.base}' already has an fstab entry (at ${fstabOf.get(f.base)})`);
    else fstabOf.set(f.base, f.at);
  }
  return problems;
}

/** `/boot/` and `//boot` → `/boot`. Only slashes are touched: `.` and `..` are left for mountPointProblem to refuse. */
export function normaliseMountPoint(path: string): string {
  const collapsed = path.replace(/\/+/g, '/');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed;
}

/** Why a (normalised) mount point is unsafe, or undefined. */
export function mountPointProblem(path: string): string | undefined {
  return pathProblem(path) ?? (normaliseMountPoint(path) !== path ? `is not normalised (write '${normaliseMountPoint(path)}')` : undefined);
}

/** Why a label cannot be used for this filesystem, or undefined; lengths are in bytes, as the filesystem stores them. */
export function labelProblem(fs: Pick<MkfsNode, 'type' | 'label' | 'labelFrom'>): string | undefined {
  const { type, label } = fs;
  const shown = `label '${printable(label)}'${fs.labelFrom === 'root-label' ? ' (from --root-label)' : fs.labelFrom === 'name' ? ' (the node name)' : ''}`;
  if (label === '') return 'the label is empty';
  if (UNSAFE.test(label)) return `${shown} contains whitespace, a control character, a quote, # or \\`;
  const bytes = Buffer.byteLength(label, 'utf8');
  const limit = LABEL_LIMITS[type];
  if (limit !== undefined && bytes > limit) return `${shown} is ${bytes} bytes; ${type} allows ${limit} bytes`;
  if (type === 'vfat' || type === 'fat') {
    if (!/^[\x20-\x7e]*$/.test(label)) return `${shown} is not plain ASCII, which a FAT label must be`;
    if (FAT_FORBIDDEN.test(label)) return `${shown} contains a character mkfs.fat refuses (*?.,;:/\\|+=<>[]")`;
  }
  return undefined;
}

/** Why a node name is unsafe (it becomes a file name, a default label, a GPT name), or undefined. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'is not a usable name';
  if (UNSAFE.test(name) || name.includes('/')) return 'contains whitespace, a control character, a quote, #, / or \\';
  return undefined;
}

/** A problem as a UsageError naming its place in the document, like every parse error. */
export function layoutError(source: string, at: string, message: string, options: { kind?: string; hint?: string } = {}): UsageError {
  return new UsageError(options.kind ?? 'invalid-block-device', `block-device config ${source}: at ${at || 'top level'}: ${message}`, {
    hint: options.hint ?? DEFAULT_HINT,
  });
}

function pathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'is not an absolute path';
  if (UNSAFE.test(path)) return 'contains whitespace, a control character, a quote, # or \\';
  const parts = path.split('/').slice(1);
  if (parts.some((p) => p === '.' || p === '..')) return "has '.' or '..' components, which would leave the intended directory";
  if (parts.some((p) => Buffer.byteLength(p) > 255)) return 'has a component longer than 255 bytes';
  return undefined;
}

/** Show control characters visibly in messages. */
function printable(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}
