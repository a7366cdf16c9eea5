#!/bin/bash
# Side by side with upstream diskimage-builder 3.13 (Debian's python3-diskimage-builder), in one run,
# alternating, REPS repetitions of each scenario (default 3), reporting min and median wall time and the
# ratio to DIB's warm time:
#
#   sudo scripts/bench.sh [RESULTS_DIR]      (default: bench-results/; REPS=N to change the count)
#
# Image: `debian-minimal vm bench-app` (bookworm, qcow2), bench-app being a small element with an
# install.d and a finalise.d hook. Scenarios per repetition, in this order:
#   dib-cold      upstream, empty cache            ours-cold       ours, empty image cache
#   dib-warm      upstream, second run (its best)  ours-nochange   ours, same inputs again
#                                                  ours-install    bench-app's install.d hook edited
#                                                  ours-finalise   bench-app's finalise.d hook edited
# DIB has no step cache: its warm run is its time for any edit, so each of ours is compared with it.
# Upstream runs through scripts/upstream-dib.sh (its kpartx workaround here), with bookworm's security
# suite path and its best warm settings (DIB_DEBOOTSTRAP_CACHE=1, DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE=1;
# its apt cache is on by default). Also written: qcow2 sizes and the phase cache's disk use per step.
set -eu
set -o pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$repo/scripts/bench-lib.sh"
results=${1:-$repo/bench-results}
reps=${REPS:-3}
work=$(mktemp -d /var/tmp/dib-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$results" "$work/out" "$work/elements/bench-app/install.d" "$work/elements/bench-app/finalise.d"

mirror=$(node -e "import('$repo/dist/config/host-apt.js').then(m=>{const r=m.readHostMirrors();console.log(r.mirror+' '+r.securityMirror)})")
main_mirror=${mirror% *}
security_mirror=${mirror#* }

# bench-app: an install.d and a finalise.d hook whose content the edit scenarios change.
write_app() { # install-version finalise-version
    printf '#!/bin/bash\nset -eu\necho "bench-app install %s" > /etc/bench-app-install\n' "$1" > "$work/elements/bench-app/install.d/60-bench-app"
    printf '#!/bin/bash\nset -eu\necho "bench-app finalise %s" > /etc/bench-app-finalise\n' "$2" > "$work/elements/bench-app/finalise.d/60-bench-app"
    chmod +x "$work/elements/bench-app/install.d/60-bench-app" "$work/elements/bench-app/finalise.d/60-bench-app"
}

run() { # scenario rep -> prints seconds
    local scenario=$1 rep=$2 start end status=0 log="$work/$1-$2.log"
    start=$(date +%s.%N)
    case $scenario in
        dib-*)
            env ELEMENTS_PATH="$work/elements" DIB_IMAGE_CACHE="$work/cache-dib-$rep" DIB_RELEASE=bookworm \
                DIB_DISTRIBUTION_MIRROR="$main_mirror" DIB_DEBIAN_SECURITY_MIRROR="$security_mirror" \
                DIB_DEBIAN_SECURITY_SUBPATH=-security DIB_DEBOOTSTRAP_CACHE=1 DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE=1 \
                "$repo/scripts/upstream-dib.sh" -o "$work/out/dib-$rep" debian-minimal vm bench-app > "$log" 2>&1 || status=$?
            ;;
        *)
            env ELEMENTS_PATH="$work/elements" "$repo/bin/disk-image-create" --image-cache "$work/cache-ours-$rep" \
                -o "$work/out/ours-$rep" debian-minimal vm bench-app > "$log" 2>&1 || status=$?
            ;;
    esac
    end=$(date +%s.%N)
    finish_run "$scenario" "$rep" "$log" "$status" "$start" "$end" "$results"
}

# SCENARIOS="dib-cold ours-cold" runs only those (e.g. the cold pair alone); the default is all six.
scenarios=${SCENARIOS:-dib-cold ours-cold dib-warm ours-nochange ours-install ours-finalise}
declare -A times
ours_size=0
dib_size=0
for rep in $(seq 1 "$reps"); do
    write_app "r$rep-a" "r$rep-a"
    for scenario in $scenarios; do
        case $scenario in
            ours-install) write_app "r$rep-b" "r$rep-a" ;;
            ours-finalise) write_app "r$rep-b" "r$rep-b" ;;
            dib-cold) write_app "r$rep-a" "r$rep-a" ;;
        esac
        echo "repetition $rep: $scenario" >&2
        t=$(run "$scenario" "$rep")
        times[$scenario]="${times[$scenario]:-} $t"
        case $scenario in
            dib-warm | dib-cold) dib_size=$(stat -c %s "$work/out/dib-$rep.qcow2") ;;
            ours-cold) ours_size=$(stat -c %s "$work/out/ours-$rep.qcow2") ;;
        esac
    done
done

dib_warm_median=$([ -n "${times[dib-warm]:-}" ] && stat_of "${times[dib-warm]}" median || echo 0)
dib_cold_median=$([ -n "${times[dib-cold]:-}" ] && stat_of "${times[dib-cold]}" median || echo 0)
# The phase cache of the last repetition: disk use per stored step.
steps_table=$(for d in "$work/cache-ours-$reps"/steps/*/; do
    [ -f "$d/meta.json" ] || continue
    printf '%s (%s)\t%s\n' "$(node -e "console.log(JSON.parse(require('fs').readFileSync('$d/meta.json','utf8')).step)")" "$(basename "$d")" "$(du -sb "$d" | cut -f1)"
done | sort)

{
    printf '{\n  "date": "%s",\n  "command": "sudo scripts/bench.sh  (REPS=%s SCENARIOS=%s)",\n' "$(date -u +%FT%TZ)" "$reps" "$scenarios"
    printf '  "image": "debian-minimal vm bench-app (bookworm, qcow2)",\n'
    for s in $scenarios; do
        base=$dib_warm_median
        case $s in ours-cold | dib-cold) base=$dib_cold_median ;; esac
        printf '  "%s": {"runs": [%s], "min": %s, "median": %s, "median_ratio_to_dib": %.3f},\n' "$s" \
            "$(sed 's/^ //; s/ /, /g' <<< "${times[$s]}")" "$(stat_of "${times[$s]}" min)" "$(stat_of "${times[$s]}" median)" \
            "$(echo "$(stat_of "${times[$s]}" median) / $base" | bc -l)"
    done
    printf '  "qcow2_bytes": {"ours": %s, "dib": %s},\n' "$ours_size" "$dib_size"
    printf '  "cache_bytes_per_step": {%s}\n}\n' "$(awk -F'\t' '{printf "%s\"%s\": %s", (NR>1?", ":""), $1, $2}' <<< "$steps_table")"
} > "$results/bench.json"
cat "$results/bench.json"
