// DIB's engine contract for hooks, as data: which variable is set from which phase and what it means
// (README's table is checked against ENGINE_VARIABLES), plus the values derived from the block-device
// layout and the params file DIB's disk-image-create writes for its block-device layer.
import { stringify } from 'yaml';
import { type Layout, rootFilesystem } from '../disk/layout.js';

export interface EngineVariable {
  name: string;
  /** The first phase whose hooks see it (`root` = every phase). */
  from: string;
  /** Set only while these phases run (TARGET_ROOT); absent: from `from` on. */
  only?: string[];
  meaning: string;
}

/** The variables upstream elements rely on, in the order README lists them. */
export const ENGINE_VARIABLES: readonly EngineVariable[] = [
  { name: '_LIB', from: 'root', meaning: "directory of DIB's shell library (`die`, `img-functions`, `common-functions`, ...)" },
  { name: 'DIB_PYTHON_EXEC', from: 'root', meaning: 'the host Python that runs Python helpers outside the image' },
  { name: 'ARCH', from: 'root', meaning: 'target architecture (Debian naming)' },
  { name: 'IMAGE_NAME', from: 'root', meaning: 'output path stem' },
  { name: 'FS_TYPE', from: 'root', meaning: 'root filesystem type asked for (`ext4` by default)' },
  { name: 'DIB_ARGS', from: 'root', meaning: 'the command line' },
  { name: 'DIB_ENV', from: 'root', meaning: '`declare -x` lines of the `DIB_*` variables at start (secrets as `***`)' },
  { name: 'DIB_DEBUG_TRACE', from: 'root', meaning: 'trace level (always set)' },
  { name: 'DIB_IMAGE_CACHE', from: 'root', meaning: 'the cache directory (always set)' },
  { name: 'IMAGE_ELEMENT', from: 'root', meaning: 'the expanded element names, space separated' },
  { name: 'IMAGE_ELEMENT_YAML', from: 'root', meaning: 'YAML map element name → its directory (the chosen copy)' },
  { name: 'ELEMENTS_PATH', from: 'root', meaning: 'one directory holding each chosen element exactly once (links)' },
  { name: 'DIB_ROOT_LABEL', from: 'root', meaning: 'label of the root filesystem, from the block-device layout' },
  { name: 'DIB_ROOT_FSTYPE', from: 'root', meaning: 'type of the root filesystem, from the layout' },
  { name: 'DIB_BOOT_LABEL', from: 'root', meaning: 'label of the filesystem mounted at /boot; empty when there is none' },
  { name: 'DIB_MOUNTPOINTS', from: 'root', meaning: 'mount points of the layout in document order, joined by a pipe character' },
  {
    name: 'DIB_BLOCK_DEVICE_PARAMS_YAML',
    from: 'root',
    meaning:
      '`$TMP_BUILD_DIR/block-device/params.yaml`: config, image-dir, root-fs-type, root-label, mount-base, build-dir (+ image-size, root-fs-opts before the disk is made)',
  },
  { name: 'TMP_BUILD_DIR', from: 'root', meaning: 'the work directory' },
  { name: 'TMP_IMAGE_DIR', from: 'root', meaning: 'where the raw disk file is made' },
  { name: 'OUT_IMAGE_PATH', from: 'root', meaning: 'directory of the outputs' },
  {
    name: 'TMP_HOOKS_PATH',
    from: 'root',
    meaning: 'the merged hooks tree (a host path; chroot phases see the tree at `/tmp/in_target.d`, `dib-run-parts` included)',
  },
  {
    name: 'TMP_MOUNT_PATH',
    from: 'root',
    meaning: '`$TMP_BUILD_DIR/mnt`: the image root (a path that does not exist during block-device.d, as in DIB)',
  },
  { name: 'TARGET_ROOT', from: 'root', only: ['root', 'cleanup'], meaning: 'the image root, in root.d and cleanup.d only' },
  {
    name: 'DIB_DEFAULT_INSTALLTYPE',
    from: 'root',
    meaning: 'default install type, from the engine environment file `11-dib-install-type.bash` (DIB writes it after root.d)',
  },
  { name: 'DIB_IMAGE_SIZE', from: 'block-device', meaning: 'the computed image size in KiB' },
  { name: 'IMAGE_BLOCK_DEVICE', from: 'pre-finalise', meaning: 'the loop device of `image0` (or what block-device.d printed)' },
  { name: 'IMAGE_BLOCK_DEVICES', from: 'pre-finalise', meaning: '`[name]=device ...` for `eval declare -A`' },
];

/** The variables DIB computes from the layout right after it is chosen, before root.d. */
export function layoutVariables(layout: Layout): Record<string, string> {
  const root = rootFilesystem(layout);
  const boot = layout.mounts.find((m) => m.mountPoint === '/boot');
  return {
    DIB_ROOT_LABEL: root.label,
    DIB_ROOT_FSTYPE: root.type,
    DIB_BOOT_LABEL: boot ? (layout.filesystems.find((f) => f.name === boot.base)?.label ?? '') : '',
    // DIB's getval mount-points: document order, `|` (no directory name contains it).
    DIB_MOUNTPOINTS: layout.mounts.map((m) => m.mountPoint).join('|'),
  };
}

export interface BlockDeviceParams {
  configFile: string;
  imageDir: string;
  fsType: string;
  /** The user's --root-label (empty when not given, as in DIB's file). */
  rootLabel: string;
  mountBase: string;
  buildDir: string;
}

/** DIB's `$TMP_BUILD_DIR/block-device/params.yaml`, as written before root.d. */
export function blockDeviceParams(p: BlockDeviceParams): string {
  return stringify(
    {
      config: p.configFile,
      'image-dir': p.imageDir,
      'root-fs-type': p.fsType,
      'root-label': p.rootLabel,
      'mount-base': p.mountBase,
      'build-dir': p.buildDir,
    },
    { lineWidth: 0 },
  );
}

/** What DIB appends before making the disk: the size in KiB and the root mkfs options. */
export function blockDeviceParamsTail(sizeKiB: number, mkfsOptions: string): string {
  return stringify({ 'image-size': `${sizeKiB}KiB`, ...(mkfsOptions ? { 'root-fs-opts': mkfsOptions } : {}) }, { lineWidth: 0 });
}

/**
 * DIB evaluates every stdout line of block-device.d that contains `IMAGE_BLOCK_DEVICE=` with bash's
 * `eval`; a device it sets replaces the disk the engine would make. We do not eval hook output: the
 * forms `IMAGE_BLOCK_DEVICE=DEV` and `export IMAGE_BLOCK_DEVICE=DEV` (DEV optionally quoted) are read,
 * the last one wins; `bad` lists matching lines in any other form (the caller fails on them).
 */
export function blockDeviceOverride(stdout: string): { device?: string; bad: string[] } {
  let device: string | undefined;
  const bad: string[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.includes('IMAGE_BLOCK_DEVICE=')) continue;
    const m = /^\s*(?:export\s+)?IMAGE_BLOCK_DEVICE=(?:'([^']*)'|"([^"$`\\]*)"|([^\s'"$`\\;&|<>()]*))\s*;?\s*$/.exec(line);
    if (!m) bad.push(line);
    else device = m[1] ?? m[2] ?? m[3];
  }
  return { device, bad };
}
