// DIB's image-family format (diskimage_builder/diskimage_builder.py, DIB ≥ 3.19): a YAML list of image maps,
// merged by imagename, each key one disk-image-create flag.
import { scalarText } from '../core/text.js';
import { OUTPUT_TYPES } from '../output/types.js';
import type { Entry, FormatResult, ImageSpec, Problem } from './image-files.js';

/** An output file name: no directory part, not `.` or `..` (outputs go to the family's output directory). */
// A plain file name in the output directory: printable, no path, no leading dot or dash, not too long.
export const IMAGE_NAME_SCHEMA = { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9._+-]{0,199}$' };
/** A file name extension (TripleO's imageext): no path, no control characters. */
export const EXTENSION_SCHEMA = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$' };
export const STRING_LIST_SCHEMA = { type: 'array', items: { type: 'string' } };
/** Environment-like maps: scalar values, stringified (`DIB_IMAGE_SIZE: 6` is "6"). */
export const SCALAR_MAP_SCHEMA = { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } };

const ARCHES = ['aarch64', 'amd64', 'arm64', 'armhf', 'powerpc', 'ppc64', 'ppc64el', 'ppc64le', 's390x', 'x86_64'];
const BOOLEAN = { type: 'boolean' };
const STRING = { type: 'string' };
const SIZE = { type: ['string', 'number'] };

/**
 * The keys that are one flag each, in the order the flags are written. Spellings are our disk-image-create's
 * (config/settings.ts; `clear` is DIB's `-c`, our `--clear-env`). Boolean false means the flag is absent.
 */
const SIMPLE_FLAGS: ReadonlyArray<{ key: string; flag: string; schema: object }> = [
  { key: 'uncompressed', flag: '-u', schema: BOOLEAN },
  { key: 'clear', flag: '-c', schema: BOOLEAN },
  { key: 'skip-base', flag: '-n', schema: BOOLEAN },
  { key: 'logfile', flag: '--logfile', schema: STRING },
  { key: 'checksum', flag: '--checksum', schema: BOOLEAN },
  { key: 'image-size', flag: '--image-size', schema: SIZE },
  { key: 'image-extra-size', flag: '--image-extra-size', schema: SIZE },
  { key: 'image-cache', flag: '--image-cache', schema: STRING },
  { key: 'max-online-resize', flag: '--max-online-resize', schema: SIZE },
  { key: 'min-tmpfs', flag: '--min-tmpfs', schema: SIZE },
  { key: 'mkfs-journal-size', flag: '--mkfs-journal-size', schema: SIZE },
  { key: 'mkfs-options', flag: '--mkfs-options', schema: STRING },
  { key: 'no-tmpfs', flag: '--no-tmpfs', schema: BOOLEAN },
  { key: 'offline', flag: '--offline', schema: BOOLEAN },
  { key: 'root-label', flag: '--root-label', schema: STRING },
  { key: 'docker-target', flag: '--docker-target', schema: STRING },
  { key: 'install-type', flag: '--install-type', schema: { type: 'string', enum: ['source', 'package'] } },
];

/** One entry of a DIB-format file (`additionalProperties: false`, as upstream's schema). */
export const DIB_ENTRY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    imagename: IMAGE_NAME_SCHEMA,
    arch: { type: 'string', enum: ARCHES },
    // Upstream's enum is qcow2 tar tgz squashfs vhd docker aci raw; ours takes more (vmdk, ova, ...), and
    // disk-image-create's own validation rejects unknown types with the list. An empty list is the default
    // type, as upstream (it then gives no -t at all).
    types: STRING_LIST_SCHEMA,
    environment: SCALAR_MAP_SCHEMA,
    'debug-trace': { type: 'integer', minimum: 0, maximum: 2 },
    'qemu-img-options': SCALAR_MAP_SCHEMA,
    packages: STRING_LIST_SCHEMA,
    elements: STRING_LIST_SCHEMA,
    ramdisk: BOOLEAN,
    'ramdisk-element': STRING,
    ...Object.fromEntries(SIMPLE_FLAGS.map((f) => [f.key, f.schema])),
  },
};

export const DIB_KEYS = Object.keys(DIB_ENTRY_SCHEMA.properties);

interface Merged {
  name: string;
  data: Record<string, unknown>;
  /** Where each key was last set (`FILE:LINE:COL: entry N (...)`). */
  where: Record<string, string>;
  entries: Entry[];
  /** An entry of this image had schema problems: its image-level checks would only echo them. */
  isTainted: boolean;
}

