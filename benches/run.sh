#!/usr/bin/env bash
# Runs every benchmark of BENCHMARKS.md and prints one table of their figures.
#
#   benches/run.sh                 # all five: decode, write, e2e, freshness, query
#   benches/run.sh decode e2e      # some of them
#
# Each benchmark's own settings pass through the environment (EVENTS, PARTITIONS, RUNS for
# e2e; RATE, DURATION, WARMUP for freshness; EVENTS for query). The full output of each is
# kept in target/bench-results/NAME.txt. The query benchmark needs DuckDB 1.5.5 with its
# delta extension: this script makes the Python environment of the interop test if it is
# missing (about a minute, offline from PyPI's cache or online).
set -euo pipefail
cd "$(dirname "$0")/.."

benches=("$@")
if [ "${#benches[@]}" -eq 0 ]; then
  benches=(decode write e2e freshness query)
fi

results=target/bench-results
mkdir -p "$results"

if [[ " ${benches[*]} " == *" query "* ]] && [ -z "${EVENTLAKE_BENCH_PYTHON:-}" ]; then
  venv=target/tmp/interop-venv
  if ! [ -x "$venv/bin/python" ] || ! cmp -s tests/interop/requirements.txt "$venv/eventlake-requirements.txt"; then
    echo "making $venv for DuckDB"
    python3 -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --quiet -r tests/interop/requirements.txt
    cp tests/interop/requirements.txt "$venv/eventlake-requirements.txt"
  fi
fi

# One build of every benchmark first, so that the runs below do not wait for each other.
cargo bench --locked --no-run $(printf -- '--bench %s ' "${benches[@]}")

for bench in "${benches[@]}"; do
  echo "== $bench"
  cargo bench --locked --bench "$bench" 2>&1 | tee "$results/$bench.txt" | grep -v '^RESULT'
done

echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(rustc --version)"
echo "| benchmark | figures |"
echo "| --- | --- |"
for bench in "${benches[@]}"; do
  grep '^RESULT' "$results/$bench.txt" | awk -F' [|] ' '{
    sub(/^RESULT /, "", $1); sub(/ [|]$/, "", $NF)
    row = "| " $1 " | " $2
    for (i = 3; i <= NF; i++) row = row "; " $i
    print row " |"
  }' || {
    echo "| $bench | no figures: see $results/$bench.txt |"
  }
done
