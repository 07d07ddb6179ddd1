#!/bin/sh
# Debian's docker-registry, storing in the container: open on port 5000, and, over the same storage,
# on port 5001 only to those who log in (htpasswd from PRIVATE_HTPASSWD), as a private registry is.
set -eu
cat > /tmp/registry.yml <<YML
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: /var/lib/docker-registry }, delete: { enabled: true } }
http: { addr: ":5000" }
YML
if [ -n "${PRIVATE_HTPASSWD:-}" ]; then
  printf '%s\n' "$PRIVATE_HTPASSWD" > /tmp/htpasswd
  cat > /tmp/private.yml <<YML
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: /var/lib/docker-registry }, maintenance: { readonly: { enabled: true } } }
http: { addr: ":5001", secret: private-sandbox }
auth: { htpasswd: { realm: baton-sandbox, path: /tmp/htpasswd } }
YML
  docker-registry serve /tmp/private.yml &
fi
echo "registry ready"
exec docker-registry serve /tmp/registry.yml
