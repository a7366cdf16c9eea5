#!/bin/bash
# A family of three images, ours (`diskimage-builder`, parallel, shared phase cache) against upstream
# diskimage-builder 3.13 (Debian's python3-diskimage-builder) building the same three images one after
# another, in one run, alternating, REPS repetitions (default 2), reporting min and median wall time,
# ratios to DIB's median, the default -j chosen here and the peak memory of our parallel run:
#
#   sudo scripts/bench-family.sh [RESULTS_DIR]      (default: bench-results/family; REPS=N)
#
# The family (bookworm, qcow2 unless said):
#   fam-minimal   debian-minimal vm
#   fam-app       debian-minimal vm bench-fam, with BENCH_FAM_VALUE in its environment, -t qcow2,tar
#   fam-cloud     debian-minimal vm growroot cloud-init-datasources (datasources ConfigDrive, OpenStack)
# Both tools first build the family once (warm-up, not timed): DIB's debootstrap tarball and apt caches,
# our download caches and phase cache are then warm. Scenarios per repetition:
#   dib-family        upstream, the three images one after another (its best warm settings)
#   ours-fresh        ours, the phase cache's steps emptied (download caches warm): the family's own
#                     parallelism and its shared root.d, nothing reused from earlier builds
#   ours-edit         ours, bench-fam's install.d hook edited (one image rebuilds from that step; the
#                     other two are reused whole)
#   ours-nochange     ours, nothing changed, --no-skip (every image reused whole)
# Peak memory: the largest rise, sampled every 0.5 s during ours-fresh, of the memory processes and tmpfs
# hold (MemTotal - MemFree - Buffers - Cached - SReclaimable + Shmem) over its value at the start.
set -eu
set -o pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$repo/scripts/bench-lib.sh"
results=${1:-$repo/bench-results/family}
reps=${REPS:-2}
work=$(mktemp -d /var/tmp/dib-bench-family.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$results" "$work/out-dib" "$work/out-ours" "$work/elements/bench-fam/install.d" "$work/cache-ours" "$work/cache-dib"

mirror=$(node -e "import('$repo/dist/config/host-apt.js').then(m=>{const r=m.readHostMirrors();console.log(r.mirror+' '+r.securityMirror)})")
main_mirror=${mirror% *}
security_mirror=${mirror#* }

write_app() { # version  (the hook expands BENCH_FAM_VALUE, not this script)
    # shellcheck disable=SC2016
    printf '#!/bin/bash\nset -eu\necho "bench-fam %s ${BENCH_FAM_VALUE:-unset}" > /etc/bench-fam\n' "$1" > "$work/elements/bench-fam/install.d/60-bench-fam"
    chmod +x "$work/elements/bench-fam/install.d/60-bench-fam"
}

cat > "$work/family.yaml" <<EOF
- imagename: fam-minimal
  image-cache: $work/cache-ours
  elements: [debian-minimal, vm]
- imagename: fam-app
  image-cache: $work/cache-ours
  types: [qcow2, tar]
  environment: {BENCH_FAM_VALUE: family}
  elements: [debian-minimal, vm, bench-fam]
- imagename: fam-cloud
  image-cache: $work/cache-ours
  environment: {DIB_CLOUD_INIT_DATASOURCES: "ConfigDrive, OpenStack"}
  elements: [debian-minimal, vm, growroot, cloud-init-datasources]
EOF

dib_one() { # name types elements... (DIB 3.13 has no diskimage-builder command: one disk-image-create each)
    local name=$1 types=$2
    shift 2
    env ELEMENTS_PATH="$work/elements" DIB_IMAGE_CACHE="$work/cache-dib" DIB_RELEASE=bookworm \
        DIB_DISTRIBUTION_MIRROR="$main_mirror" DIB_DEBIAN_SECURITY_MIRROR="$security_mirror" \
        DIB_DEBIAN_SECURITY_SUBPATH=-security DIB_DEBOOTSTRAP_CACHE=1 DIB_DEBIAN_USE_DEBOOTSTRAP_CACHE=1 \
        BENCH_FAM_VALUE="${BENCH_FAM_VALUE:-}" DIB_CLOUD_INIT_DATASOURCES="${DIB_CLOUD_INIT_DATASOURCES:-}" \
        "$repo/scripts/upstream-dib.sh" -t "$types" -o "$work/out-dib/$name" "$@"
}

dib_family() {
    dib_one fam-minimal qcow2 debian-minimal vm
    BENCH_FAM_VALUE=family dib_one fam-app qcow2,tar debian-minimal vm bench-fam
    DIB_CLOUD_INIT_DATASOURCES="ConfigDrive, OpenStack" dib_one fam-cloud qcow2 debian-minimal vm growroot cloud-init-datasources
}

ours_family() { # extra diskimage-builder options
    env ELEMENTS_PATH="$work/elements" OVERWRITE_OLD_IMAGE=1 "$repo/bin/diskimage-builder" --output-directory "$work/out-ours" "$@" "$work/family.yaml"
}

peak_file="$work/peak"
used_memory() { # bytes held by processes and tmpfs
    awk '/^MemTotal:/ {t=$2} /^MemFree:/ {f=$2} /^Buffers:/ {b=$2} /^Cached:/ {c=$2} /^SReclaimable:/ {r=$2} /^Shmem:/ {s=$2}
         END {printf "%d\n", (t - f - b - c - r + s) * 1024}' /proc/meminfo
}
sample_memory() { # until killed: the largest rise of used_memory over the start, in bytes
    local start rise peak=0
    start=$(used_memory)
    while true; do
        rise=$(($(used_memory) - start))
        if [ "$rise" -gt "$peak" ]; then peak=$rise; echo "$peak" > "$peak_file"; fi
        sleep 0.5
    done
}

run() { # scenario rep -> prints seconds
    local scenario=$1 rep=$2 start end status=0 log="$work/$1-$2.log" sampler=
    case $scenario in
        ours-fresh) rm -rf "$work/cache-ours/steps" ;;
        ours-edit) write_app "r$rep-edit" ;;
    esac
    if [ "$scenario" = ours-fresh ]; then
        echo 0 > "$peak_file"
        sample_memory &
        sampler=$!
    fi
    start=$(date +%s.%N)
    case $scenario in
        dib-family) dib_family > "$log" 2>&1 || status=$? ;;
        ours-fresh) ours_family --no-skip > "$log" 2>&1 || status=$? ;;
        ours-edit | ours-nochange) ours_family --no-skip > "$log" 2>&1 || status=$? ;;
    esac
    end=$(date +%s.%N)
    if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
    finish_run "$scenario" "$rep" "$log" "$status" "$start" "$end" "$results"
}

