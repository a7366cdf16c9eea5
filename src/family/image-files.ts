// Image-family files in DIB's format (a list of image maps) and TripleO's (a map with disk_images:): read,
// checked against each format's JSON schema with every problem collected, merged by each format's rules.
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { UsageError } from '../core/errors.js';
import { scalarText } from '../core/text.js';
import { DIB_ENTRY_SCHEMA, DIB_KEYS, mergeDibEntries } from './dib-format.js';
import { TRIPLEO_ENTRY_SCHEMA, TRIPLEO_KEYS, TRIPLEO_TOP_SCHEMA, mergeTripleoEntries } from './tripleo.js';

export interface ImageSpec {
  name: string;
  /** Where it is defined, for messages: `images.yaml entry 2`, `a.yaml, b.yaml`. */
  origin: string;
  format: 'dib' | 'tripleo';
  /** Positional elements in order (TripleO: the distro first). */
  elements: string[];
  /** disk-image-create flags in argv form, without -o and the elements; long options with a value are one word, `--flag=value`. */
  flags: string[];
  /** The image's own environment additions. */
  env: Record<string, string>;
  types: string[];
  /** The -o value relative to the output directory. */
  outputName: string;
  /** File names (relative to the output directory) whose presence means "already built". */
  expectedFiles: string[];
}

export interface LoadResult {
  images: ImageSpec[];
  warnings: string[];
}

/** One entry of a file, handed to its format's merge. */
export interface Entry {
  /** The entry as read; undefined when it is not a map. */
  data: Record<string, unknown> | undefined;
  /** It passed its format's schema. */
  isValid: boolean;
  file: string;
  /** 1-based, within its file. */
  index: number;
  /** `FILE:LINE:COL: entry N (imagename X)`, the position being that of `path` inside the entry. */
  where: (path?: Array<string | number>) => string;
  /** `FILE:LINE:COL` of `path` inside the entry. */
  at: (path?: Array<string | number>) => string;
}

export interface Problem {
  text: string;
  hint?: string;
}

export interface FormatResult {
  images: ImageSpec[];
  problems: Problem[];
  warnings: string[];
}

interface YamlFile {
  path: string;
  doc: Document;
  lineCounter: LineCounter;
  data: unknown;
}

const FORMAT_HINT =
  "DIB's format is a YAML list of image maps (- imagename: x, elements: [...]); TripleO's a map whose disk_images: lists them";

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
const validateTripleoTop = ajv.compile(TRIPLEO_TOP_SCHEMA);
/** Each format's entry schema, and its keys for the hint of an unknown key. */
const ENTRY_CHECKS = {
  dib: { validate: ajv.compile(DIB_ENTRY_SCHEMA), keys: DIB_KEYS },
  tripleo: { validate: ajv.compile(TRIPLEO_ENTRY_SCHEMA), keys: TRIPLEO_KEYS },
};

/** Reads, detects the format per file, validates (ALL problems collected, then one UsageError with exitCode 2 listing them as details), merges. */
export function loadImageFiles(paths: string[]): LoadResult {
  const result = readImageFiles(paths);
  if (result.problem) throw result.problem;
  return result;
}

/**
 * As loadImageFiles, but the problems come back as one UsageError beside the images that are sound, so
 * the caller can check those images too and report everything at once.
 */
