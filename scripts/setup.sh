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
    keystone glance-api mariadb-server python3-openstackclient python3-pymysql
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
    # Keystone, Glance and MariaDB are only run by the tests (test/helpers/openstack.ts starts private
    # instances): their maintainer scripts must neither configure a database nor register an endpoint
    # (the debconf answers), nor start a service (a policy-rc.d that forbids it, during the install only).
    debconf-set-selections <<'SELECTIONS'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/configure_api-endpoint boolean false
SELECTIONS
    policy_rc=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy_rc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
        chmod 755 "$policy_rc"
        trap 'rm -f "$policy_rc"' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$policy_rc" ]; then
        rm -f "$policy_rc"
        trap - EXIT
    fi
fi
npm ci --no-audit --no-fund
npm run build