echo "warm-up: both tools build the family once" >&2
write_app warmup
dib_family > "$work/warmup-dib.log" 2>&1 || { tail -30 "$work/warmup-dib.log" >&2; exit 1; }
ours_family > "$work/warmup-ours.log" 2>&1 || { tail -30 "$work/warmup-ours.log" >&2; exit 1; }
jobs_line=$(grep -m1 '^jobs: ' "$work/warmup-ours.log" || true)

scenarios="dib-family ours-fresh ours-edit ours-nochange"
declare -A times
peaks=""
for rep in $(seq 1 "$reps"); do
    write_app "r$rep"
    for scenario in $scenarios; do
        echo "repetition $rep: $scenario" >&2
        t=$(run "$scenario" "$rep")
        times[$scenario]="${times[$scenario]:-} $t"
        if [ "$scenario" = ours-fresh ]; then peaks="$peaks $(cat "$peak_file")"; fi
    done
done

dib_median=$(stat_of "${times[dib-family]}" median)
{
    printf '{\n  "date": "%s",\n  "command": "sudo scripts/bench-family.sh  (REPS=%s)",\n' "$(date -u +%FT%TZ)" "$reps"
    printf '  "family": "fam-minimal (debian-minimal vm), fam-app (+ bench-fam, own environment, qcow2+tar), fam-cloud (+ growroot cloud-init-datasources); bookworm",\n'
    printf '  "default_jobs": "%s",\n' "${jobs_line#jobs: }"
    printf '  "peak_memory_bytes_ours_fresh": %s,\n' "$(stat_of "$peaks" max)"
    for s in $scenarios; do
        printf '  "%s": {"runs": [%s], "min": %s, "median": %s, "median_ratio_to_dib": %.3f},\n' "$s" \
            "$(sed 's/^ //; s/ /, /g' <<< "${times[$s]}")" "$(stat_of "${times[$s]}" min)" "$(stat_of "${times[$s]}" median)" \
            "$(echo "$(stat_of "${times[$s]}" median) / $dib_median" | bc -l)"
    done
    printf '  "qcow2_bytes": {"ours": {%s}, "dib": {%s}}\n}\n' \
        "$(for n in fam-minimal fam-app fam-cloud; do printf '"%s": %s, ' "$n" "$(stat -c %s "$work/out-ours/$n.qcow2")"; done | sed 's/, $//')" \
        "$(for n in fam-minimal fam-app fam-cloud; do printf '"%s": %s, ' "$n" "$(stat -c %s "$work/out-dib/$n.qcow2")"; done | sed 's/, $//')"
} > "$results/bench.json"
cat "$results/bench.json"
