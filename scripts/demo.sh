#!/usr/bin/env bash
# The demo, on a fresh Debian or Ubuntu machine: installs what it needs, brings up the sandbox fleet
# (bastion, 3 app hosts with their own dockerd, registry, HAProxy, AWS emulator), then rolls v1 -> v2
# through `baton deploy` while a load generator sends traffic through the load balancer.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

need_apt docker.io debootstrap busybox-static openssh-client ca-certificates python3
ensure_docker
ensure_node
say "building"
npm run build --silent
exec node --import tsx scripts/demo.ts "$@"
