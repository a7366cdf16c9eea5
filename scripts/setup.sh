#!/bin/bash
# Set up a fresh Debian bookworm machine (as root): the host tools builds and tests use, upstream
# diskimage-builder for the comparison tests, then the Node dependencies and the compiled CLI.
set -eu
set -o pipefail
cd "$(dirname "$0")/.."
packages=(
    debootstrap qemu-utils fdisk util-linux mount e2fsprogs xfsprogs dosfstools mtools xorriso
    squashfs-tools rsync grub-pc-bin grub2-common qemu-system-x86 openssh-client bc attr
    python3-diskimage-builder sudo shellcheck libxml2-utils skopeo curl
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: missing Debian packages (${missing[*]}); run this script as root" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
npm ci --no-audit --no-fund
npm run build
