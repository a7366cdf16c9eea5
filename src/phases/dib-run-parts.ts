// DIB's `dib-run-parts`, our own small implementation, written into the hooks tree (so hooks find it
// at $TMP_HOOKS_PATH/dib-run-parts and, in the chroot, /tmp/in_target.d/dib-run-parts). Elements call it
// to run a directory of scripts the way the engine runs a phase.

export const DIB_RUN_PARTS = 'dib-run-parts';

/**
 * `dib-run-parts [--list] DIR`: the regular files directly in DIR (symlinks followed) that are
 * executable and whose names match RUN_PARTS_REGEX (default `^[0-9A-Za-z_-]+$`), in `LC_ALL=C sort -n`
 * order, run one after the other in a subshell that first sourced the environment files; the first
 * failure stops the run with its exit status. Environment files: when DIR's parent is a hooks tree
 * written by disk-image-create, the plan's list (as the engine's runner sources it); otherwise the
 * files of DIR/../environment.d named `[0-9A-Za-z_.-]+`, in byte order, like DIB's. `--list` prints
 * DIR/NAME per script in run order and runs nothing. No profiling table (DIB prints one).
 */
export const DIB_RUN_PARTS_SCRIPT = `#!/bin/bash
# dib-run-parts [--list] DIR: written by disk-image-create (see src/phases/dib-run-parts.ts).
set -eu
set -o pipefail
name=dib-run-parts
regex=\${RUN_PARTS_REGEX:-'^[0-9A-Za-z_-]+$'}
usage() {
    echo "usage: $name [--list] DIRECTORY" >&2
    exit 1
}
list=0
if [ "\${1:-}" = --list ]; then
    list=1
    shift
fi
[ $# -eq 1 ] || usage
dir=$1
if [ ! -d "$dir" ]; then
    echo "$name Scripts directory [$dir] must exist and be a directory" >&2
    usage
fi
mapfile -t targets < <(find "$dir/" -mindepth 1 -maxdepth 1 -xtype f -executable -printf '%f\\n' | { grep -E -- "$regex" || true; } | LC_ALL=C sort -n)
if [ "$list" = 1 ]; then
    for t in \${targets[@]+"\${targets[@]}"}; do
        echo "$dir/$t"
    done
    exit 0
fi
if [ "\${DIB_DEBUG_TRACE:-0}" -gt 0 ]; then
    skipped=$(find "$dir/" -mindepth 1 -maxdepth 1 -xtype f ! -executable -printf '%f ')
    [ -z "$skipped" ] || echo "$name Ignoring non-executable files: $skipped" >&2
    skipped=$(find "$dir/" -mindepth 1 -maxdepth 1 -xtype f -executable -printf '%f\\n' | { grep -v -E -- "$regex" || true; } | tr '\\n' ' ')
    [ -z "$skipped" ] || echo "$name Ignoring non-conforming filenames: $skipped" >&2
fi
envdir=$dir/../environment.d
if [ -f "$dir/../environment-files" ]; then
    mapfile -t envfiles < "$dir/../environment-files"
elif [ -d "$envdir" ]; then
    mapfile -t envfiles < <(find "$envdir/" -mindepth 1 -maxdepth 1 -xtype f -printf '%f\\n' | { grep -E '^[0-9A-Za-z_.-]+$' || true; } | LC_ALL=C sort)
else
    envfiles=()
fi
(
    for f in \${envfiles[@]+"\${envfiles[@]}"}; do
        echo "$name Sourcing environment file $envdir/$f" >&2
        if [ "\${DIB_DEBUG_TRACE:-0}" -gt 1 ]; then set -x; fi
        # shellcheck source=/dev/null
        source "$envdir/$f"
        { set +x; } 2>/dev/null
    done
    for t in \${targets[@]+"\${targets[@]}"}; do
        echo "$name Running $dir/$t" >&2
        "$dir/$t"
        echo "$name $t completed" >&2
    done
)
`;
