// TripleO's image-family format (tripleo-common image/base.py, build.py): a map whose `disk_images` list holds
// the images; several files merge by imagename; `options` are shell-split into disk-image-create flags.
import { parse as shellSplit } from 'shell-quote';
import { scalarText } from '../core/text.js';
import { EXTENSION_SCHEMA, IMAGE_NAME_SCHEMA, SCALAR_MAP_SCHEMA, STRING_LIST_SCHEMA, extensionOf, stringMap } from './dib-format.js';
import type { Entry, FormatResult, ImageSpec, Problem } from './image-files.js';

/** Only `disk_images` is read; other top-level keys are ignored without a word, as TripleO does. */
export const TRIPLEO_TOP_SCHEMA = { type: 'object', required: ['disk_images'], properties: { disk_images: { type: 'array' } } };

const STRING = { type: 'string' };

export const TRIPLEO_ENTRY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['imagename'],
  properties: {
    imagename: IMAGE_NAME_SCHEMA,
    distro: STRING,
    // Default: the host's architecture, which is disk-image-create's default too (so no -a).
    arch: STRING,
    type: STRING,
    imageext: EXTENSION_SCHEMA,
    builder: STRING,
    skip_base: { type: 'boolean' },
    docker_target: STRING,
    elements: STRING_LIST_SCHEMA,
    options: STRING_LIST_SCHEMA,
    packages: STRING_LIST_SCHEMA,
    environment: SCALAR_MAP_SCHEMA,
  },
};

export const TRIPLEO_KEYS = Object.keys(TRIPLEO_ENTRY_SCHEMA.properties);

interface Merged {
  name: string;
  data: Record<string, unknown>;
  /** Where each scalar was last set: `FILE:LINE:COL: disk_images entry N (...)` and plain `FILE:LINE:COL`. */
  where: Record<string, string>;
  at: Record<string, string>;
  files: string[];
  optionWords: string[];
  problems: Problem[];
  isTainted: boolean;
}

/**
 * Files merge in argument order, keyed by imagename: elements, options and packages appended, environment
 * updated, scalars overwritten by the later file. TripleO's code keeps the first value (base.py only sets absent
 * keys) but its CLI help says later files override; we follow the documented intent and warn on every override.
 */
export function mergeTripleoEntries(entries: Entry[]): FormatResult {
  const merged = new Map<string, Merged>();
  const result: FormatResult = { images: [], problems: [], warnings: [] };
  for (const entry of entries) {
    const name = entry.data?.imagename;
    if (typeof name !== 'string') continue; // already a schema problem: no image to put it in
    let image = merged.get(name);
    if (!image)
      merged.set(name, (image = { name, data: {}, where: {}, at: {}, files: [], optionWords: [], problems: [], isTainted: false }));
    if (!image.files.includes(entry.file)) image.files.push(entry.file);
    if (!entry.isValid || !entry.data) {
      image.isTainted = true;
      continue;
    }
    for (const [key, value] of Object.entries(entry.data)) {
      const old = image.data[key];
      if (key === 'options') (value as string[]).forEach((option, i) => splitOption(option, entry.where([key, i]), image));
      else if (Array.isArray(value)) image.data[key] = [...((old as unknown[] | undefined) ?? []), ...(value as unknown[])];
      else if (key === 'environment') image.data[key] = { ...(old as object | undefined), ...(value as object) };
      else {
        if (old !== undefined && old !== value)
          result.warnings.push(
            `image '${name}': '${key}' is '${scalarText(old)}' in ${image.at[key]} and '${scalarText(value)}' in ${entry.at([key])}; ` +
              `using '${scalarText(value)}' (the later file wins)`,
          );
        image.data[key] = value;
        image.where[key] = entry.where([key]);
        image.at[key] = entry.at([key]);
      }
    }
  }
  for (const image of merged.values()) {
    if (image.isTainted) continue;
    const problems = [...image.problems, ...imageProblems(image)];
    result.problems.push(...problems);
    if (!problems.length) result.images.push(toSpec(image));
  }
  return result;
}

/** One `options` entry into argv words; no variable expansion (`$X` stays), no operators, globs or comments. */
function splitOption(option: string, where: string, image: Merged): void {
  const words = shellSplit(option, (name) => `$${name}`);
  const bad = words.find((w) => typeof w !== 'string');
  if (bad !== undefined) {
    const what =
      'comment' in bad ? `a comment (#${bad.comment})` : bad.op === 'glob' ? `a glob (${bad.pattern})` : `a shell operator '${bad.op}'`;
    image.problems.push({
      text: `${where}: option '${option}' contains ${what}`,
      hint: 'options are split into words like a shell would, but never run by one: quote the character or drop it',
    });
    return;
  }
  image.optionWords.push(...(words as string[]));
}

function imageProblems(image: Merged): Problem[] {
  const problems: Problem[] = [];
  if (image.data.distro === undefined)
    problems.push({
      text: `${image.files.join(', ')}: image '${image.name}' has no distro`,
      hint: 'TripleO puts the distro element first: add e.g. distro: debian (in this image or in a file merged with it)',
    });
  if (image.data.builder !== undefined && image.data.builder !== 'dib')
    problems.push({
      text: `${image.where.builder}: builder '${scalarText(image.data.builder)}' is not supported`,
      hint: "only the dib builder exists (as in TripleO): remove builder: or set it to 'dib'",
    });
  return problems;
}

function toSpec(image: Merged): ImageSpec {
  const { data } = image;
  const type = (data.type as string | undefined) ?? 'qcow2';
  const flags: string[] = [];
  if (data.arch !== undefined) flags.push('-a', data.arch as string);
  flags.push('-t', type);
  if (data.skip_base === true) flags.push('-n');
  if (data.docker_target !== undefined) flags.push(`--docker-target=${data.docker_target as string}`);
  const packages = (data.packages as string[] | undefined) ?? [];
  if (packages.length) flags.push('-p', packages.join(','));
  flags.push(...image.optionWords);
  // TripleO's skip check looks for NAME.IMAGEEXT; the default follows our file names (squashfs is `.squash`).
  const imageext = (data.imageext as string | undefined) ?? extensionOf(type);
  return {
    name: image.name,
    origin: image.files.join(', '),
    format: 'tripleo',
    elements: [data.distro as string, ...((data.elements as string[] | undefined) ?? [])],
    flags,
    env: stringMap(data.environment),
    types: [type],
    outputName: image.name,
    expectedFiles: [`${image.name}.${imageext}`],
  };
}
