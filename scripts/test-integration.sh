#!/bin/bash
# The root integration tests (npm test's last step), in two lanes run at the same time. Each lane is one
# vitest process running its files one after another (in vitest.config.ts's order). Two lanes because
# the machines have two cores and these tests leave one mostly idle: a boot under qemu's TCG uses one
# thread, dpkg and debootstrap wait on the disk and the mirror. The lanes share the test cache
# (/var/tmp/dib-ts-test-cache): the phase cache's single-flight and the debootstrap element's flock make
# concurrent use safe, and lane B's tests keep private image caches where they count hits and misses.
#
#   bash scripts/test-integration.sh            both lanes (what npm test runs)
#   bash scripts/test-integration.sh a|b        one lane
#
# Lane B is listed; lane A is every other integration file, so a new file is never left out.
# Each lane writes test-results/integration-LANE.json; its output is prefixed with [a] or [b].
set -u
cd "$(dirname "$0")/.."

LANE_B=(phase-cache family dib-elements)

lane_a=()
lane_b=()
for f in test/integration/*.test.ts; do
  name=$(basename "$f" .test.ts)
  if [[ " ${LANE_B[*]} " == *" $name "* ]]; then lane_b+=("$f"); else lane_a+=("$f"); fi
done

run_lane() {
  local lane=$1
  shift
  set -o pipefail
  node_modules/.bin/vitest run --project integration --no-file-parallelism --reporter=default --reporter=json \
    --outputFile="test-results/integration-$lane.json" "$@" 2>&1 | sed -u "s/^/[$lane] /"
}

pids=()
stop() {
  # Ctrl-C reaches the whole process group already; a TERM to this script is passed on as SIGINT, so
  # every build unwinds (nothing mounted or attached is left).
  for p in "${pids[@]}"; do pkill -INT -P "$p" 2>/dev/null; done
}
trap stop TERM

case "${1:-both}" in
  a) run_lane a "${lane_a[@]}" ;;
  b) run_lane b "${lane_b[@]}" ;;
  both)
    run_lane a "${lane_a[@]}" &
    pids+=($!)
    run_lane b "${lane_b[@]}" &
    pids+=($!)
    status=0
    for p in "${pids[@]}"; do wait "$p" || status=1; done
    exit "$status"
    ;;
  *)
    echo "usage: $0 [a|b]" >&2
    exit 2
    ;;
esac
