// What a cloud needs to know about a built image, written by disk-image-create beside the image as
// NAME.d/image-metadata.json and read by image-upload to set Glance's properties (the image guide's
// architecture, os_distro, os_version, hw_firmware_type, ...). Read back as untrusted input: every
// field is checked, an unreadable file is treated as absent (the properties then come from options).
import { lstatSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Ajv } from 'ajv';
import { randomBytes } from 'node:crypto';
import { BuildError } from '../core/errors.js';
import { archNames } from '../output/names.js';

export const METADATA_FILE = 'image-metadata.json';

export interface ImageMetadata {
  tool: 'dib-ts';
  version: string;
  /** Debian architecture (amd64, arm64, ...). */
  arch: string;
  /** DISTRO_NAME and DIB_RELEASE ('' when no element set them). */
  distro: string;
  release: string;
  /** The elements asked for and the expanded list. */
  elements: string[];
  expandedElements: string[];
  /** bios or uefi for a whole disk; null for a partition image (it boots with its kernel and initrd). */
  firmware: 'bios' | 'uefi' | null;
}

const SCHEMA = {
  type: 'object',
  properties: {
    tool: { const: 'dib-ts' },
    version: { type: 'string', maxLength: 64 },
    arch: { type: 'string', pattern: '^[a-z0-9_]{1,16}$' },
    distro: { type: 'string', pattern: '^[a-z0-9._-]{0,32}$' },
    release: { type: 'string', pattern: '^[a-z0-9._-]{0,32}$' },
    elements: { type: 'array', items: { type: 'string', maxLength: 128 }, maxItems: 1000 },
    expandedElements: { type: 'array', items: { type: 'string', maxLength: 128 }, maxItems: 1000 },
    firmware: { enum: ['bios', 'uefi', null] },
  },
  required: ['tool', 'version', 'arch', 'distro', 'release', 'elements', 'expandedElements', 'firmware'],
};
const validate = new Ajv({ allErrors: true }).compile<ImageMetadata>(SCHEMA);

/** This tool's version (package.json). */
export function toolVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Write NAME.d/image-metadata.json (whole: a temporary name, then rename). `dir` is NAME.d, a real directory. */
export function writeImageMetadata(dir: string, metadata: ImageMetadata): void {
  if (!lstatSync(dir, { throwIfNoEntry: false })?.isDirectory())
    throw new BuildError(`${dir} is not a directory (a symbolic link or a file was put there during the build)`, {
      hint: 'remove it and build again',
    });
  const temp = join(dir, `.${METADATA_FILE}.${randomBytes(6).toString('hex')}`);
  writeFileSync(temp, `${JSON.stringify(metadata, null, 2)}\n`, { flag: 'wx', mode: 0o644 });
  renameSync(temp, join(dir, METADATA_FILE));
}

/** The output stem of FILE: the name without the output type's extension (`x/cloud.qcow2` → `x/cloud`). */
export function stemOf(file: string, extension: string): string {
  return file.slice(0, -(extension.length + 1));
}

export interface FoundMetadata {
  metadata?: ImageMetadata;
  /** Why the metadata could not be used (a warning), when NAME.d/image-metadata.json exists but is bad. */
  problem?: string;
  /** Packages of the dpkg manifest in NAME.d (names only). */
  packages: string[];
}

/** Read the metadata and package manifest beside an image (`stem`.d/); nothing is followed through a symlink. */
export function readImageMetadata(stem: string): FoundMetadata {
  const dir = `${stem}.d`;
  const found: FoundMetadata = { packages: [] };
  if (!lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) return found;
  const file = join(dir, METADATA_FILE);
  const st = lstatSync(file, { throwIfNoEntry: false });
  if (st) {
    if (!st.isFile() || st.size > 1 << 20) found.problem = `${file} is not a small regular file`;
    else {
      try {
        const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
        if (validate(doc)) found.metadata = doc;
        else found.problem = `${file}: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}`;
      } catch (error) {
        found.problem = `${file} is not JSON: ${(error as Error).message}`;
      }
    }
  }
  const manifests = join(dir, 'dib-manifests');
  if (lstatSync(manifests, { throwIfNoEntry: false })?.isDirectory()) {
    const dpkg = readdirSync(manifests).find((n) => n === `dib-manifest-dpkg-${basename(stem)}`);
    const path = dpkg && join(manifests, dpkg);
    if (path && lstatSync(path).isFile() && lstatSync(path).size < 16 << 20)
      found.packages = readFileSync(path, 'utf8')
        .split('\n')
        .map((l) => l.split(/\s+/)[0])
        .filter(Boolean);
  }
  return found;
}

const DEBIAN_VERSIONS: Record<string, string> = { buster: '10', bullseye: '11', bookworm: '12', trixie: '13', forky: '14' };
const UBUNTU_VERSIONS: Record<string, string> = { focal: '20.04', jammy: '22.04', noble: '24.04' };

/** The image guide's properties from the metadata (and the packages), as Glance strings. */
export function glanceProperties(found: FoundMetadata, diskFormat: string): Record<string, string> {
  const m = found.metadata;
  const props: Record<string, string> = {};
  if (m) {
    try {
      props.architecture = archNames(m.arch).glance;
    } catch {
      // an architecture this tool has no Glance name for: left to --property
    }
    if (m.distro) {
      props.os_distro = m.distro;
      props.os_type = 'linux';
      const version = (m.distro === 'debian' ? DEBIAN_VERSIONS : m.distro === 'ubuntu' ? UBUNTU_VERSIONS : {})[m.release] ?? m.release;
      if (version) props.os_version = version;
    }
    if (m.firmware) props.hw_firmware_type = m.firmware;
    props['owner_specified.dib_ts.elements'] = m.elements.join(' ').slice(0, 255);
    props['owner_specified.dib_ts.version'] = m.version;
  }
  if (['qcow2', 'raw', 'vdi', 'vhd', 'vhdx'].includes(diskFormat) && m) props.hw_disk_bus = 'virtio';
  if (found.packages.includes('qemu-guest-agent')) props.hw_qemu_guest_agent = 'yes';
  return props;
}
