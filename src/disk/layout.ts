// DIB's block-device YAML: parse, flatten tree notation to nodes, validate with paths into the document.
import { scalarText } from '../core/text.js';
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Alias, LineCounter, parseDocument, visit as visitYaml } from 'yaml';
import { UsageError, throwIfProblems } from '../core/errors.js';
import { type Size, parseSize } from './size.js';
import { layoutError, layoutProblems, normaliseMountPoint } from './validate.js';

export interface LoopNode {
  name: string;
  size?: number;
  directory?: string;
  at: string;
}
export interface PartitionNode {
  name: string;
  base: string;
  index: number;
  size: Size;
  type?: string;
  flags: string[];
  at: string;
}
export interface PartitioningNode {
  name: string;
  base: string;
  label: 'mbr' | 'gpt';
  align: number;
  partitions: PartitionNode[];
  at: string;
}
export interface MkfsNode {
  name: string;
  base: string;
  type: string;
  label: string;
  opts: string;
  uuid?: string;
  at: string;
  /** Where the label came from, for messages: the document, --root-label, or the node name. */
  labelFrom?: 'document' | 'root-label' | 'name';
}
/** `mountPoint` is normalised (`/boot/` → `/boot`). */
export interface MountNode {
  name: string;
  base: string;
  mountPoint: string;
  at: string;
}
export interface FstabNode {
  name: string;
  base: string;
  options: string;
  dumpFreq: number;
  passno: number;
  at: string;
}

export interface Layout {
  source: string;
  loops: LoopNode[];
  partitionings: PartitioningNode[];
  filesystems: MkfsNode[];
  mounts: MountNode[];
  fstabs: FstabNode[];
}

export interface LayoutParams {
  fsType: string;
  rootLabel: string;
  mkfsOptions: string;
  /** Why device-mapper is unusable here, or undefined when it works (default: probeDeviceMapper; tests inject one). */
  deviceMapperProblem?: () => string | undefined;
}

/** Layouts are a few KiB; anything near this is a mistake or an attack. */
export const MAX_LAYOUT_BYTES = 1024 * 1024;
/** YAML aliases resolved while reading a layout (the `yaml` package's guard against "billion laughs"). */
export const MAX_YAML_ALIASES = 100;
/** The deepest real tree is local_loop → partitioning → partition → mkfs → mount → fstab. */
const MAX_DEPTH = 16;

const PLUGINS = ['local_loop', 'partitioning', 'lvm', 'mkfs', 'mount', 'fstab'] as const;
type Plugin = (typeof PLUGINS)[number];
const KEYS: Record<Plugin, string[]> = {
  local_loop: ['name', 'size', 'directory', 'block_size'],
  partitioning: ['name', 'base', 'label', 'align', 'partitions'],
  lvm: ['name', 'base', 'pvs', 'vgs', 'lvs'],
  mkfs: ['name', 'base', 'type', 'label', 'opts', 'uuid'],
  mount: ['name', 'base', 'mount_point'],
  fstab: ['name', 'base', 'options', 'dump-freq', 'fsck-passno'],
};
const PARTITION_KEYS = ['name', 'size', 'type', 'flags'];
const FALLBACK =
  '- local_loop:\n    name: image0\n    mkfs:\n      name: mkfs_root\n      mount:\n        mount_point: /\n        fstab:\n          options: defaults\n          fsck-passno: 1\n';

/** Where the layout comes from: DIB_BLOCK_DEVICE_CONFIG (YAML or file://), an element's YAML, or the fallback. */
export function chooseLayoutSource(options: { config: string; elements: Array<{ name: string; path: string }>; arch: string }): {
  text: string;
  source: string;
} {
  const { config } = options;
  if (config.startsWith('file://')) {
    const path = config.slice('file://'.length);
    return { text: readLayoutFile(path, 'DIB_BLOCK_DEVICE_CONFIG=file://PATH must name a readable YAML file'), source: path };
  }
  if (config.trim()) return { text: config, source: 'DIB_BLOCK_DEVICE_CONFIG' };
  const archFile = options.arch === 'ppc64el' ? 'block-device-ppc64el.yaml' : `block-device-${options.arch}.yaml`;
  const found: string[] = [];
  for (const e of options.elements) {
    for (const f of [archFile, 'block-device-default.yaml']) {
      const path = join(e.path, f);
      if (existsSync(path)) {
        found.push(path);
        break;
      }
    }
  }
  if (found.length > 1) {
    throw new UsageError('invalid-block-device', `several elements ship a block-device layout: ${found.join(', ')}`, {
      hint: 'use only one block-device-* element, or choose with DIB_BLOCK_DEVICE_CONFIG',
    });
  }
  if (found.length === 1)
    return { text: readLayoutFile(found[0], "an element's block-device YAML must be a small regular file"), source: found[0] };
  return { text: FALLBACK, source: '(default: one filesystem, no partition table)' };
}

