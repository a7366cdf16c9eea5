#!/bin/bash
# Build the same image (`debian-minimal vm`, bookworm, qcow2) with this tool and with upstream
# diskimage-builder 3.13 (Debian's python3-diskimage-builder), cold (empty caches) and warm (second
# run on the same caches), and report wall time and qcow2 size for each, with ratios.
#
#   sudo scripts/bench.sh [RESULTS_DIR]      (default: bench-results/)
#
# Upstream DIB runs through scripts/upstream-dib.sh (its kpartx workaround on these machines), with
# bookworm's security suite path (see ../shared/ENVIRONMENT.md). DIB gets its best warm configuration
# (DIB_DEBOOTSTRAP_CACHE=1, DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE=1; its apt cache is on by default).
set -eu
set -o pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
results=${1:-$repo/bench-results}
work=$(mktemp -d /var/tmp/dib-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$results" "$work/out"

mirror=$(node -e "import('$repo/dist/config/host-apt.js').then(m=>{const r=m.readHostMirrors();console.log(r.mirror+' '+r.securityMirror)})")
main_mirror=${mirror% *}
security_mirror=${mirror#* }

run() { # name tool phase -> prints seconds
    local tool=$1 phase=$2 out="$work/out/$1-$2" start end status=0
    start=$(date +%s.%N)
    if [ "$tool" = ours ]; then
        "$repo/bin/disk-image-create" --image-cache "$work/cache-ours" -o "$out" debian-minimal vm > "$work/$tool-$phase.log" 2>&1 || status=$?
    else
        env DIB_IMAGE_CACHE="$work/cache-dib" DIB_RELEASE=bookworm \
            DIB_DISTRIBUTION_MIRROR="$main_mirror" DIB_DEBIAN_SECURITY_MIRROR="$security_mirror" \
            DIB_DEBIAN_SECURITY_SUBPATH=-security DIB_DEBOOTSTRAP_CACHE=1 DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE=1 \
            "$repo/scripts/upstream-dib.sh" -o "$out" debian-minimal vm > "$work/$tool-$phase.log" 2>&1 || status=$?
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
