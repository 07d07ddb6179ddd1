#!/usr/bin/env bash
# The whole test suite, on a fresh Debian or Ubuntu machine: installs what it needs, then runs every
# test: unit tests, the AWS emulator against the real SDK clients, SSH against real sshd, and the
# end-to-end tests on the sandbox fleet (real sshd, dockerd per host, registry, HAProxy).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# sshd, haproxy and ssh-keygen run on this machine for the unit tests; the fleet images need
# debootstrap and busybox-static; ansible-core is what the inventory and --limit tests compare with.
need_apt docker.io debootstrap busybox-static haproxy openssh-server openssh-client ca-certificates vagrant ansible-core python3
ensure_docker
ensure_node
say "building"
npm run build --silent

results=$(mktemp)
trap 'rm -f "$results"' EXIT
say "running the tests"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# A closing line every CI reads the same way: "N passed, N failed".
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' "$results" 2>/dev/null || echo "tests: no result file written"
exit $status
