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
results=$(mktemp)
lint_log=$(mktemp)
trap 'rm -f "$results" "$lint_log"' EXIT
# The shape of the code (Prettier's formatting, then ESLint: correctness, file and function length,
# the layering of src/; see eslint.config.js) on one core, while the other builds: one tsc over the
# whole tree, tests included (some tests are claims only the compiler checks, @ts-expect-error), emits
# dist/, and the CLI's bundle is made from it (what `npm run build` does for src/ alone).
say "building, type-checking and linting, side by side"
npm run lint --silent >"$lint_log" 2>&1 &
lint=$!
npx tsc -p .
node scripts/bundle.mjs
if ! wait "$lint"; then
  cat "$lint_log"
  die "lint failed (npm run lint; npm run format fixes the formatting)"
fi
say "running the tests"
status=0
# Everything above is installed, so a test that needs sshd, ssh-keygen or vagrant runs (and fails if
# they are missing) instead of skipping.
export BATON_TEST_REQUIRE_TOOLS=1
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# Node 22 and 24 as well (Baton supports Node >= 20.19): the unit tests on each; the e2e tests deploy
# the sandbox with each (test/e2e/node-versions.test.ts).
# The two run side by side (each is one vitest on one core), their output printed in turn.
if [ $# -eq 0 ]; then
  say "unit tests on Node 22 and 24, side by side"
  logs=$(mktemp -d)
  pids=()
  for major in 22 24; do
    node_bin=$(node scripts/node-binary.mjs "$major")
    "$node_bin" node_modules/vitest/vitest.mjs run --project unit --reporter=dot --maxWorkers=1 >"$logs/$major" 2>&1 &
    pids+=($!)
  done
  for i in 0 1; do
    major=$((22 + 2 * i))
    code=0
    wait "${pids[$i]}" || code=$?
    say "unit tests on Node $major: exit $code"
    # The dot reporter's rows of dots say nothing a count does not; the tail of a CI log is kept for
    # what failed.
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$major" | grep -v '^[·*x -]*$' | { [ "$code" -eq 0 ] && grep -E 'Test Files|Tests|Duration' || cat; } || true
    [ "$code" -eq 0 ] || status=$code
  done
  rm -rf "$logs"
fi
say "every test has run"
# A closing line every CI reads the same way: "N passed, N failed".
# A file whose setup failed (a sandbox that could not start) reports its tests as skipped: here they
# count as failed, and a file that ran no test at all counts as one failure.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  let failed = r.numFailedTests, skipped = r.numPendingTests + r.numTodoTests;
  for (const file of r.testResults) {
    if (file.status !== "failed") continue;
    const notRun = file.assertionResults.filter((a) => a.status !== "passed" && a.status !== "failed").length;
    failed += notRun || (file.assertionResults.some((a) => a.status === "failed") ? 0 : 1);
    skipped -= notRun;
  }
  // The names of what failed, last, so the tail of a CI log says which tests to look at.
  for (const file of r.testResults) {
    const where = require("path").relative(process.cwd(), file.name);
    const bad = file.assertionResults.filter((a) => a.status === "failed");
    if (file.status === "failed" && bad.length === 0) console.log(`failed: ${where}: ${(file.message || "no test ran").replace(/\s+/g, " ")}`.slice(0, 1500));
    for (const a of bad) console.log(`failed: ${where} > ${a.fullName}`);
  }
  console.log(`tests: ${r.numPassedTests} passed, ${failed} failed, ${skipped} skipped`);
' "$results" 2>/dev/null || echo "tests: no result file written"
exit $status
