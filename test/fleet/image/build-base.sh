#!/usr/bin/env bash
# Builds the fleet's base image from a Debian (or Ubuntu) rootfs made by debootstrap, from the mirror
# apt is already configured with on this machine. No registry is needed: the rootfs is `docker import`ed.
# Usage: build-base.sh TAG
# The tag is chosen by the caller from a hash of this file, so a changed recipe builds a new image.
set -euo pipefail
tag=${1:?usage: build-base.sh TAG}
docker=/usr/bin/docker; [ -x "$docker" ] || docker=$(command -v docker)

# The packages every fleet role needs: the bastion (sshd), app hosts (sshd, dockerd, syslogd),
# the registry (Debian's docker-registry) and the load balancer (haproxy).
packages=openssh-server,docker.io,busybox,busybox-syslogd,haproxy,docker-registry,iproute2,procps,ca-certificates

. /etc/os-release
suite=${VERSION_CODENAME:?cannot tell the codename of this distribution from /etc/os-release}
case "$ID" in
  ubuntu) components=main,universe ;;
  *) components=main ;;
esac
# The mirror apt uses for this suite's main component, read from apt's own view of its sources.
mirror=$(apt-cache policy 2>/dev/null | awk -v s="$suite/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }')
[ -n "$mirror" ] || { echo "no apt source for $suite/main found (apt-cache policy): run apt-get update" >&2; exit 1; }

work=$(mktemp -d /var/tmp/baton-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "debootstrap $suite from the configured apt mirror into $work" >&2
debootstrap --variant=minbase --components="$components" --include="$packages" "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
# Keep the image lean and free of anything from this machine.
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/etc/ssh/ssh_host_"*
tar -C "$work/rootfs" -c . | "$docker" import --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "built $tag" >&2
