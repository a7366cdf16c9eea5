// Fake losetup, partx, mount and umount that change the fake kernel tree (test/helpers/fake-bin.ts) the way
// the real ones change the kernel, so the code's own checks (backing files, partition nodes, mountinfo) see them.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FakeBin, FakeTool } from './fake-bin.js';

export interface FakeKernelOptions {
  /** Loop devices `losetup --find` hands out, first free first (default /dev/loop7). */
  loops?: string[];
  /** Partition numbers `partx -a` makes appear (default [1]). */
  partitions?: number[];
  /** Printed by `losetup --find --show` instead of the device it attached (a losetup answering garbage). */
  findPrints?: string;
}

export function fakeKernelTools(options: FakeKernelOptions = {}): Record<'losetup' | 'partx' | 'mount' | 'umount', FakeTool> {
  const loops = (options.loops ?? ['/dev/loop7']).join(' ');
  const parts = (options.partitions ?? [1]).join(' ');
  const losetup = `
sys="$FAKE_ROOT/sys/block"
case "$1" in
  --find)
    file="\${@: -1}"
    for dev in ${loops}; do
      n=\${dev#/dev/}
      [ -e "$sys/$n/loop/backing_file" ] && continue
      mkdir -p "$sys/$n/loop"; printf '%s\\n' "$file" > "$sys/$n/loop/backing_file"; : > "$FAKE_ROOT$dev"
      ${options.findPrints === undefined ? 'echo "$dev"' : `printf '%s\\n' '${options.findPrints.replace(/'/g, `'\\''`)}'`}
      exit 0
    done
    echo "losetup: cannot find an unused loop device" >&2; exit 1 ;;
  -d)
    n=\${2#/dev/}
    if [ ! -e "$sys/$n/loop/backing_file" ]; then echo "losetup: $2: detach failed: No such device or address" >&2; exit 1; fi
    rm -f "$sys/$n/loop/backing_file" ;;
  -j)
    for b in "$sys"/*/loop/backing_file; do
      [ -e "$b" ] || continue
      if [ "$(cat "$b")" = "$2" ]; then n=\${b#"$sys"/}; echo "/dev/\${n%%/*}"; fi
    done ;;
esac`;
  const partx = `
dev="\${@: -1}"; n=\${dev#/dev/}
case "$1" in
  -a) for k in ${parts}; do : > "$FAKE_ROOT\${dev}p$k"; echo " 259 $k 1024 \${n}p$k" >> "$FAKE_ROOT/proc/partitions"; done ;;
  -d) rm -f "$FAKE_ROOT\${dev}"p*; grep -v " \${n}p[0-9]*$" "$FAKE_ROOT/proc/partitions" > "$FAKE_DIR/partitions.new"; mv "$FAKE_DIR/partitions.new" "$FAKE_ROOT/proc/partitions" ;;
esac`;
  // The kernel shows a mount point normalised (no trailing slash); a remount adds no entry.
  const mount = `
target=$(realpath -m "\${@: -1}")
case " $* " in *remount*) exit 0 ;; esac
type=none; src=none; args=("$@")
for ((i = 0; i < \${#args[@]} - 1; i++)); do
  case "\${args[i]}" in -t) type=\${args[i+1]}; i=$((i + 1)) ;; -o) i=$((i + 1)) ;; --bind) type=bind ;; -*) ;; *) src=\${args[i]} ;; esac
done
echo "$FAKE_CALL 1 0:0 / $target rw - $type $src rw" >> "$FAKE_ROOT/proc/self/mountinfo"`;
  // Unmounts the last mount at that point (stacked mounts come off one at a time); 32 when none, like umount.
  const umount = `
target=$(realpath -m "\${@: -1}"); mi="$FAKE_ROOT/proc/self/mountinfo"
if ! awk -v t="$target" '$5 == t { f = 1 } END { exit !f }' "$mi"; then echo "umount: $target: not mounted." >&2; exit 32; fi
awk -v t="$target" '{ l[NR] = $0; if ($5 == t) last = NR } END { for (i = 1; i <= NR; i++) if (i != last) print l[i] }' "$mi" > "$FAKE_DIR/mountinfo.new"
mv "$FAKE_DIR/mountinfo.new" "$mi"`;
  return { losetup: { script: losetup }, partx: { script: partx }, mount: { script: mount }, umount: { script: umount } };
}

/** Make `device` look attached to `file` in the fake kernel (as if an earlier losetup had run). */
export function attachInKernel(fake: FakeBin, device: string, file: string): void {
  const dir = join(fake.root, 'sys', 'block', device.replace('/dev/', ''), 'loop');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'backing_file'), `${file}\n`);
  writeFileSync(join(fake.root, device), '');
}

/** What the fake kernel holds now: attached loops (device → file), partition nodes, mount points in mount order. */
export function kernelState(fake: FakeBin): { loops: Record<string, string>; partitions: string[]; mounts: string[] } {
  const loops: Record<string, string> = {};
  for (const name of readdirSync(join(fake.root, 'sys', 'block'))) {
    const b = join(fake.root, 'sys', 'block', name, 'loop', 'backing_file');
    if (existsSync(b)) loops[`/dev/${name}`] = readFileSync(b, 'utf8').trim();
  }
  const partitions = readdirSync(join(fake.root, 'dev'))
    .filter((n) => /^loop\d+p\d+$/.test(n))
    .map((n) => `/dev/${n}`)
    .sort();
  const mounts = readFileSync(join(fake.root, 'proc', 'self', 'mountinfo'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4]);
  return { loops, partitions, mounts };
}
