#!/bin/sh
# An app host: syslog behind /dev/log, its own dockerd, sshd. Reachable only through the bastion.
. /fleet/roles/common.sh
usermod -aG docker deploy
# Without --privileged the cgroup v1 hierarchies come in read-only, and dockerd must create cgroups
# for its containers. A plain remount is refused (the superblock is busy); a bind remount flips the
# mount's own flag. Where --privileged was used they are already read-write and this changes nothing.
for d in /sys/fs/cgroup/*/; do
  if grep -qs " ${d%/} cgroup ro," /proc/mounts; then mount -o remount,bind,rw "$d"; fi
done
busybox syslogd -n -O /var/log/messages &
mkdir -p /etc/docker
registries="\"${REGISTRY:?REGISTRY is not set}\""
if [ -n "${PRIVATE_REGISTRY:-}" ]; then registries="$registries, \"$PRIVATE_REGISTRY\""; fi
cat > /etc/docker/daemon.json <<JSON
{ "insecure-registries": [$registries], "storage-driver": "${STORAGE_DRIVER:-overlay2}",
  "log-driver": "json-file", "log-opts": { "max-size": "1m" } }
JSON
started=$(cut -d" " -f1 /proc/uptime)
dockerd >/var/log/dockerd.log 2>&1 &
i=0
until docker info >/dev/null 2>&1; do
  i=$((i+1)); [ $i -lt 300 ] || { tail -n 20 /var/log/dockerd.log >&2; exit 1; }
  sleep 0.1
done
echo "host ready after $(cut -d" " -f1 /proc/uptime) (dockerd started at $started)"
exec /usr/sbin/sshd -D -e
