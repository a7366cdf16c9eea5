// ONE table of disk-image-create settings (flag, variable, type, default, help, exported to hooks) and the
// frozen, typed BuildConfig made from it. No other module reads these variables or restates a default.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError, throwIfProblems } from '../core/errors.js';
import { scalarText } from '../core/text.js';
import { DEFAULT_RUN_PARTS_REGEX } from '../elements/hooks.js';
import { dockerReferenceProblem, stemcellNameProblem, stemcellVersionProblem } from '../output/names.js';
import { OUTPUT_TYPES, OUTPUT_TYPE_NAMES } from '../output/types.js';
import { PHASES } from '../phases/phase-table.js';

export interface BuildConfig {
  readonly elements: readonly string[];
  readonly arch: string;
  readonly imageName: string;
  readonly imageTypes: readonly string[];
  readonly debugTrace: number;
  readonly uncompressed: boolean;
  readonly clearEnv: boolean;
  readonly skipBase: boolean;
  readonly packages: readonly string[];
  readonly checksum: boolean;
  readonly imageSize: number;
  readonly imageExtraSize: number;
  readonly imageCache: string;
  readonly maxOnlineResize: number;
  readonly minTmpfs: number;
  readonly mkfsJournalSize: number;
  readonly mkfsOptions: string;
  readonly noTmpfs: boolean;
  readonly offline: boolean;
  readonly cache: boolean;
  readonly explainCache: boolean;
  readonly cachePrune: boolean;
  readonly cacheMaxSize: number;
  readonly strict: boolean;
  readonly qemuImgOptions: string;
  readonly rootLabel: string;
  readonly ramdiskElement: string;
  readonly installType: string;
  readonly dockerTarget: string;
  readonly stemcellName: string;
  readonly stemcellVersion: string;
  readonly logfile: string;
  readonly quiet: boolean;
  readonly eventsFile: string;
  readonly manifest: string;
  readonly upload: boolean;
  readonly osCloud: string;
  readonly cleanupStale: boolean;
  readonly verify: boolean;
  readonly verifyUser: string;
  readonly verifyTimeout: number;
  readonly debug: boolean;
  readonly fsType: string;
  readonly blockDeviceConfig: string;
  readonly blockSize: number;
  readonly defaultOsElement: string;
  readonly elementsPath: string;
  readonly tmpDir: string;
  readonly lockfiles: string;
  readonly overwriteOldImage: boolean;
  readonly runPartsRegex: string;
  readonly breakPoints: readonly string[];
  readonly breakCmd: string;
  readonly breakOutsideTarget: boolean;
  readonly notSecrets: readonly string[];
}

type Key = Exclude<keyof BuildConfig, 'elements'>;
type Kind = 'string' | 'number' | 'boolean' | 'count' | 'list';
type Env = Readonly<Record<string, string | undefined>>;

export interface Setting<T = unknown> {
  key: Key;
  kind: Kind;
  /** Long flag without dashes (absent: environment only). */
  flag?: string;
  short?: string;
  /** The variable read when the flag is absent (DIB's name). */
  env?: string;
  /** Default when neither is given; may use settings earlier in the table. */
  default: T | ((env: Env, earlier: Partial<BuildConfig>) => T);
  /** Validate and convert (strings from the environment, flag values); throw a UsageError. */
  parse?: (value: T) => T;
  help: string;
  /** Exported to hooks under `env` (DIB's list of variables disk-image-create exports). */
  exported?: boolean;
  meta?: string;
  hidden?: boolean;
  /** Run `parse` on the default too (it comes from the host, or needs normalising). */
  parseDefault?: boolean;
}

const positive = (name: string, unit: string) => (n: number) => {
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError('invalid-setting', `${name} must be a positive number of ${unit}, got '${n}'`, { hint: `e.g. ${name} 2` });
  return n;
};

const BREAK_POINTS = ['after-error', ...PHASES.flatMap((p) => [`before-${p.name}`, `after-${p.name}`])];

// Typed per row; the array below is checked against BuildConfig by `satisfies`.
const row = <T>(s: Setting<T>): Setting => s as Setting;

