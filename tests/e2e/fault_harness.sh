#!/usr/bin/env bash
# The full fault harness in one command. It runs the fault tests with long settings: KILLS
# crash loop kills, CYCLES group churn cycles of two rebalances each, and FUZZ fuzzed
# records. It also checks the hostile corpus, then restarts Tansu under load when tansu is on
# the PATH. It prints each part's counts: kills, rebalances, faults, records, lost and
# duplicated.
set -euo pipefail
cd "$(dirname "$0")/../.."

kills=${KILLS:-50}
cycles=${CYCLES:-10}
fuzz=${FUZZ:-2000000}
log=$(mktemp)

echo "fault tests: $kills kills, $cycles churn cycles, $fuzz fuzzed records (log: $log)"
EVENTLAKE_CRASH_KILLS=$kills EVENTLAKE_CHURN_CYCLES=$cycles EVENTLAKE_FUZZ_CASES=$fuzz \
  cargo test --test it -- faults:: hostile:: fuzz:: --nocapture --test-threads 1 >"$log" 2>&1 || {
  grep -E "panicked|FAILED|left|right" "$log" | head -20
  echo "fault tests failed; see $log"
  exit 1
}
grep -oE "(crash loop|group churn|broker faults|storage faults): .*lost.*|fuzz seed [0-9]+|[0-9]+ records: .*|test result: .*" "$log"

if command -v tansu >/dev/null; then
  tests/e2e/tansu_restart.sh | tail -n 1
else
  echo "tansu is not on the PATH; skipping broker restarts (cargo install tansu --version 0.6.0 --locked --features dynostore,libsql)"
fi
