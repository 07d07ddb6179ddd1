# Shared helpers for Baton's scripts: sourced, never run.
# Everything here installs only what is missing and says what it does.

# Each step with the seconds since the script started, so a log says where the time went.
say() { printf '\033[1m==> [%ss] %s\033[0m\n' "$SECONDS" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: run CMD as root, via sudo when needed; stop with a clear message when neither works.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else die "this step needs root: run as root or with passwordless sudo, or install by hand: $*"; fi
}

# need_apt PKG...: install the Debian packages that are not installed yet.
need_apt() {
  local missing=()
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} with your package manager"
  say "installing ${missing[*]}"
  if [ ! -f /tmp/.baton-apt-updated ]; then as_root apt-get update -q >/dev/null && touch /tmp/.baton-apt-updated; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian's client matches Debian's daemon; a newer client elsewhere on PATH may not.
docker_bin() { if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi; }

# ensure_docker: Debian's docker.io installed and a daemon answering.
ensure_docker() {
  need_apt docker.io
  local docker; docker=$(docker_bin)
  if "$docker" info >/dev/null 2>&1; then return 0; fi
  say "starting dockerd (log: /var/log/baton-dockerd.log)"
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    as_root systemctl start docker
  else
    as_root sh -c 'nohup dockerd >/var/log/baton-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do "$docker" info >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "dockerd did not answer within 30 s: see /var/log/baton-dockerd.log"
}

# ensure_node: Node >= 20.19 and the project's packages.
ensure_node() {
  command -v node >/dev/null 2>&1 || die "Node.js >= 20.19 is required: install it from https://nodejs.org or your distribution"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "Node.js >= 20.19 is required, found $(node --version)"
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "installing npm packages"; npm ci --no-audit --no-fund >/dev/null
  fi
}