export const SETTINGS: readonly Setting[] = [
  row<string>({
    key: 'arch',
    parseDefault: true,
    short: 'a',
    flag: 'arch',
    env: 'ARCH',
    kind: 'string',
    meta: 'ARCH',
    exported: true,
    default: () => hostArch(),
    parse: normaliseArch,
    help: "target architecture: amd64 (x86_64), i386, arm64 (aarch64), armhf, ppc64el, s390x; default: the host's",
  }),
  row<string>({
    key: 'imageName',
    short: 'o',
    flag: 'output',
    env: 'IMAGE_NAME',
    kind: 'string',
    meta: 'NAME',
    exported: true,
    default: 'image',
    help: 'output path stem; the type is appended (-o out gives out.qcow2)',
  }),
  row<string[]>({
    key: 'imageTypes',
    short: 't',
    flag: 'type',
    kind: 'list',
    meta: 'T1,T2',
    default: ['qcow2'],
    parse: parseTypes,
    help: `output types, comma separated (${OUTPUT_TYPE_NAMES.join(', ')}); default qcow2`,
  }),
  row<number>({
    key: 'debugTrace',
    short: 'x',
    flag: 'trace',
    env: 'DIB_DEBUG_TRACE',
    kind: 'count',
    exported: true,
    default: 0,
    help: 'trace hooks (set -x); repeat for more detail (-xx also traces environment files)',
  }),
  row<boolean>({
    key: 'uncompressed',
    short: 'u',
    flag: 'uncompressed',
    kind: 'boolean',
    default: false,
    help: 'do not compress the qcow2 output',
  }),
  row<boolean>({
    key: 'clearEnv',
    short: 'c',
    flag: 'clear-env',
    kind: 'boolean',
    default: false,
    help: "run hooks with a minimal environment (DIB's -c, which is broken upstream, works here)",
  }),
  row<boolean>({
    key: 'skipBase',
    short: 'n',
    flag: 'skip-base',
    env: 'SKIP_BASE',
    kind: 'boolean',
    exported: true,
    default: false,
    help: 'do not add the base element (SKIP_BASE=1 too)',
  }),
  row<string[]>({
    key: 'packages',
    short: 'p',
    flag: 'packages',
    kind: 'list',
    meta: 'PKG,PKG',
    default: [],
    parse: (v) => v.flatMap((s) => s.split(/[,\s]+/)).filter(Boolean),
    help: 'extra packages installed in the chroot after install.d (repeatable)',
  }),
  row<boolean>({
    key: 'checksum',
    flag: 'checksum',
    env: 'DIB_CHECKSUM',
    kind: 'boolean',
    exported: true,
    default: false,
    help: 'write .md5 and .sha256 files next to each output',
  }),
  row<number>({
    key: 'imageSize',
    flag: 'image-size',
    env: 'DIB_IMAGE_SIZE',
    kind: 'number',
    meta: 'GiB',
    exported: true,
    default: 0,
    parse: positive('--image-size', 'GiB'),
    help: 'image size in GiB (fractions allowed); default: the tree plus a margin',
  }),
  row<number>({
    key: 'imageExtraSize',
    flag: 'image-extra-size',
    env: 'DIB_IMAGE_EXTRA_SIZE',
    kind: 'number',
    meta: 'MiB',
    exported: true,
    default: 0,
    parse: positive('--image-extra-size', 'MiB'),
    help: 'free space to add to the tree size, in MiB (upstream rejects this flag; it works here)',
  }),
  row<string>({
    key: 'imageCache',
    parseDefault: true,
    flag: 'image-cache',
    env: 'DIB_IMAGE_CACHE',
    kind: 'string',
    meta: 'DIR',
    exported: true,
    default: () => join(homedir(), '.cache', 'image-create'),
    parse: (v) => resolve(v),
    help: 'cache directory (base trees, packages)',
  }),
  row<number>({
    key: 'maxOnlineResize',
    flag: 'max-online-resize',
    env: 'MAX_ONLINE_RESIZE',
    kind: 'number',
    meta: 'BLOCKS',
    exported: true,
    default: 0,
    parse: positive('--max-online-resize', 'blocks'),
    help: 'ext4 only: -E resize=N so the root can grow online this far',
  }),
  row<number>({
    key: 'minTmpfs',
    flag: 'min-tmpfs',
    env: 'DIB_MIN_TMPFS',
    kind: 'number',
    meta: 'GiB',
    exported: true,
    default: 2,
    help: 'accepted for compatibility; builds use the work directory on disk',
  }),
  row<number>({
    key: 'mkfsJournalSize',
    flag: 'mkfs-journal-size',
    env: 'DIB_JOURNAL_SIZE',
    kind: 'number',
    meta: 'MiB',
    exported: true,
    default: 64,
    parse: positive('--mkfs-journal-size', 'MiB'),
    help: 'ext4 journal size in MiB (upstream rejects this flag; it works here)',
  }),
  row<string>({
    key: 'mkfsOptions',
    flag: 'mkfs-options',
    env: 'MKFS_OPTS',
    kind: 'string',
    meta: 'OPTS',
    default: '',
    help: 'extra options for the root mkfs (the MKFS_OPTS variable works too, unlike upstream)',
  }),
  row<boolean>({
    key: 'noTmpfs',
    flag: 'no-tmpfs',
    env: 'DIB_NO_TMPFS',
    kind: 'boolean',
    exported: true,
    default: false,
    help: 'accepted for compatibility; builds use the work directory on disk',
  }),
  row<boolean>({
    key: 'offline',
    flag: 'offline',
    env: 'DIB_OFFLINE',
    kind: 'boolean',
    exported: true,
    default: false,
    help: 'use cached base trees and packages without refreshing them',
  }),
  row<boolean>({
    key: 'cache',
    flag: 'cache',
    env: 'DIB_CACHE',
    kind: 'boolean',
    default: true,
    help: 'the phase cache: reuse each stored step whose inputs did not change (--no-cache or DIB_CACHE=0: build every step, store nothing)',
  }),
  row<boolean>({
    key: 'explainCache',
    flag: 'explain-cache',
    env: 'DIB_EXPLAIN_CACHE',
    kind: 'boolean',
    default: false,
    help: 'say for every step whether the phase cache reused it, and for a miss every input that changed',
  }),
  row<boolean>({
    key: 'cachePrune',
    flag: 'cache-prune',
    kind: 'boolean',
    default: false,
    help: 'remove the least recently used phase cache steps until the cache fits --cache-max-size, and exit',
  }),
  row<number>({
    key: 'cacheMaxSize',
    flag: 'cache-max-size',
    env: 'DIB_CACHE_MAX_SIZE',
    kind: 'number',
    meta: 'GiB',
    default: 20,
    parse: (n: number) => {
      if (!Number.isFinite(n) || n < 0)
        throw new UsageError('invalid-setting', `--cache-max-size must be a number of GiB (0 or more), got '${n}'`, {
          hint: 'e.g. --cache-max-size 10',
        });
      return n;
    },
    help: 'bound of the phase cache in GiB, applied after every build (least recently used steps go first)',
  }),
  row<boolean>({
    key: 'strict',
    flag: 'strict',
    env: 'DIB_STRICT',
    kind: 'boolean',
    default: false,
    help: 'treat what DIB silently ignores (unknown package-installs keys and phases) as errors (exit 2) instead of warnings',
  }),
  row<string>({
    key: 'qemuImgOptions',
    flag: 'qemu-img-options',
    env: 'QEMU_IMG_OPTIONS',
    kind: 'string',
    meta: 'K=V,...',
    default: '',
    help: 'options for qemu-img convert -o (e.g. compat=0.10)',
  }),
  row<string>({
    key: 'rootLabel',
    flag: 'root-label',
    env: 'ROOT_LABEL',
    kind: 'string',
    meta: 'LABEL',
    default: '',
    help: 'root filesystem label; default cloudimg-rootfs (img-rootfs for xfs)',
  }),
  row<string>({
    key: 'ramdiskElement',
    flag: 'ramdisk-element',
    env: 'RAMDISK_ELEMENT',
    kind: 'string',
    meta: 'ELEMENT',
    hidden: true,
    default: 'ramdisk',
    help: 'ramdisk element (ramdisk builds are not supported yet)',
  }),
  row<string>({
    key: 'installType',
    flag: 'install-type',
    env: 'DIB_DEFAULT_INSTALLTYPE',
    kind: 'string',
    meta: 'TYPE',
    default: 'source',
    help: 'default install type for elements with alternatives (source or package)',
  }),
  row<string>({
    key: 'dockerTarget',
    flag: 'docker-target',
    env: 'DOCKER_TARGET',
    kind: 'string',
    meta: 'REPO:TAG',
    default: '',
    parse: (v) => validName(v, '--docker-target', dockerReferenceProblem, 'e.g. --docker-target debian-cloud:bookworm'),
    help: 'tag of the -t docker archive (REPOSITORY[:TAG]; default NAME:latest, NAME being the -o file name)',
  }),
  row<string>({
    key: 'stemcellName',
    env: 'DIB_STEMCELL_NAME',
    kind: 'string',
    default: '',
    parse: (v) =>
      validName(v, 'DIB_STEMCELL_NAME', stemcellNameProblem, 'e.g. DIB_STEMCELL_NAME=bosh-openstack-kvm-debian-bookworm-go_agent'),
    help: '-t stemcell: the stemcell name (default bosh-openstack-kvm-<DISTRO_NAME>-<DIB_RELEASE>-go_agent)',
  }),
  row<string>({
    key: 'stemcellVersion',
    env: 'DIB_STEMCELL_VERSION',
    kind: 'string',
    default: '0.0.1',
    parse: (v) => validName(v, 'DIB_STEMCELL_VERSION', stemcellVersionProblem, 'e.g. DIB_STEMCELL_VERSION=1.42'),
    help: '-t stemcell: the stemcell version (BOSH semi-semantic: 1.42, 0.0.1-rc.1)',
  }),
  row<string>({
    key: 'logfile',
    flag: 'logfile',
    env: 'LOGFILE',
    kind: 'string',
    meta: 'FILE',
    exported: true,
    default: '',
    parse: (v) => resolve(v),
    help: 'append a timestamped log to FILE (the console then shows warnings only, unless DIB_QUIET=0)',
  }),
  row<boolean>({
    key: 'quiet',
    env: 'DIB_QUIET',
    kind: 'boolean',
    default: (_env, c) => !!c.logfile,
    help: 'console shows warnings only (default: on with --logfile, off otherwise)',
  }),
  row<string>({
    key: 'eventsFile',
    flag: 'events',
    kind: 'string',
    meta: 'FILE',
    default: '',
    parse: (v) => (v === '-' ? v : resolve(v)),
    help: 'write an NDJSON event stream to FILE (- for stderr)',
  }),
  row<string>({
    key: 'manifest',
    flag: 'manifest',
    kind: 'string',
    meta: 'FILE',
    default: '',
    parse: (v) => resolve(v),
    help: 'write a JSON artifact manifest to FILE: each output with its format, size, sha256 and md5 (see README)',
  }),
  row<boolean>({
    key: 'upload',
    flag: 'upload',
    kind: 'boolean',
    default: false,
    help: 'after the build, upload each output Glance takes (as image-upload does; credentials from --os-cloud, OS_CLOUD or OS_*)',
  }),
  row<string>({
    key: 'osCloud',
    flag: 'os-cloud',
    kind: 'string',
    meta: 'NAME',
    default: '',
    help: 'with --upload: the cloud in clouds.yaml (default OS_CLOUD)',
  }),
  row<boolean>({
    key: 'cleanupStale',
    flag: 'cleanup-stale',
    kind: 'boolean',
    default: false,
    help: 'release what builds killed outright (SIGKILL, power loss) left behind, as their ledgers name it, and exit',
  }),
  row<boolean>({
    key: 'verify',
    flag: 'verify',
    kind: 'boolean',
    default: false,
    help: 'after the build, run image-verify on the image (boot it with a config drive and check it)',
  }),
  row<string>({
    key: 'verifyUser',
    flag: 'verify-user',
    kind: 'string',
    meta: 'USER',
    default: 'debian',
    help: 'with --verify: the login user of the image',
  }),
  row<number>({
    key: 'verifyTimeout',
    flag: 'verify-timeout',
    kind: 'number',
    meta: 'SECONDS',
    default: 900,
    parse: positive('--verify-timeout', 'seconds'),
    help: 'with --verify: seconds to wait for ssh',
  }),
  // Read by the process entry through debugRequested() as well: an error can come before the configuration exists.
  row<boolean>({ key: 'debug', flag: 'debug', kind: 'boolean', default: false, help: 'show stack traces with errors' }),
  row<string>({
    key: 'fsType',
    env: 'FS_TYPE',
    kind: 'string',
    exported: true,
    default: 'ext4',
    parse: (t) => {
      if (!['ext4', 'ext3', 'ext2', 'xfs', 'btrfs'].includes(t))
        throw new UsageError('invalid-setting', `FS_TYPE '${t}' is not supported`, { hint: 'use ext4, ext3, ext2, xfs or btrfs' });
      return t;
    },
    help: 'root filesystem type',
  }),
  row<string>({
    key: 'blockDeviceConfig',
    env: 'DIB_BLOCK_DEVICE_CONFIG',
    kind: 'string',
    default: '',
    help: 'block-device YAML, or file://PATH',
  }),
  row<number>({
    key: 'blockSize',
    env: 'DIB_BLOCK_SIZE',
    kind: 'number',
    exported: true,
    default: 512,
    parse: (n) => {
      if (n !== 512 && n !== 4096)
        throw new UsageError('invalid-setting', `DIB_BLOCK_SIZE must be 512 or 4096, got '${n}'`, {
          hint: 'loop devices take 512 or 4096-byte sectors',
        });
      return n;
    },
    help: 'sector size of the loop device (512 or 4096)',
  }),
  row<string>({
    key: 'defaultOsElement',
    env: 'DIB_DEFAULT_OS_ELEMENT',
    kind: 'string',
    default: 'debian',
    help: 'element added when nothing provides operating-system (empty: error, like DIB)',
  }),
  row<string>({
    key: 'elementsPath',
    env: 'ELEMENTS_PATH',
    kind: 'string',
    default: '',
    help: 'colon-separated element directories, searched before the shipped elements',
  }),
  row<string>({
    key: 'tmpDir',
    parseDefault: true,
    env: 'TMP_DIR',
    kind: 'string',
    default: '/tmp',
    parse: (v) => resolve(v),
    help: 'parent of the build work directory',
  }),
  row<string>({
    key: 'lockfiles',
    env: 'DIB_LOCKFILES',
    kind: 'string',
    exported: true,
    default: (_env, c) => join(c.imageCache ?? '', 'lockfiles'),
    help: 'directory of the locks shared by concurrent builds (default: IMAGE_CACHE/lockfiles)',
  }),
  row<boolean>({
    key: 'overwriteOldImage',
    env: 'OVERWRITE_OLD_IMAGE',
    kind: 'boolean',
    default: false,
    help: 'replace existing outputs instead of renaming them NAME-YYYY.MM.DD-HH.MM.SS.TYPE',
  }),
  row<string>({
    key: 'runPartsRegex',
    env: 'RUN_PARTS_REGEX',
    kind: 'string',
    default: DEFAULT_RUN_PARTS_REGEX,
    parse: (v) => {
      try {
        new RegExp(v);
      } catch {
        throw new UsageError('invalid-setting', `RUN_PARTS_REGEX is not a valid regular expression: ${v}`, {
          hint: `the default is ${DEFAULT_RUN_PARTS_REGEX}`,
        });
      }
      return v;
    },
    help: 'hook names that run (default: letters, digits, _ and -)',
  }),
  row<string[]>({
    key: 'breakPoints',
    env: 'break',
    kind: 'list',
    default: [],
    parse: (v) => {
      const points = v
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = points.filter((p) => !BREAK_POINTS.includes(p));
      if (unknown.length)
        throw new UsageError('invalid-setting', `unknown break point${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, {
          hint: 'use before-PHASE, after-PHASE (root, extra-data, pre-install, install, post-install, post-root, block-device, pre-finalise, finalise, cleanup) or after-error',
        });
      return points;
    },
    help: 'debug shells: break=before-PHASE,after-PHASE,after-error',
  }),
  row<string>({ key: 'breakCmd', env: 'break_cmd', kind: 'string', default: 'bash', help: 'the command run at a break point' }),
  row<boolean>({
    key: 'breakOutsideTarget',
    env: 'break_outside_target',
    kind: 'boolean',
    default: false,
    help: 'after-error: open the shell outside the chroot',
  }),
  row<string[]>({
    key: 'notSecrets',
    env: 'DIB_NOT_SECRETS',
    kind: 'list',
    default: [],
    parse: (v) => v.flatMap((s) => s.split(/[,\s]+/)).filter(Boolean),
    help: 'variables that look secret by name but are not (comma separated): shown in logs, not scanned for',
  }),
];

/** `--debug` anywhere on the command line (every command takes it; see the `debug` row). */
export function debugRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--debug');
}

/** Host architecture in Debian's naming. */
export function hostArch(): string {
  const names: Record<string, string> = { x64: 'amd64', ia32: 'i386', arm64: 'arm64', arm: 'armhf', ppc64: 'ppc64el' };
  return names[process.arch] ?? process.arch;
}

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  amd64: 'amd64',
  i386: 'i386',
  i686: 'i386',
  aarch64: 'arm64',
  arm64: 'arm64',
  armhf: 'armhf',
  ppc64el: 'ppc64el',
  ppc64le: 'ppc64el',
  s390x: 's390x',
};

/** Debian architecture name for ARCH (DIB does not validate; an unknown one fails here with a hint). */
export function normaliseArch(arch: string): string {
  const known = ARCH_ALIASES[arch];
  if (!known)
    throw new UsageError('invalid-setting', `unknown architecture '${arch}'`, { hint: `known: ${Object.keys(ARCH_ALIASES).join(', ')}` });
  return known;
}

function parseTypes(values: string[]): string[] {
  const types = values
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = types.filter((t) => !OUTPUT_TYPE_NAMES.includes(t));
  const byElement = OUTPUT_TYPES.filter((t) => t.madeBy && unknown.includes(t.name));
  if (unknown.length)
    throw new UsageError('invalid-setting', `unknown output type${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, {
      hint: [
        ...byElement.map((t) => `NAME.${t.extension} is written by the ${t.madeBy} element, not asked for with -t`),
        `known types: ${OUTPUT_TYPE_NAMES.join(', ')}`,
      ].join('; '),
    });
  return [...new Set(types)];
}

/** `value` if `problemOf` finds nothing wrong with it, else a UsageError naming the setting `what`. */
function validName(value: string, what: string, problemOf: (v: string) => string | undefined, hint: string): string {
  const problem = problemOf(value);
  if (problem) throw new UsageError('invalid-setting', `${what} '${value}': ${problem}`, { hint });
  return value;
}

/** A boolean variable as DIB's scripts test it: set, non-empty and not 0. */
function envBoolean(raw: string): boolean {
  return raw !== '' && raw !== '0';
}

/** What the flags parser found: the value per flag that was given (counts as numbers, lists as arrays). */
export type FlagValues = Partial<Record<Key, string | number | boolean | string[]>>;

/**
 * The frozen configuration: for each row, the flag if given, else the variable if set, else the default;
 * then the row's parser. All problems are reported at once (exit 2).
 */
export function makeConfig(elements: string[], flags: FlagValues, env: Env): BuildConfig {
  const values: Record<string, unknown> = {};
  const problems: UsageError[] = [];
  for (const s of SETTINGS) {
    const flag = flags[s.key];
    const raw = s.env === undefined ? undefined : env[s.env];
    const fromEnv = raw !== undefined && raw !== '';
    let value: unknown;
    let given = true;
    if (s.kind === 'count') value = (fromEnv ? Number(raw) || 0 : 0) + (typeof flag === 'number' ? flag : 0);
    // A false flag is only passed for a boolean that is on by default and was turned off (--no-FLAG).
    else if (flag !== undefined && (flag !== false || s.default === true)) value = flag;
    else if (fromEnv) value = s.kind === 'boolean' ? envBoolean(raw) : s.kind === 'number' ? Number(raw) : s.kind === 'list' ? [raw] : raw;
    else {
      given = false;
      value = typeof s.default === 'function' ? (s.default as (e: Env, c: Partial<BuildConfig>) => unknown)(env, values) : s.default;
    }
    if (s.kind === 'number' && typeof value === 'string') value = value.trim() === '' ? NaN : Number(value);
    try {
      values[s.key] = s.parse && (given || s.parseDefault) ? s.parse(value) : value;
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      problems.push(error);
      values[s.key] = value;
    }
  }
  throwIfProblems(problems);
  let imageName = values.imageName as string;
  const types = values.imageTypes as string[];
  if (types.length === 1 && imageName.endsWith(`.${types[0]}`)) imageName = imageName.slice(0, -(types[0].length + 1));
  values.imageName = resolve(imageName);
  return Object.freeze({ ...values, elements: Object.freeze([...elements]) }) as unknown as BuildConfig;
}

/** The value a hook sees for an exported setting (DIB's forms: booleans 1/0, DIB_OFFLINE empty when off). */
export function exportedValue(s: Setting, value: unknown): string | undefined {
  if (s.kind === 'boolean') return value ? '1' : s.env === 'DIB_OFFLINE' ? '' : '0';
  if (s.kind === 'list') return (value as string[]).join(',');
  if (value === '' || value === 0 || value === undefined) return undefined;
  return scalarText(value);
}
