// Fake host tools for unit tests: bash stand-ins first on PATH that record every call (argv, stdin) and
// behave per a small spec, plus a fake kernel tree (dev, sys/block, proc) that the Runner's HostView reads.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runner, baseEnvironment } from '../../src/core/exec.js';
import { HostView } from '../../src/core/host-view.js';
import { Logger, type LogEvent } from '../../src/core/log.js';
import { whichTool } from '../../src/core/tools.js';

export interface FakeTool {
  /** Printed on stdout by a successful call. */
  stdout?: string;
  stderr?: string;
  /** Exit status of a call that is not one of the `failFirst` (default 0). */
  status?: number;
  /** The first N calls fail: they print `failStderr` and exit with `failStatus` (default 1), doing nothing else. */
  failFirst?: number;
  failStatus?: number;
  failStderr?: string;
  /** Create (empty) the file named by this argument; negative counts from the end (-1: the last). */
  touchArg?: number;
  /**
   * Bash run by a call that does not fail, after `touchArg` and before `stdout`: "$@" are the arguments,
   * $FAKE_DIR the harness directory, $FAKE_ROOT the fake kernel tree, $FAKE_CALL this tool's call number (1-based).
   */
  script?: string;
  /** After recording (and `script`), run the real tool with the same arguments and stdin. */
  passthrough?: boolean;
}

export interface FakeCall {
  tool: string;
  args: string[];
  /** What the caller fed on stdin, when it fed anything. */
  stdin?: string;
}

export interface FakeBin {
  /** Harness directory: bin/, root/, calls.jsonl. */
  dir: string;
  bin: string;
  /** The fake kernel tree: dev/, sys/block/, proc/partitions, proc/self/mountinfo. */
  root: string;
  host: HostView;
  /** Recorded calls in order, of every tool or of one. */
  calls(tool?: string): FakeCall[];
  /** The calls as argv arrays: [tool, ...args]. */
  argvs(tool?: string): string[][];
  /** Forget the calls recorded so far (call counters for `failFirst` keep counting). */
  clear(): void;
  /** A Runner on the fake PATH reading the fake kernel tree; `events` collects what it logged. */
  runner(): { runner: Runner; events: LogEvent[] };
  /** PATH back as it was, the directory removed. */
  restore(): void;
}

/**
 * Host tools that change devices, mounts or disk contents. Unless a test fakes them, `installFakeBin`
 * puts a stub in their place that records the call and fails (127), so a test never reaches the real one.
 */
export const GUARDED_TOOLS = (
  'losetup partx kpartx sfdisk sgdisk parted wipefs blkid mount umount fstrim sync mkfs.ext2 mkfs.ext3 mkfs.ext4 mkfs.xfs mkfs.vfat mkfs.fat ' +
  'mkfs.btrfs mkswap e2fsck resize2fs dmsetup qemu-img qemu-nbd mksquashfs tar cp chroot debootstrap grub-install zerofree'
).split(' ');

