#!/bin/bash
# Upload benchmark: the default image (built here with the test cache when IMAGE is not given) uploaded to
# a real Keystone + Glance (test/helpers/openstack.ts, on 127.0.0.1) by image-upload and by the openstack
# client, alternating, REPS times each (default 3). Writes RESULTS_DIR/upload.json.
#   sudo scripts/bench-upload.sh [RESULTS_DIR]      IMAGE=path/to.qcow2 to upload another file
set -eu
set -o pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
results=${1:-$repo/bench-results}
mkdir -p "$results"
image=${IMAGE:-}
if [ -z "$image" ]; then
    image=$results/default.qcow2
    if [ ! -s "$image" ]; then
        "$repo/bin/disk-image-create" --image-cache "${DIB_TS_TEST_CACHE:-/var/tmp/dib-ts-test-cache}" -o "$results/default" vm
    fi
fi
cd "$repo"
UPLOAD_BENCH_FILE=$(realpath "$image") UPLOAD_BENCH_JSON="$results/upload.json" REPS=${REPS:-3} \
    npx vitest run --project bench test/bench/upload-rate.test.ts
