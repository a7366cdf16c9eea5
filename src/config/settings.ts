// ONE table of disk-image-create settings: flag, DIB_* variable, parser, default, help, export to hooks.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';

export type SettingValue = string | number | boolean | string[];

export interface Setting {
  /** Key in BuildConfig. */
  key: string;
  /** Long flag without dashes (absent: environment only). */
  flag?: string;
  short?: string;
  /** Environment variable read as the default (and exported to hooks when `exported`). */
  env?: string;
  kind: 'string' | 'number' | 'boolean' | 'count' | 'list';
  /** Default when neither flag nor variable is given. */
  default: (env: NodeJS.ProcessEnv) => SettingValue;
  /** Validate/convert the raw value; throw UsageError on bad input. */
  parse?: (raw: SettingValue, env: NodeJS.ProcessEnv) => SettingValue;
  help: string;
  /** Exported to hooks under `env` (DIB's export list, §8.1). */
  exported?: boolean;
  /** Metavariable in --help. */
  meta?: string;
  hidden?: boolean;
}

const positiveNumber = (name: string, unit: string) => (raw: SettingValue) => {
  const text = String(raw);
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new UsageError('invalid-setting', `${name} must be a positive number of ${unit}, got '${text}'`, { hint: `e.g. ${name} 2` });
  }
  return n;
};

const outputTypes = ['qcow2', 'raw', 'tar', 'tgz', 'vmdk', 'vdi', 'vhdx', 'qed', 'squashfs'];