/**
 * Upstream's merge: an entry without imagename continues the previous one (the first is `image`); lists are
 * appended, maps updated (later keys win), scalars overwritten (last wins). Images keep first-appearance order.
 */
export function mergeDibEntries(entries: Entry[]): FormatResult {
  const merged = new Map<string, Merged>();
  let name = 'image';
  for (const entry of entries) {
    if (typeof entry.data?.imagename === 'string') name = entry.data.imagename;
    let image = merged.get(name);
    if (!image) merged.set(name, (image = { name, data: {}, where: {}, entries: [], isTainted: false }));
    image.entries.push(entry);
    if (!entry.isValid || !entry.data) {
      image.isTainted = true;
      continue;
    }
    for (const [key, value] of Object.entries(entry.data)) {
      const old = image.data[key];
      if (Array.isArray(value)) image.data[key] = [...((old as unknown[] | undefined) ?? []), ...(value as unknown[])];
      else if (typeof value === 'object' && value !== null) image.data[key] = { ...(old as object | undefined), ...value };
      else image.data[key] = value;
      image.where[key] = entry.where([key]);
    }
  }
  const result: FormatResult = { images: [], problems: [], warnings: [] };
  for (const image of merged.values()) {
    const problems = image.isTainted ? [] : imageProblems(image);
    result.problems.push(...problems);
    if (!image.isTainted && !problems.length) result.images.push(toSpec(image));
  }
  return result;
}

function imageProblems(image: Merged): Problem[] {
  const problems: Problem[] = [];
  const { data, where } = image;
  if (data.ramdisk === true || data['ramdisk-element'] !== undefined)
    problems.push({
      text: `${where[data.ramdisk === true ? 'ramdisk' : 'ramdisk-element']}: ramdisk images are not supported yet`,
      hint: 'ramdisk-image-create does not exist here: build a disk image (elements vm or baremetal) instead',
    });
  if (!(data.elements as string[] | undefined)?.length)
    problems.push({
      text: `${originOf(image.entries)}: image '${image.name}' has no elements`,
      hint: 'list its elements, e.g. elements: [debian-minimal, vm]',
    });
  return problems;
}

function toSpec(image: Merged): ImageSpec {
  const { data } = image;
  const listed = (data.types as string[] | undefined) ?? [];
  const types = listed.length ? [...new Set(listed)] : ['qcow2'];
  const flags: string[] = [];
  if (data.arch !== undefined) flags.push('-a', data.arch as string);
  flags.push('-t', types.join(','));
  for (let i = 0; i < ((data['debug-trace'] as number | undefined) ?? 0); i++) flags.push('-x');
  for (const { key, flag } of SIMPLE_FLAGS) {
    const value = data[key];
    if (value === true) flags.push(flag);
    // An empty string is no flag, as upstream (`logfile: ''` is no log file, not `--logfile=` naming the
    // current directory). One word, `--flag=value`: a value starting with '-' (mkfs options) is never taken for a flag.
    else if (value !== undefined && value !== false && value !== '') flags.push(`${flag}=${scalarText(value)}`);
  }
  const qemu = data['qemu-img-options'] as Record<string, unknown> | undefined;
  if (qemu && Object.keys(qemu).length)
    flags.push(
      `--qemu-img-options=${Object.entries(qemu)
        .map(([k, v]) => `${k}=${scalarText(v)}`)
        .join(',')}`,
    );
  const packages = (data.packages as string[] | undefined) ?? [];
  if (packages.length) flags.push('-p', packages.join(','));
  return {
    name: image.name,
    origin: originOf(image.entries),
    format: 'dib',
    elements: data.elements as string[],
    flags,
    env: stringMap(data.environment),
    types,
    outputName: image.name,
    expectedFiles: types.map((t) => `${image.name}.${extensionOf(t)}`),
  };
}

/** `a.yaml entry 2`, `a.yaml entries 1, 3; b.yaml entry 1`. */
function originOf(entries: Entry[]): string {
  const byFile = new Map<string, number[]>();
  for (const e of entries) byFile.set(e.file, [...(byFile.get(e.file) ?? []), e.index]);
  return [...byFile].map(([file, n]) => `${file} ${n.length > 1 ? 'entries' : 'entry'} ${n.join(', ')}`).join('; ');
}

/** The file suffix of an output type (output/types.ts: squashfs is `.squash`); an unknown type keeps its name. */
export function extensionOf(type: string): string {
  return OUTPUT_TYPES.find((t) => t.name === type)?.extension ?? type;
}

export function stringMap(value: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries((value as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [k, scalarText(v)]));
}