export function readImageFiles(paths: string[]): LoadResult & { problem?: UsageError } {
  const problems: Problem[] = [];
  const entries = { dib: [] as Entry[], tripleo: [] as Entry[] };
  const formatsInOrder: Array<'dib' | 'tripleo'> = [];
  if (!paths.length) problems.push({ text: 'no image files given', hint: FORMAT_HINT });
  for (const path of paths) {
    const file = readYaml(path, problems);
    if (!file) continue;
    const { data } = file;
    if (Array.isArray(data)) {
      if (!data.length) problems.push({ text: `${path}: the list holds no images`, hint: FORMAT_HINT });
      data.forEach((item, i) => entries.dib.push(checkEntry(file, [i], item, ENTRY_CHECKS.dib, problems)));
      if (!formatsInOrder.includes('dib')) formatsInOrder.push('dib');
    } else if (isPlainMap(data) && 'disk_images' in data) {
      if (!validateTripleoTop(data)) {
        problems.push(...schemaProblems(file, [], '', data, validateTripleoTop.errors ?? [], []));
        continue;
      }
      const list = data.disk_images as unknown[];
      if (!list.length) problems.push({ text: `${at(file, ['disk_images'])}: disk_images holds no images`, hint: FORMAT_HINT });
      list.forEach((item, i) => entries.tripleo.push(checkEntry(file, ['disk_images', i], item, ENTRY_CHECKS.tripleo, problems)));
      if (!formatsInOrder.includes('tripleo')) formatsInOrder.push('tripleo');
    } else {
      const found = isPlainMap(data) ? `a map with ${keysText(Object.keys(data))}` : describeValue(data);
      problems.push({
        text: `${path}: neither DIB's format (a list of image maps) nor TripleO's (a map with disk_images:); the top level is ${found}`,
        hint: FORMAT_HINT,
      });
    }
  }
  const results = { dib: mergeDibEntries(entries.dib), tripleo: mergeTripleoEntries(entries.tripleo) };
  problems.push(...results.dib.problems, ...results.tripleo.problems, ...crossFormatProblems(results.dib.images, results.tripleo.images));
  const hints = [...new Set(problems.map((p) => p.hint).filter((h): h is string => !!h))];
  const problem = problems.length
    ? new UsageError('image-files', `${problems.length} ${problems.length === 1 ? 'problem' : 'problems'} in image files`, {
        hint: hints.length ? hints.join('\n') : FORMAT_HINT,
        details: problems.map((p) => p.text),
      })
    : undefined;
  // Each format's images in first-appearance order; the format of the earlier file first.
  return {
    images: formatsInOrder.flatMap((f) => results[f].images),
    warnings: [...results.dib.warnings, ...results.tripleo.warnings],
    problem,
  };
}

function readYaml(path: string, problems: Problem[]): YamlFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'a directory, not an image file' : `cannot be read (${e.message})`;
    problems.push({ text: `${path}: ${why}` });
    return undefined;
  }
  const lineCounter = new LineCounter();
  // YAML 1.1, as PyYAML reads these files for DIB and TripleO: `uncompressed: yes` is a boolean there.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, version: '1.1' });
  // The first error only: later ones are mostly the parser recovering from it.
  const syntax = doc.errors[0];
  if (syntax) {
    const pos = lineCounter.linePos(syntax.pos[0]);
    problems.push({ text: `${path}:${pos.line}:${pos.col}: YAML syntax error: ${syntax.message.split('\n')[0]}` });
    return undefined;
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // Unresolved aliases and alias bombs ("billion laughs") throw here.
    problems.push({ text: `${path}: the YAML cannot be read: ${(error as Error).message.split('\n')[0]}` });
    return undefined;
  }
  if (data === null || data === undefined) {
    problems.push({ text: `${path}: the file is empty`, hint: FORMAT_HINT });
    return undefined;
  }
  return { path, doc, lineCounter, data };
}

function checkEntry(
  file: YamlFile,
  docPath: Array<string | number>,
  item: unknown,
  check: { validate: ValidateFunction; keys: string[] },
  problems: Problem[],
): Entry {
  const index = Number(docPath[docPath.length - 1]) + 1;
  const name = isPlainMap(item) && typeof item.imagename === 'string' ? ` (imagename ${item.imagename})` : '';
  const label = `${docPath.length > 1 ? 'disk_images ' : ''}entry ${index}${name}`;
  const isValid = check.validate(item);
  if (!isValid) problems.push(...schemaProblems(file, docPath, label, item, check.validate.errors ?? [], check.keys));
  return {
    data: isPlainMap(item) ? item : undefined,
    isValid,
    file: file.path,
    index,
    where: (path = []) => `${at(file, [...docPath, ...path])}: ${label}`,
    at: (path = []) => at(file, [...docPath, ...path]),
  };
}

