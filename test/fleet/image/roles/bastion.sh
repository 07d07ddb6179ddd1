#!/bin/sh
# The bastion: sshd only. Its port 22 is the one SSH port the fleet publishes.
. /fleet/roles/common.sh
echo "bastion ready"
exec /usr/sbin/sshd -D -e
