#!/usr/bin/env bash
# Processed tables against DuckDB. Ingests sample events from a real Kafka-compatible broker
# process (Tansu on loopback) in three runs. The middle one runs without the transforms, so
# the processed tables fall behind and catch up. Then DuckDB's delta_scan checks that each
# processed table equals its SQL file run over the raw table, row for row.
#
# Needs: tansu on PATH (cargo install tansu --version 0.6.0 --locked --features dynostore,libsql) and a
# Python with duckdb==1.5.5 and duckdb-extension-delta==1.5.5, given as PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."

count=${COUNT:-60000}
port=${PORT:-19095}
profile=${PROFILE:-release}
python=${PYTHON:-python3}
work=$(mktemp -d)
brokers="127.0.0.1:$port"

cargo build --profile "$profile" --bin eventlake
target="target/$profile"
[ "$profile" = dev ] && target=target/debug

tansu broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" \
  --storage-engine memory://tansu/ >"$work/broker.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
sleep 2
tansu topic create --broker "tcp://$brokers" --partitions 4 events

third=$((count / 3))
for run in 1 2 3; do
  sql=sql
  [ "$run" = 2 ] && sql=off
  echo "run $run: producing $third events, ingesting with --sql $sql"
  "$target/eventlake" produce --brokers "$brokers" --topic events --count "$third" \
    --from "2024-12-0$((run + 3))" --to "2024-12-0$((run + 4))" --malformed 1% \
    --first-id $(((run - 1) * third + 1)) --seed "$run" 2>>"$work/produce.log"
  "$target/eventlake" ingest --brokers "$brokers" --topic events --lake "$work/lake" \
    --schemas schemas --sql "$sql" --stop-at-end --metrics-address off \
    -X fetch.wait.max.ms=50 2>"$work/ingest-$run.log" || {
    tail -20 "$work/ingest-$run.log"
    exit 1
  }
done
cat "$work/produce.log"

"$python" tests/e2e/compare_transforms.py "$work/lake" sql