export function installFakeBin(tools: Record<string, FakeTool>, options: { strict?: boolean } = {}): FakeBin {
  const dir = mkdtempSync(join(tmpdir(), 'dib-ts-fakebin-'));
  const bin = join(dir, 'bin');
  const root = join(dir, 'root');
  for (const d of [bin, join(root, 'dev'), join(root, 'sys', 'block'), join(root, 'proc', 'self')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(root, 'proc', 'partitions'), 'major minor  #blocks  name\n\n');
  writeFileSync(join(root, 'proc', 'self', 'mountinfo'), '');
  const log = join(dir, 'calls.jsonl');
  writeFileSync(log, '');
  const oldPath = process.env.PATH;
  const all: Record<string, FakeTool | 'guard'> = {};
  if (options.strict !== false) for (const t of GUARDED_TOOLS) all[t] = 'guard';
  Object.assign(all, tools);
  for (const [tool, spec] of Object.entries(all)) {
    const real = spec !== 'guard' && spec.passthrough ? whichTool(tool, oldPath) : undefined;
    if (spec !== 'guard' && spec.passthrough && !real) throw new Error(`fake-bin: no real ${tool} on PATH to pass through to`);
    const path = join(bin, tool);
    writeFileSync(path, fakeScript(tool, spec, { dir, root, log, real, path: oldPath ?? '/usr/bin:/bin' }));
    chmodSync(path, 0o755);
  }
  process.env.PATH = `${bin}:${oldPath ?? '/usr/bin:/bin'}`;
  const host = new HostView(root);
  const calls = (tool?: string) =>
    readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as FakeCall)
      .filter((c) => tool === undefined || c.tool === tool);
  return {
    dir,
    bin,
    root,
    host,
    calls,
    argvs: (tool) => calls(tool).map((c) => [c.tool, ...c.args]),
    clear: () => writeFileSync(log, ''),
    runner: () => {
      const logger = new Logger();
      const events: LogEvent[] = [];
      logger.addSink({ write: (e) => void events.push(e) });
      return { runner: new Runner(logger, undefined, baseEnvironment(), host), events };
    },
    restore: () => {
      if (oldPath === undefined) delete process.env.PATH;
      else process.env.PATH = oldPath;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function fakeScript(
  tool: string,
  spec: FakeTool | 'guard',
  paths: { dir: string; root: string; log: string; real?: string; path: string },
): string {
  const lines = [
    '#!/bin/bash',
    `# fake ${tool} (test/helpers/fake-bin.ts)`,
    `FAKE_DIR=${q(paths.dir)}; FAKE_ROOT=${q(paths.root)}; FAKE_TOOL=${q(tool)}`,
    // A `script` runs the real tools (cp, mount, ...), never the fakes.
    `export PATH=${q(paths.path)}`,
    // JSON string escaping in bash: backslash, quote, the common control characters, then any other one.
    `__json() { local s=$1 i c; s=\${s//\\\\/\\\\\\\\}; s=\${s//\\"/\\\\\\"}; s=\${s//$'\\n'/\\\\n}; s=\${s//$'\\t'/\\\\t}; s=\${s//$'\\r'/\\\\r}`,
    `  if [[ $s == *[$'\\001'-$'\\037']* ]]; then for i in {1..31}; do printf -v c "\\\\$(printf %03o "$i")"; s=\${s//"$c"/$(printf '\\\\u%04x' "$i")}; done; fi`,
    `  printf '"%s"' "$s"; }`,
    // Read stdin only when the caller fed it (a pipe, socket or file); the Runner gives /dev/null otherwise.
    `__stdin=; __has_stdin=0; if [ -p /dev/stdin ] || [ -S /dev/stdin ] || [ -f /dev/stdin ]; then __stdin=$(cat; printf x); __stdin=\${__stdin%x}; __has_stdin=1; fi`,
    `__line="{\\"tool\\":$(__json "$FAKE_TOOL"),\\"args\\":["; __sep=`,
    `for __a in "$@"; do __line+="$__sep$(__json "$__a")"; __sep=,; done`,
    `__line+="]"; if [ -n "$__stdin" ]; then __line+=",\\"stdin\\":$(__json "$__stdin")"; fi`,
    `printf '%s}\\n' "$__line" >> ${q(paths.log)}`,
    `FAKE_CALL=0; [ -f "$FAKE_DIR/count.$FAKE_TOOL" ] && read -r FAKE_CALL < "$FAKE_DIR/count.$FAKE_TOOL"; FAKE_CALL=$((FAKE_CALL + 1))`,
    `echo "$FAKE_CALL" > "$FAKE_DIR/count.$FAKE_TOOL"`,
  ];
  if (spec === 'guard') {
    lines.push(`echo "fake-bin: $FAKE_TOOL is not faked in this test (the real one is never run)" >&2`, 'exit 127');
    return lines.join('\n') + '\n';
  }
  if (spec.failFirst) {
    lines.push(
      `if [ "$FAKE_CALL" -le ${spec.failFirst} ]; then printf '%s\\n' ${q(spec.failStderr ?? `${tool}: fake failure`)} >&2; exit ${spec.failStatus ?? 1}; fi`,
    );
  }
  if (spec.touchArg !== undefined) {
    const index = spec.touchArg < 0 ? `$(($# + 1 + (${spec.touchArg})))` : String(spec.touchArg + 1);
    lines.push(`__touch=${index}; : > "\${!__touch}" || exit 1`);
  }
  if (spec.script) lines.push(spec.script);
  if (spec.stdout !== undefined) lines.push(`printf '%s' ${q(spec.stdout)}`);
  if (spec.stderr !== undefined) lines.push(`printf '%s' ${q(spec.stderr)} >&2`);
  if (paths.real)
    lines.push(`if [ "$__has_stdin" = 1 ]; then exec ${q(paths.real)} "$@" < <(printf '%s' "$__stdin"); fi`, `exec ${q(paths.real)} "$@"`);
  lines.push(`exit ${spec.status ?? 0}`);
  return lines.join('\n') + '\n';
}