/** Parse and validate a layout; every problem names its place in the document. */
export function parseLayout(text: string, source: string, params: LayoutParams): Layout {
  const problems: UsageError[] = [];
  const bad = (at: string, what: string, hint?: string) => problems.push(layoutError(source, at, what, { hint }));
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_LAYOUT_BYTES) {
    bad('', `the document is ${bytes} bytes; a layout is at most ${MAX_LAYOUT_BYTES}`);
    throwIfProblems(problems);
  }
  const deep = yamlNestingProblem(text);
  if (deep) {
    bad(deep.at, deep.message);
    throwIfProblems(problems);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, lineCounter });
  if (doc.errors.length) {
    const e = doc.errors[0];
    const pos = e.linePos?.[0];
    bad(pos ? `line ${pos.line} column ${pos.col}` : '', e.message.split('\n')[0]);
    throwIfProblems(problems);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (error) {
    // The yaml package throws ReferenceError for alias bombs and unresolved aliases, RangeError for runaway nesting.
    const message = (error as Error).message;
    let first: Alias | undefined;
    visitYaml(doc, {
      Alias: (_, node) => {
        first ??= node;
        return visitYaml.BREAK;
      },
    });
    const pos = first?.range ? lineCounter.linePos(first.range[0]) : undefined;
    bad(
      pos ? `line ${pos.line} column ${pos.col} (*${first!.source})` : '',
      /alias count/i.test(message)
        ? `the YAML expands aliases (*name) more than ${MAX_YAML_ALIASES} times; a layout never needs that (a "billion laughs" document?)`
        : `the YAML cannot be read: ${message.split('\n')[0]}`,
      'write the layout out without anchors and aliases',
    );
    throwIfProblems(problems);
  }
  const layout: Layout = { source, loops: [], partitionings: [], filesystems: [], mounts: [], fstabs: [] };
  if (!Array.isArray(data)) {
    bad('', 'the document must be a list of single-key mappings (local_loop, partitioning, mkfs, mount, fstab)');
    throwIfProblems(problems);
    return layout;
  }
  const names = new Map<string, string>();
  const claim = (name: string, at: string) => {
    if (names.has(name)) bad(at, `duplicate node name '${name}' (also at ${names.get(name)})`);
    else names.set(name, at);
  };
  const str = (v: unknown) => (v === undefined || v === null ? undefined : scalarText(v));

  const lvmNames = new Set<string>();
  const visit = (plugin: Plugin, body: Record<string, unknown>, at: string, parentName: string | undefined, depth: number) => {
    if (depth > MAX_DEPTH) {
      bad(at, `nodes are nested more than ${MAX_DEPTH} deep`);
      return;
    }
    for (const key of Object.keys(body))
      if (!KEYS[plugin].includes(key) && !(PLUGINS as readonly string[]).includes(key))
        bad(`${at}.${key}`, `unknown key for ${plugin} (known: ${KEYS[plugin].join(', ')})`);
    const base = str(body.base) ?? parentName;
    const name = str(body.name) ?? (plugin === 'local_loop' ? undefined : base !== undefined ? `${plugin}_${base}` : undefined);
    if (name === undefined) {
      bad(at, `${plugin} needs a name`);
      return;
    }
    if (plugin !== 'local_loop' && base === undefined) bad(at, `${plugin} '${name}' needs a base`);
    switch (plugin) {
      case 'local_loop': {
        claim(name, at);
        const size = body.size === undefined ? undefined : parseSize(body.size, false);
        if (size === null) bad(`${at}.size`, `'${scalarText(body.size)}' is not a size (e.g. 2GiB, 500MiB)`);
        if (body.block_size !== undefined && ![512, 4096].includes(Number(body.block_size))) bad(`${at}.block_size`, 'must be 512 or 4096');
        layout.loops.push({ name, size: size && 'bytes' in size ? size.bytes : undefined, directory: str(body.directory), at });
        break;
      }
      case 'partitioning': {
        const label = str(body.label);
        if (label !== 'mbr' && label !== 'gpt') bad(`${at}.label`, `must be mbr or gpt, got '${label ?? ''}'`);
        const align = body.align === undefined ? { bytes: 1024 * 1024 } : parseSize(body.align, false);
        if (align === null || !('bytes' in align) || align.bytes % 512 !== 0 || align.bytes === 0)
          bad(`${at}.align`, 'must be a size that is a multiple of 512 bytes');
        if (!Array.isArray(body.partitions) || body.partitions.length === 0) bad(`${at}.partitions`, 'must be a non-empty list');
        const node: PartitioningNode = {
          name,
          base: base!,
          label: label === 'gpt' ? 'gpt' : 'mbr',
          align: align && 'bytes' in align ? align.bytes : 1024 * 1024,
          partitions: [],
          at,
        };
        const partitions = Array.isArray(body.partitions) ? body.partitions : [];
        let seenLogical = false;
        partitions.forEach((p: unknown, i: number) => {
          const pat = `${at}.partitions[${i}]`;
          if (!p || typeof p !== 'object' || Array.isArray(p)) {
            bad(pat, 'must be a mapping');
            return;
          }
          const part = p as Record<string, unknown>;
          for (const key of Object.keys(part))
            if (!PARTITION_KEYS.includes(key) && !(PLUGINS as readonly string[]).includes(key))
              bad(`${pat}.${key}`, `unknown key for a partition (known: ${PARTITION_KEYS.join(', ')})`);
          const pname = str(part.name);
          if (!pname) {
            bad(`${pat}.name`, 'a partition needs a name');
            return;
          }
          claim(pname, pat);
          const size = parseSize(part.size);
          if (size === null) bad(`${pat}.size`, `'${scalarText(part.size)}' is not a size or percentage`);
          else if ('bytes' in size && size.bytes === 0) bad(`${pat}.size`, 'a partition cannot be empty');
          const flags = part.flags === undefined ? [] : Array.isArray(part.flags) ? part.flags.map(String) : [scalarText(part.flags)];
          for (const f of flags) {
            if (!['boot', 'primary'].includes(f)) bad(`${pat}.flags`, `unknown flag '${f}' (boot, primary)`);
            if (f === 'primary' && node.label === 'gpt') bad(`${pat}.flags`, "'primary' is an MBR flag; GPT has no logical partitions");
          }
          if (node.label === 'mbr') {
            const primary = flags.includes('primary');
            if (!primary) seenLogical = true;
            else if (seenLogical) bad(`${pat}.flags`, 'primary partitions must come before logical ones');
            if (part.type !== undefined && !/^(0x)?[0-9a-fA-F]{1,2}$/.test(scalarText(part.type)))
              bad(`${pat}.type`, `'${scalarText(part.type)}' is not an MBR type byte (e.g. 0x83)`);
          } else if (part.type !== undefined && !/^(0x)?[0-9a-fA-F]{4}$/.test(scalarText(part.type)))
            bad(`${pat}.type`, `'${scalarText(part.type)}' is not a GPT type code (e.g. 8300, EF02, EF00)`);
          node.partitions.push({ name: pname, base: name, index: i, size: size ?? { bytes: 0 }, type: str(part.type), flags, at: pat });
          for (const child of PLUGINS) if (part[child] !== undefined) visitChild(child, part[child], `${pat}.${child}`, pname, depth + 1);
        });
        layout.partitionings.push(node);
        break;
      }
      case 'lvm': {
        // Only the LV names are kept, so the mkfs nodes on them do not also fail as "not a partition".
        if (Array.isArray(body.lvs))
          for (const lv of body.lvs as unknown[]) if (lv && typeof lv === 'object' && 'name' in lv) lvmNames.add(scalarText(lv.name));
        const dm = (params.deviceMapperProblem ?? probeDeviceMapper)();
        bad(
          at,
          dm === undefined
            ? 'lvm nodes are not supported: dib-ts does not build LVM layouts'
            : `lvm nodes are not supported: dib-ts does not build LVM layouts, and this machine could not run them either (device-mapper: ${dm})`,
          'put the filesystems on partitions (see README "Block-device layouts")',
        );
        break;
      }
      case 'mkfs': {
        claim(name, at);
        const type = str(body.type) ?? (name === 'mkfs_root' ? params.fsType : undefined);
        if (!type) bad(`${at}.type`, 'mkfs needs a type (ext4, xfs, vfat, ...)');
        const labelFrom =
          str(body.label) !== undefined ? 'document' : name !== 'mkfs_root' ? 'name' : params.rootLabel ? 'root-label' : undefined;
        const label =
          str(body.label) ?? (name === 'mkfs_root' ? params.rootLabel || (type === 'xfs' ? 'img-rootfs' : 'cloudimg-rootfs') : name);
        const finalLabel = type === 'vfat' || type === 'fat' ? label.toUpperCase() : label;
        const opts = str(body.opts) ?? (name === 'mkfs_root' ? params.mkfsOptions : '');
        layout.filesystems.push({ name, base: base!, type: type ?? 'ext4', label: finalLabel, labelFrom, opts, uuid: str(body.uuid), at });
        break;
      }
      case 'mount': {
        claim(name, at);
        // Checked (absolute, no . or .., not twice) with the other layout checks in validate.ts.
        layout.mounts.push({ name, base: base!, mountPoint: normaliseMountPoint(str(body.mount_point) ?? ''), at });
        break;
      }
      case 'fstab': {
        claim(name, at);
        const passno = body['fsck-passno'] === undefined ? 2 : Number(body['fsck-passno']);
        const dump = body['dump-freq'] === undefined ? 0 : Number(body['dump-freq']);
        if (!Number.isInteger(passno) || passno < 0) bad(`${at}.fsck-passno`, 'must be a non-negative integer');
        if (!Number.isInteger(dump) || dump < 0) bad(`${at}.dump-freq`, 'must be a non-negative integer');
        layout.fstabs.push({ name, base: base!, options: str(body.options) ?? 'defaults', dumpFreq: dump, passno, at });
        break;
      }
    }
    if (plugin !== 'partitioning')
      for (const child of PLUGINS) if (body[child] !== undefined) visitChild(child, body[child], `${at}.${child}`, name, depth + 1);
  };
  const visitChild = (plugin: Plugin, body: unknown, at: string, parent: string | undefined, depth: number) => {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      bad(at, `${plugin} must be a mapping`);
      return;
    }
    visit(plugin, body as Record<string, unknown>, at, parent, depth);
  };

  data.forEach((item: unknown, i: number) => {
    const at = `[${i}]`;
    if (!item || typeof item !== 'object' || Array.isArray(item) || Object.keys(item).length !== 1) {
      bad(at, 'each entry must be a mapping with exactly one key, the node type');
      return;
    }
    const [plugin] = Object.keys(item);
    if (!(PLUGINS as readonly string[]).includes(plugin)) {
      bad(at, `'${plugin}' is not a node type (${PLUGINS.join(', ')})`);
      return;
    }
    visitChild(plugin as Plugin, (item as Record<string, unknown>)[plugin], `${at}.${plugin}`, undefined, 0);
  });

  // Edges must point at existing nodes of the right kind.
  const loopNames = new Set(layout.loops.map((l) => l.name));
  const partNames = new Set(layout.partitionings.flatMap((p) => p.partitions.map((x) => x.name)));
  const fsNames = new Set(layout.filesystems.map((f) => f.name));
  const mountNames = new Set(layout.mounts.map((m) => m.name));
  for (const p of layout.partitionings) if (!loopNames.has(p.base)) bad(`${p.at}.base`, `'${p.base}' is not a local_loop node`);
  for (const f of layout.filesystems)
    if (!loopNames.has(f.base) && !partNames.has(f.base) && !lvmNames.has(f.base))
      bad(`${f.at}.base`, `'${f.base}' is not a partition or local_loop node`);
  for (const m of layout.mounts) if (!fsNames.has(m.base)) bad(`${m.at}.base`, `'${m.base}' is not a mkfs node`);
  for (const f of layout.fstabs) if (!mountNames.has(f.base)) bad(`${f.at}.base`, `'${f.base}' is not a mount node`);
  if (problems.length === 0) {
    if (!layout.mounts.some((m) => m.mountPoint === '/')) bad('', 'no filesystem is mounted at /');
    if (!loopNames.has('image0')) bad('', "the image must be a local_loop named 'image0'");
    const used = new Set([...layout.partitionings.map((p) => p.base), ...layout.filesystems.map((f) => f.base)]);
    for (const l of layout.loops) if (!used.has(l.name)) bad(l.at, `local_loop '${l.name}' is not used by any partitioning or mkfs`);
    for (const p of layout.partitionings)
      if (layout.partitionings.filter((q) => q.base === p.base).length > 1) bad(p.at, `'${p.base}' is partitioned twice`);
  }
  problems.push(...layoutProblems(layout));
  throwIfProblems(problems);
  return layout;
}

