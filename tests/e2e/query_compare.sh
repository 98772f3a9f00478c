#!/usr/bin/env bash
# Ingests from a real Kafka-compatible broker process (Tansu on loopback) in two runs, then
# runs a set of analytic queries with `eventlake sql` and with DuckDB's `delta_scan` on the
# same tables, and fails unless every result matches.
#
# Needs: tansu on PATH (cargo install tansu --version 0.6.0 --locked --features dynostore,libsql) and a
# Python with duckdb==1.5.5 and duckdb-extension-delta==1.5.5, given as PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."

count=${COUNT:-200000}
malformed=${MALFORMED:-200}
port=${PORT:-19093}
profile=${PROFILE:-release}
python=${PYTHON:-python3}
work=$(mktemp -d)
brokers="127.0.0.1:$port"

cargo build --profile "$profile" --bin eventlake --example load_events
target="target/$profile"
[ "$profile" = dev ] && target=target/debug

tansu broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" \
  --storage-engine memory://tansu/ >"$work/broker.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
sleep 2
tansu topic create --broker "tcp://$brokers" --partitions 4 events

# Two produce-and-ingest rounds, so that the tables have an older version to travel to.
for round in 1 2; do
  echo "round $round: producing $count events and $malformed malformed records"
  "$target/examples/load_events" "$brokers" events "$count" 4 "$malformed"
  "$target/eventlake" ingest --brokers "$brokers" --topic events --lake "$work/lake" \
    --schemas schemas --stop-at-end -X fetch.wait.max.ms=50 2>"$work/ingest-$round.log" || {
    tail -20 "$work/ingest-$round.log"
    exit 1
  }
done

"$python" tests/e2e/compare_queries.py "$target/eventlake" "$work/lake"
