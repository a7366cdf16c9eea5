#!/bin/bash
# Run upstream diskimage-builder 3.13 (Debian's python3-diskimage-builder) on these machines, as root:
#
#   scripts/upstream-dib.sh [disk-image-create options] ELEMENT...
#
# It needs kpartx, which needs device-mapper, which these kernels lack (see ../shared/ENVIRONMENT.md):
# stand-ins map partitions with partx and link them as /dev/mapper/loopNpK. DIB calls sudo, which would
# reset PATH and miss them: a sudo stand-in runs the command as is (we are root already). Everything
# else (DIB_IMAGE_CACHE, DIB_RELEASE, the mirrors, DIB_DEBIAN_SECURITY_SUBPATH, ...) is the caller's
# environment. Used by scripts/bench.sh and test/integration/dib-elements.test.ts.
set -eu
set -o pipefail
if [ "$(id -u)" != 0 ]; then
    echo "upstream-dib.sh: run as root" >&2
    exit 2
fi
shims=$(mktemp -d /tmp/upstream-dib-shims.XXXXXX)
cleanup() {
    # Links the kpartx stand-in made whose partition node is gone (a failed run's leftovers).
    for link in /dev/mapper/loop*p*; do
        if [ -L "$link" ] && [ ! -e "$link" ]; then rm -f "$link"; fi
    done
    rm -rf "$shims"
}
trap cleanup EXIT

cat > "$shims/kpartx" <<'KPARTX'
#!/bin/bash
# kpartx stand-in: -a/-u map partitions with partx and link them as /dev/mapper/loopNpK; -d removes.
mode=""; dev=""
for a in "$@"; do case "$a" in -*a*|-*u*) mode=add ;; -*d*) mode=del ;; /dev/*) dev=$a ;; esac; done
base=$(basename "$dev")
mkdir -p /dev/mapper
if [ "$mode" = add ]; then
    partx -a "$dev" 2>/dev/null || partx -u "$dev"
    for _ in $(seq 1 50); do ls "$dev"p* >/dev/null 2>&1 && break; sleep 0.1; done
    for p in "$dev"p*; do ln -sf "$p" "/dev/mapper/$(basename "$p")"; echo "add map $(basename "$p")"; done
elif [ "$mode" = del ]; then
    rm -f /dev/mapper/"$base"p*
    partx -d "$dev" || true
fi
KPARTX
cat > "$shims/dmsetup" <<'DMSETUP'
#!/bin/bash
# dmsetup stand-in: mknodes is a no-op; remove NAME drops the /dev/mapper link.
case "$*" in *remove*) rm -f "/dev/mapper/${*: -1}" ;; esac
exit 0
DMSETUP
cat > "$shims/sudo" <<'SUDO'
#!/bin/bash
# sudo stand-in for a root run: drop sudo's options and run the command with this PATH.
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
chmod +x "$shims/kpartx" "$shims/dmsetup" "$shims/sudo"
PATH="$shims:$PATH" /usr/bin/disk-image-create "$@"
