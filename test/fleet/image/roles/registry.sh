#!/bin/sh
# Debian's docker-registry, storing in the container, on port 5000.
set -eu
cat > /tmp/registry.yml <<YML
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: /var/lib/docker-registry }, delete: { enabled: true } }
http: { addr: ":5000" }
YML
echo "registry ready"
exec docker-registry serve /tmp/registry.yml