/** Why /dev/mapper/control cannot be used, or undefined when it can (or only root may open it: the root check says so). */
export function probeDeviceMapper(path = '/dev/mapper/control'): string | undefined {
  try {
    if (!statSync(path).isCharacterDevice()) return `${path} is not a character device`;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${path} does not exist` : `${path}: ${code}`;
  }
  try {
    closeSync(openSync(path, constants.O_RDWR));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') return undefined;
    if (code === 'ENODEV' || code === 'ENXIO') return `${path} cannot be opened (${code}): the dm-mod kernel module is not loaded`;
    return `${path} cannot be opened (${code})`;
  }
  return undefined;
}

/**
 * The yaml package recurses per nesting level; thousands of `[` (a few KiB) overflow the stack, and V8 has
 * been seen to abort outright rather than throw. A lexical scan (quotes and comments skipped) finds such
 * nesting first: flow brackets, and compact block entries (`- - - x`) on one line.
 */
function yamlNestingProblem(text: string): { at: string; message: string } | undefined {
  let depth = 0;
  let quote = '';
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (i === lineStart && quote === '') {
      const compact = /^[ \t]*(?:[-?][ \t]+)+/.exec(text.slice(i, i + 4 * MAX_DEPTH + 8))?.[0] ?? '';
      if ((compact.match(/[-?]/g) ?? []).length > MAX_DEPTH)
        return { at: `line ${line}`, message: `block entries are nested more than ${MAX_DEPTH} deep` };
    }
    if (c === '\n') {
      line++;
      lineStart = i + 1;
      continue;
    }
    if (quote) {
      if (c === quote && !(quote === '"' && /(^|[^\\])(\\\\)*\\$/.test(text.slice(Math.max(0, i - 64), i)))) quote = '';
      continue;
    }
    if ((c === '"' || c === "'") && (i === lineStart || /[\s[{,:]/.test(text[i - 1]))) quote = c;
    else if (c === '#' && (i === lineStart || /\s/.test(text[i - 1]))) {
      const end = text.indexOf('\n', i);
      i = (end === -1 ? text.length : end) - 1;
    } else if (c === '[' || c === '{') {
      if (++depth > MAX_DEPTH)
        return {
          at: `line ${line} column ${i - lineStart + 1}`,
          message: `flow collections ([ ] or { }) are nested more than ${MAX_DEPTH} deep`,
        };
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return undefined;
}

/**
 * Read a layout file: a regular file no bigger than MAX_LAYOUT_BYTES. Opened non-blocking and checked on the
 * open descriptor, so a FIFO or /dev/zero (or a swap after a check) cannot hang or exhaust the reader.
 */
function readLayoutFile(path: string, hint: string): string {
  const fail = (why: string) => new UsageError('invalid-block-device', `cannot read block-device config ${path}: ${why}`, { hint });
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    throw fail(String((error as NodeJS.ErrnoException).code ?? error));
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw fail('not a regular file');
    if (st.size > MAX_LAYOUT_BYTES) throw fail(`${st.size} bytes; a layout is at most ${MAX_LAYOUT_BYTES}`);
    return readFileSync(fd, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw fail(String((error as NodeJS.ErrnoException).code ?? error));
  } finally {
    closeSync(fd);
  }
}

/** The filesystem mounted at `/`. */
export function rootFilesystem(layout: Layout): MkfsNode {
  const mount = layout.mounts.find((m) => m.mountPoint === '/')!;
  return layout.filesystems.find((f) => f.name === mount.base)!;
}

/** Mounts sorted so parents come before children (plain string sort, like DIB HEAD). */
export function sortedMounts(layout: Layout): MountNode[] {
  return [...layout.mounts].sort((a, b) => (a.mountPoint < b.mountPoint ? -1 : a.mountPoint > b.mountPoint ? 1 : 0));
}

/** fstab lines: LABEL=<label> <mp> <type> <options> <dump> <pass>, in mount order. */
export function renderFstab(layout: Layout): string {
  const lines: string[] = [];
  for (const m of sortedMounts(layout)) {
    const tab = layout.fstabs.find((f) => f.base === m.name);
    if (!tab) continue;
    const fs = layout.filesystems.find((f) => f.name === m.base)!;
    lines.push(`LABEL=${fs.label} ${m.mountPoint} ${fs.type} ${tab.options} ${tab.dumpFreq} ${tab.passno}`);
  }
  return lines.join('\n') + '\n';
}
