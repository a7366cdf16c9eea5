#!/bin/bash
# dhcp-all-interfaces.sh [INTERFACE]: give INTERFACE, or every interface, a DHCP configuration for
# ifupdown (/etc/network/interfaces.d/dhcp-all-interfaces-NAME) when nothing configures it yet, it
# has a burned-in MAC address (or is a VLAN of such a NIC) and a cable (carrier) within
# DHCP_TIMEOUT seconds. With INTERFACE (how dhcp-interface@.service runs it), also bring it up.
# Installed by the dhcp-all-interfaces element; DHCP_TIMEOUT comes from /etc/default/dhcp-all-interfaces.
set -eu
set -o pipefail
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

DHCP_TIMEOUT=30
if [ -r /etc/default/dhcp-all-interfaces ]; then
    # shellcheck disable=SC1091
    . /etc/default/dhcp-all-interfaces
fi
conf_dir=/etc/network/interfaces.d
net=/sys/class/net

if ! command -v ifquery >/dev/null || [ ! -d /etc/network ]; then
    echo "dhcp-all-interfaces: needs ifupdown (ifquery, /etc/network)" >&2
    exit 1
fi

# Several instances start at once (one per interface): edit the configuration one at a time.
mkdir -p /run
exec 9> /run/dhcp-all-interfaces.lock
flock 9

is_configured() {
    ifquery "$1" >/dev/null 2>&1
}

# addr_assign_type 0: the MAC address is the hardware's own (not random, not copied).
has_own_mac() {
    [ "$(cat "$net/$1/addr_assign_type" 2>/dev/null || echo 1)" = 0 ]
}

# A VLAN interface NAME.VID copies its MAC (addr_assign_type 2) from a NIC with its own.
is_vlan_of_nic() {
    local iface=$1
    case $iface in
        *.*) ;;
        *) return 1 ;;
    esac
    [ "$(cat "$net/$iface/addr_assign_type" 2>/dev/null || echo 0)" = 2 ] && has_own_mac "${iface%%.*}"
}

wait_for_carrier() {
    local iface=$1 tries
    for ((tries = DHCP_TIMEOUT; tries > 0; tries--)); do
        ip link set dev "$iface" up >/dev/null 2>&1 || true
        if [ "$(cat "$net/$iface/carrier" 2>/dev/null || echo 0)" = 1 ]; then
            return 0
        fi
        sleep 1
    done
    return 1
}

# The inet6 stanza the router advertisement asks for: DHCPv6 (managed), SLAAC plus stateless DHCPv6
# (other config), or SLAAC. Nothing when rdisc6 is missing or no router answers.
ipv6_stanza() {
    local iface=$1 ra status tries
    command -v rdisc6 >/dev/null || return 0
    for ((tries = DHCP_TIMEOUT; tries > 0; tries--)); do
        status=0
        ra=$(rdisc6 --retry 3 --single "$iface" 2>/dev/null) || status=$?
        case $status in
            0) break ;;
            1) sleep 1 ;; # no link-local address yet
            *) return 0 ;; # no router answered
        esac
    done
    [ "$status" = 0 ] || return 0
    if grep -Eq 'Stateful address conf\.[[:space:]]*:[[:space:]]*Yes' <<< "$ra"; then
        printf 'iface %s inet6 dhcp\n' "$iface"
    elif grep -Eq 'Stateful other conf\.[[:space:]]*:[[:space:]]*Yes' <<< "$ra"; then
        printf 'iface %s inet6 auto\n    dhcp 1\n' "$iface"
    else
        printf 'iface %s inet6 auto\n' "$iface"
    fi
}

# Succeeds when IFACE is (now) configured, so the caller may bring it up.
configure() {
    local iface=$1 file
    if is_configured "$iface"; then
        echo "$iface: already configured"
        return 0
    fi
    if ! has_own_mac "$iface" && ! is_vlan_of_nic "$iface"; then
        echo "$iface: no hardware MAC address (a virtual device); skipping"
        return 1
    fi
    if ! wait_for_carrier "$iface"; then
        echo "$iface: no link after ${DHCP_TIMEOUT}s; skipping"
        return 1
    fi
    mkdir -p "$conf_dir"
    file=$conf_dir/dhcp-all-interfaces-$iface
    {
        printf 'auto %s\niface %s inet dhcp\n' "$iface" "$iface"
        ipv6_stanza "$iface"
    } > "$file.tmp"
    mv -f "$file.tmp" "$file"
    echo "$iface: DHCP configured in $file"
}

if [ $# -gt 0 ]; then
    iface=$1
    if [ "$iface" = lo ] || [ ! -e "$net/$iface" ]; then
        echo "$iface: not a network interface here; nothing to do"
        exit 0
    fi
    if configure "$iface"; then
        flock -u 9
        ifup "$iface"
    fi
else
    for path in "$net"/*; do
        iface=${path##*/}
        [ "$iface" != lo ] || continue
        configure "$iface" || true
    done
fi
