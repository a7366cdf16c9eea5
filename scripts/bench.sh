#!/bin/bash
# Build the same image (`debian-minimal vm`, bookworm, qcow2) with this tool and with upstream
# diskimage-builder 3.13 (Debian's python3-diskimage-builder), cold (empty caches) and warm (second
# run on the same caches), and report wall time and qcow2 size for each, with ratios.
#
#   sudo scripts/bench.sh [RESULTS_DIR]      (default: bench-results/)
#
# Upstream DIB needs two local workarounds on these machines (see ../shared/ENVIRONMENT.md):
# bookworm's security suite path, and kpartx, which needs device-mapper: a wrapper maps partitions
# with partx and symlinks them under /dev/mapper. DIB gets its best warm configuration
# (DIB_DEBOOTSTRAP_CACHE=1, DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE=1; its apt cache is on by default).
set -eu
set -o pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
results=${1:-$repo/bench-results}
work=$(mktemp -d /var/tmp/dib-bench.XXXXXX)
cleanup() {
    rm -f /dev/mapper/loop*p* 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$results" "$work/bin" "$work/out"

# --- kpartx/dmsetup stand-ins for upstream DIB (partx + /dev/mapper symlinks) ---
cat > "$work/bin/kpartx" <<'KPARTX'
#!/bin/bash
# kpartx stand-in: -a/-u map partitions with partx and link them as /dev/mapper/loopNpK; -d removes.
mode=""; dev=""
for a in "$@"; do case "$a" in -*a*|-*u*) mode=add ;; -*d*) mode=del ;; /dev/*) dev=$a ;; esac; done
base=$(basename "$dev")
mkdir -p /dev/mapper
if [ "$mode" = add ]; then
    partx -a "$dev" 2>/dev/null || partx -u "$dev"
    for i in $(seq 1 50); do ls "$dev"p* >/dev/null 2>&1 && break; sleep 0.1; done
    for p in "$dev"p*; do ln -sf "$p" "/dev/mapper/$(basename "$p")"; echo "add map $(basename "$p")"; done
elif [ "$mode" = del ]; then
    rm -f /dev/mapper/"$base"p*
    partx -d "$dev" || true
fi
KPARTX
cat > "$work/bin/dmsetup" <<'DMSETUP'
#!/bin/bash
# dmsetup stand-in: mknodes is a no-op; remove NAME drops the /dev/mapper link.
case "$*" in *remove*) rm -f "/dev/mapper/${*: -1}" ;; esac
exit 0
DMSETUP
# The benchmark runs as root; DIB calls sudo, which would reset PATH and miss the stand-ins above.
cat > "$work/bin/sudo" <<'SUDO'
#!/bin/bash
# sudo stand-in for a root benchmark run: drop sudo's options and run the command with this PATH.
while [ $# -gt 0 ]; do
    case "$1" in
        -u|-g|-C|-D|-h|-p|-r|-t|-U) shift 2 ;;
        --) shift; break ;;
        -*) shift ;;
        *) break ;;
    esac
done
exec "$@"
SUDO
chmod +x "$work/bin/kpartx" "$work/bin/dmsetup" "$work/bin/sudo"

mirror=$(node -e "import('$repo/dist/config/host-apt.js').then(m=>{const r=m.readHostMirrors();console.log(r.mirror+' '+r.securityMirror)})")
main_mirror=${mirror% *}
security_mirror=${mirror#* }

run() { # name tool phase -> prints seconds
    local tool=$1 phase=$2 out="$work/out/$1-$2" start end status=0
    start=$(date +%s.%N)
    if [ "$tool" = ours ]; then
        "$repo/bin/disk-image-create" --image-cache "$work/cache-ours" -o "$out" debian-minimal vm > "$work/$tool-$phase.log" 2>&1 || status=$?
    else
        env PATH="$work/bin:$PATH" DIB_IMAGE_CACHE="$work/cache-dib" DIB_RELEASE=bookworm \
            DIB_DISTRIBUTION_MIRROR="$main_mirror" DIB_DEBIAN_SECURITY_MIRROR="$security_mirror" \
            DIB_DEBIAN_SECURITY_SUBPATH=-security DIB_DEBOOTSTRAP_CACHE=1 DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE=1 \
            disk-image-create -o "$out" debian-minimal vm > "$work/$tool-$phase.log" 2>&1 || status=$?
    fi
    [ "$status" = 0 ] || return "$status"
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

declare -A secs size
for tool in ours dib; do
    for phase in cold warm; do
        echo "building: $tool $phase" >&2
        if ! secs[$tool-$phase]=$(run $tool $phase); then
            echo "$tool $phase build failed; log:" >&2
            tail -30 "$work/$tool-$phase.log" >&2
            cp "$work/$tool-$phase.log" "$results/"
            exit 1
        fi
        size[$tool-$phase]=$(stat -c %s "$work/out/$tool-$phase.qcow2")
        cp "$work/$tool-$phase.log" "$results/"
    done
done

{
    printf '{\n  "date": "%s",\n  "command": "sudo scripts/bench.sh",\n  "image": "debian-minimal vm (bookworm, qcow2)",\n' "$(date -u +%FT%TZ)"
    for k in ours-cold ours-warm dib-cold dib-warm; do
        printf '  "%s": {"seconds": %.1f, "qcow2_bytes": %s},\n' "$k" "${secs[$k]}" "${size[$k]}"
    done
    printf '  "warm_time_ratio_ours_to_dib": %.3f,\n' "$(echo "${secs[ours-warm]} / ${secs[dib-warm]}" | bc -l)"
    printf '  "cold_time_ratio_ours_to_dib": %.3f,\n' "$(echo "${secs[ours-cold]} / ${secs[dib-cold]}" | bc -l)"
    printf '  "size_ratio_ours_to_dib": %.3f\n}\n' "$(echo "${size[ours-warm]} / ${size[dib-warm]}" | bc -l)"
} > "$results/bench.json"
cat "$results/bench.json"