/** Ajv's errors in words, each at its place in the file, in file order; one per place (a wrong type also fails its enum). */
function schemaProblems(
  file: YamlFile,
  docPath: Array<string | number>,
  label: string,
  value: unknown,
  errors: ErrorObject[],
  keys: string[],
): Problem[] {
  const problems: Array<Problem & { offset: number }> = [];
  const seen = new Set<string>();
  for (const e of errors) {
    const rel = e.instancePath
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    const params = e.params as Record<string, unknown>;
    const extra = e.keyword === 'additionalProperties' || e.keyword === 'required' ? `:${scalarText(Object.values(params)[0])}` : '';
    if (seen.has(e.instancePath + extra)) continue;
    seen.add(e.instancePath + extra);
    const prefix = (path: string[], atKey = false) => `${at(file, [...docPath, ...path], atKey)}${label ? `: ${label}` : ''}`;
    const { what, found } = describePath(value, rel);
    let text: string;
    let hint: string | undefined;
    let offset = offsetOf(file, [...docPath, ...rel]);
    if (e.keyword === 'additionalProperties') {
      const key = String(params.additionalProperty);
      offset = offsetOf(file, [...docPath, ...rel, key], true);
      text = `${prefix([...rel, key], true)}: unknown key '${key}'`;
      hint = `an image map's keys are ${keys.join(', ')}`;
    } else if (e.keyword === 'required') text = `${prefix(rel)}: missing '${String(params.missingProperty)}'`;
    else if (e.keyword === 'type') text = `${prefix(rel)}: ${what} must be ${typeWords(params.type)}, not ${describeValue(found)}`;
    else if (e.keyword === 'enum')
      text = `${prefix(rel)}: ${what} must be one of ${(params.allowedValues as unknown[]).map(scalarText).join(', ')}, not '${scalarText(found)}'`;
    else if (e.keyword === 'pattern') text = `${prefix(rel)}: ${what} '${scalarText(found)}' must be a file name (no '/', not '.' or '..')`;
    else text = `${prefix(rel)}: ${what} ${e.message ?? 'is invalid'}`;
    problems.push({ text, hint, offset: offset ?? 0 });
  }
  return problems.sort((a, b) => a.offset - b.offset).map(({ text, hint }) => ({ text, hint }));
}

/** `'environment.FOO'`, `'elements' item 2`, or `the entry`; and the value found there. */
function describePath(value: unknown, rel: string[]): { what: string; found: unknown } {
  const keys: string[] = [];
  let item = '';
  let found = value;
  for (const segment of rel) {
    if (Array.isArray(found)) {
      item = ` item ${Number(segment) + 1}`;
      found = found[Number(segment)];
    } else {
      keys.push(segment);
      found = isPlainMap(found) ? found[segment] : undefined;
    }
  }
  return { what: keys.length ? `'${keys.join('.')}'${item}` : rel.length ? `item${item}` : 'the entry', found };
}

/** `FILE:LINE:COL` of the node at `path` (its key with `atKey`), or of its nearest ancestor in the file. */
function at(file: YamlFile, path: Array<string | number>, atKey = false): string {
  const offset = offsetOf(file, path, atKey);
  if (offset === undefined) return file.path;
  const pos = file.lineCounter.linePos(offset);
  return `${file.path}:${pos.line}:${pos.col}`;
}

function offsetOf(file: YamlFile, path: Array<string | number>, atKey = false): number | undefined {
  let node: unknown = file.doc.contents;
  let key: unknown;
  for (const segment of path) {
    key = undefined;
    if (isSeq(node) && node.items[Number(segment)] !== undefined) node = node.items[Number(segment)];
    else if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(segment));
      if (!pair) break;
      key = pair.key;
      node = pair.value ?? pair.key;
    } else break;
  }
  const target = atKey && isNode(key) ? key : node;
  return isNode(target) ? target.range?.[0] : undefined;
}

/** A DIB imagename and a TripleO one that collide, and two images that would write the same file. */
function crossFormatProblems(dib: ImageSpec[], tripleo: ImageSpec[]): Problem[] {
  const problems: Problem[] = [];
  for (const t of tripleo) {
    const d = dib.find((i) => i.name === t.name);
    if (d)
      problems.push({
        text: `image '${t.name}' is defined in both formats (DIB: ${d.origin}; TripleO: ${t.origin})`,
        hint: 'images merge only within one format: rename one of them',
      });
  }
  const writers = new Map<string, ImageSpec>();
  for (const image of [...dib, ...tripleo])
    for (const file of image.expectedFiles) {
      const other = writers.get(file);
      if (other && other.name !== image.name)
        problems.push({
          text: `images '${other.name}' (${other.origin}) and '${image.name}' (${image.origin}) would both write ${file}`,
          hint: 'give one of them another imagename',
        });
      else writers.set(file, image);
    }
  return problems;
}

function typeWords(type: unknown): string {
  const words: Record<string, string> = {
    object: 'a map',
    array: 'a list',
    string: 'a string',
    number: 'a number',
    integer: 'a whole number',
    boolean: 'true or false',
  };
  return (Array.isArray(type) ? type : String(type).split(',')).map((t) => words[String(t)] ?? String(t)).join(' or ');
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  const text = scalarText(value);
  return typeof value === 'string' ? `the string '${text.length > 40 ? `${text.slice(0, 40)}…` : text}'` : text;
}

function keysText(keys: string[]): string {
  if (!keys.length) return 'no keys';
  return `keys ${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ', …' : ''}`;
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