export const SETTINGS: readonly Setting[] = [
  { key: 'arch', short: 'a', flag: 'arch', env: 'ARCH', kind: 'string', meta: 'ARCH', exported: true,
    default: () => hostArch(), parse: (v) => normaliseArch(String(v)),
    help: 'target architecture: amd64 (x86_64), i386, arm64 (aarch64), armhf, ppc64el, s390x; default: the host\'s' },
  { key: 'imageName', short: 'o', flag: 'output', env: 'IMAGE_NAME', kind: 'string', meta: 'NAME', exported: true,
    default: () => 'image', help: 'output path stem; the type is appended (-o out gives out.qcow2)' },
  { key: 'imageTypes', short: 't', flag: 'type', kind: 'list', meta: 'T1,T2', default: () => ['qcow2'],
    parse: (v) => {
      const types = (v as string[]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
      const unknown = types.filter((t) => !outputTypes.includes(t));
      if (unknown.length) throw new UsageError('invalid-setting', `unknown output type${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, { hint: `known types: ${outputTypes.join(', ')}` });
      return [...new Set(types)];
    },
    help: `output types, comma separated (${outputTypes.join(', ')}); default qcow2` },
  { key: 'debugTrace', short: 'x', flag: 'trace', env: 'DIB_DEBUG_TRACE', kind: 'count', exported: true,
    default: (env) => Number(env.DIB_DEBUG_TRACE ?? 0) || 0, help: 'trace hooks (set -x); repeat for more detail' },
  { key: 'uncompressed', short: 'u', flag: 'uncompressed', kind: 'boolean', default: () => false,
    help: 'do not compress the qcow2 output' },
  { key: 'clearEnv', short: 'c', flag: 'clear-env', kind: 'boolean', default: () => false,
    help: 'run hooks with a minimal environment (DIB\'s -c, which is broken upstream, works here)' },
  { key: 'skipBase', short: 'n', flag: 'skip-base', env: 'SKIP_BASE', kind: 'boolean', default: () => false,
    help: 'do not add the base element' },
  { key: 'packages', short: 'p', flag: 'packages', kind: 'list', meta: 'PKG,PKG', default: () => [],
    parse: (v) => (v as string[]).flatMap((s) => s.split(/[,\s]+/)).filter(Boolean),
    help: 'extra packages installed in the chroot after install.d (repeatable)' },
  { key: 'checksum', flag: 'checksum', env: 'DIB_CHECKSUM', kind: 'boolean', exported: true,
    default: (env) => !!env.DIB_CHECKSUM && env.DIB_CHECKSUM !== '0', help: 'write .md5 and .sha256 files next to each image' },
  { key: 'imageSize', flag: 'image-size', env: 'DIB_IMAGE_SIZE', kind: 'number', meta: 'GiB', exported: true,
    default: () => 0, parse: positiveNumber('--image-size', 'GiB'), help: 'image size in GiB (fractions allowed); default: the tree plus a margin' },
  { key: 'imageExtraSize', flag: 'image-extra-size', env: 'DIB_IMAGE_EXTRA_SIZE', kind: 'number', meta: 'MiB', exported: true,
    default: () => 0, parse: positiveNumber('--image-extra-size', 'MiB'), help: 'free space to add to the tree size, in MiB (upstream rejects this flag; it works here)' },
  { key: 'imageCache', flag: 'image-cache', env: 'DIB_IMAGE_CACHE', kind: 'string', meta: 'DIR', exported: true,
    default: () => join(homedir(), '.cache', 'image-create'), help: 'cache directory (base trees, packages)' },
  { key: 'maxOnlineResize', flag: 'max-online-resize', env: 'MAX_ONLINE_RESIZE', kind: 'number', meta: 'BLOCKS', exported: true,
    default: () => 0, parse: positiveNumber('--max-online-resize', 'blocks'), help: 'ext4 only: -E resize=N so the root can grow online this far' },
  { key: 'minTmpfs', flag: 'min-tmpfs', env: 'DIB_MIN_TMPFS', kind: 'number', meta: 'GiB', exported: true,
    default: () => 2, help: 'accepted for compatibility; builds use the work directory on disk' },
  { key: 'mkfsJournalSize', flag: 'mkfs-journal-size', env: 'DIB_JOURNAL_SIZE', kind: 'number', meta: 'MiB', exported: true,
    default: () => 64, parse: positiveNumber('--mkfs-journal-size', 'MiB'), help: 'ext4 journal size in MiB (upstream rejects this flag; it works here)' },
  { key: 'mkfsOptions', flag: 'mkfs-options', env: 'MKFS_OPTS', kind: 'string', meta: 'OPTS',
    default: () => '', help: 'extra options for the root mkfs (the MKFS_OPTS variable works too, unlike upstream)' },
  { key: 'noTmpfs', flag: 'no-tmpfs', env: 'DIB_NO_TMPFS', kind: 'boolean', exported: true,
    default: () => false, help: 'accepted for compatibility; builds use the work directory on disk' },
  { key: 'offline', flag: 'offline', env: 'DIB_OFFLINE', kind: 'boolean', exported: true,
    default: (env) => !!env.DIB_OFFLINE, help: 'use cached base trees and packages without refreshing them' },
  { key: 'qemuImgOptions', flag: 'qemu-img-options', env: 'QEMU_IMG_OPTIONS', kind: 'string', meta: 'K=V,...',
    default: () => '', help: 'options for qemu-img convert -o (e.g. compat=0.10)' },
  { key: 'rootLabel', flag: 'root-label', env: 'ROOT_LABEL', kind: 'string', meta: 'LABEL',
    default: () => '', help: 'root filesystem label; default cloudimg-rootfs (img-rootfs for xfs)' },
  { key: 'ramdiskElement', flag: 'ramdisk-element', env: 'RAMDISK_ELEMENT', kind: 'string', meta: 'ELEMENT', hidden: true,
    default: () => 'ramdisk', help: 'ramdisk element (ramdisk builds are not supported yet)' },
  { key: 'installType', flag: 'install-type', env: 'DIB_DEFAULT_INSTALLTYPE', kind: 'string', meta: 'TYPE',
    default: () => 'source', help: 'default install type for elements with alternatives (source or package)' },
  { key: 'dockerTarget', flag: 'docker-target', env: 'DOCKER_TARGET', kind: 'string', meta: 'REPO:TAG', hidden: true,
    default: () => '', help: 'docker output is not supported' },
  { key: 'logfile', flag: 'logfile', env: 'LOGFILE', kind: 'string', meta: 'FILE', exported: true,
    default: () => '', help: 'append a timestamped log to FILE (implies quiet console unless DIB_QUIET is set)' },
  { key: 'eventsFile', flag: 'events', kind: 'string', meta: 'FILE', default: () => '',
    help: 'write an NDJSON event stream to FILE (- for stderr)' },
  { key: 'cleanupStale', flag: 'cleanup-stale', kind: 'boolean', default: () => false,
    help: 'release what builds killed outright (SIGKILL, power loss) left behind, as their ledgers name it, and exit' },
  { key: 'verify', flag: 'verify', kind: 'boolean', default: () => false,
    help: 'after the build, run image-verify on the image (boot it with a config drive and check it)' },
  { key: 'fsType', env: 'FS_TYPE', kind: 'string', exported: true, default: () => 'ext4',
    parse: (v) => {
      const t = String(v);
      if (!['ext4', 'ext3', 'ext2', 'xfs', 'btrfs'].includes(t)) throw new UsageError('invalid-setting', `FS_TYPE '${t}' is not supported`, { hint: 'use ext4, ext3, ext2, xfs or btrfs' });
      return t;
    }, help: 'root filesystem type' },
  { key: 'blockDeviceConfig', env: 'DIB_BLOCK_DEVICE_CONFIG', kind: 'string', default: () => '', help: 'block-device YAML, or file://PATH' },
  { key: 'defaultOsElement', env: 'DIB_DEFAULT_OS_ELEMENT', kind: 'string', default: () => 'debian',
    help: 'element added when nothing provides operating-system (empty: error, like DIB)' },
  { key: 'tmpDir', env: 'TMP_DIR', kind: 'string', default: () => '/tmp', help: 'parent of the build work directory' },
];

export type BuildConfig = Readonly<Record<string, SettingValue>> & {
  readonly arch: string;
  readonly imageName: string;
  readonly imageTypes: string[];
  readonly debugTrace: number;
  readonly uncompressed: boolean;
  readonly skipBase: boolean;
  readonly packages: string[];
  readonly elements: string[];
};

/** Host architecture in Debian's naming (DIB §7.1). */
export function hostArch(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return 'i386';
    case 'arm64':
      return 'arm64';
    case 'arm':
      return 'armhf';
    case 'ppc64':
      return 'ppc64el';
    default:
      return process.arch;
  }
}

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', amd64: 'amd64', i386: 'i386', i686: 'i386', aarch64: 'arm64', arm64: 'arm64', armhf: 'armhf', ppc64el: 'ppc64el', ppc64le: 'ppc64el', s390x: 's390x' };

/** Debian architecture name for ARCH (DIB does not validate; an unknown one fails here with a hint). */
export function normaliseArch(arch: string): string {
  const known = ARCH_ALIASES[arch];
  if (!known) throw new UsageError('invalid-setting', `unknown architecture '${arch}'`, { hint: `known: ${Object.keys(ARCH_ALIASES).join(', ')}` });
  return known;
}

/** Defaults from the environment for every setting (flags override these). */
export function settingDefaults(env: NodeJS.ProcessEnv): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  for (const s of SETTINGS) {
    const raw = s.env !== undefined ? env[s.env] : undefined;
    if (raw !== undefined && raw !== '' && s.kind !== 'boolean' && s.kind !== 'count') out[s.key] = s.kind === 'list' ? [raw] : raw;
    else out[s.key] = s.default(env);
  }
  return out;
}
