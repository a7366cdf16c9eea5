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
cd "$(dirname "$0")/.." || exit 2

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
  if [ "$#" -eq 0 ]; then
    echo "[$lane] no test files" >&2
    return 1
  fi
  rm -f "test-results/integration-$lane.json"
  set -o pipefail
  # --no-cache: the two processes would both rewrite vitest's results cache (the order is our sequencer's).
  node_modules/.bin/vitest run --project integration --no-file-parallelism --no-cache --reporter=default --reporter=json \
    --outputFile="test-results/integration-$lane.json" "$@" 2>&1 | sed -u "s/^/[$lane] /" || return 1
  # A lane that died without its results is a failure, not fewer tests.
  [ -s "test-results/integration-$lane.json" ] || { echo "[$lane] no results written" >&2; return 1; }
}

case "${1:-both}" in
  a) run_lane a "${lane_a[@]}" ;;
  b) run_lane b "${lane_b[@]}" ;;
  both)
    # Each lane in its own process group: an interrupt or TERM to this script reaches every process of
    # both lanes as SIGINT (the builds unwind: nothing mounted or attached is left), and the script waits
    # for both to finish before it exits.
    set -m
    run_lane a "${lane_a[@]}" &
    pids=($!)
    run_lane b "${lane_b[@]}" &
    pids+=($!)
    set +m
    trap 'for p in "${pids[@]}"; do kill -INT -- "-$p" 2>/dev/null; done' INT TERM
    status=0
    for p in "${pids[@]}"; do
      while true; do
        wait "$p"
        rc=$?
        # wait returns >128 when a trapped signal interrupts it: the lane is still running.
        if [ "$rc" -gt 128 ] && kill -0 "$p" 2>/dev/null; then continue; fi
        [ "$rc" -eq 0 ] || status=1
        break
      done
    done
    exit "$status"
    ;;
  *)
    echo "usage: $0 [a|b]" >&2
    exit 2
    ;;
esac
