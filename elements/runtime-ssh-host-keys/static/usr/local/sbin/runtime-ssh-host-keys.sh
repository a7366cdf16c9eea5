#!/bin/sh
# Make any missing ssh host key (rsa, ecdsa, ed25519) at boot; never overwrite one.
set -eu
for type in rsa ecdsa ed25519; do
    key=/etc/ssh/ssh_host_${type}_key
    [ -f "$key" ] || ssh-keygen -q -t "$type" -N '' -f "$key"
done
