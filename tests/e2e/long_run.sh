#!/usr/bin/env bash
# Long run with 1 s commits against a real Kafka-compatible broker process (Tansu on
# loopback). Events are produced at a steady rate with event times replayed over three days,
# so that day partitions close one after another. Meanwhile `eventlake ingest
# --flush-interval 1s` commits every second. Every SAMPLE seconds the table open time is measured. At the end the
# script checks the metrics against the tables, runs `eventlake optimize`, counts files per
# partition and compares query answers with DuckDB.
#
# Needs: tansu on PATH (cargo install tansu --version 0.6.0 --locked --features dynostore,libsql) and a Python
# with deltalake==1.6.6, duckdb==1.5.5 and duckdb-extension-delta==1.5.5, given as PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."

rate=${RATE:-200}
duration=${DURATION:-2700}
sample=${SAMPLE:-120}
port=${PORT:-19094}
metrics_port=${METRICS_PORT:-19464}
# Background compaction of idle partitions, off so that optimize has the small files to do.
compact_after=${COMPACT_AFTER:-off}
# Extra ingest flags, such as "--partition-by hour".
ingest_args=${INGEST_ARGS:-}
python=${PYTHON:-python3}
work=${WORK:-$(mktemp -d)}
brokers="127.0.0.1:$port"
count=$((rate * duration))
mkdir -p "$work"

# Copies of the binaries, so that a rebuild during the run does not replace them.
cargo build --release --bin eventlake --bench table_open
mkdir -p "$work/bin"
cp target/release/eventlake "$work/bin/eventlake"
cp "$(ls -t target/release/deps/table_open-* | grep -v '\.d$' | head -1)" "$work/bin/table_open"
eventlake=$work/bin/eventlake
table_open=$work/bin/table_open

tansu broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" \
  --storage-engine memory://tansu/ >"$work/broker.log" 2>&1 &
broker=$!
ingest=
cleanup() {
  [ -n "$ingest" ] && kill "$ingest" 2>/dev/null
  kill "$broker" 2>/dev/null || true
}
trap cleanup EXIT
sleep 2
tansu topic create --broker "tcp://$brokers" --partitions 4 events

echo "producing $count events at $rate/s for $duration s; work directory $work"
"$eventlake" produce --brokers "$brokers" --topic events --rate "$rate" --count "$count" \
  --from 2024-12-04 --to 2024-12-07 --malformed 0.1% --first-id 1 2>"$work/produce.log" &
producer=$!

"$eventlake" ingest --brokers "$brokers" --topic events --lake "$work/lake" --schemas schemas \
  --flush-interval 1s --compact-after "$compact_after" --metrics-address "127.0.0.1:$metrics_port" \
  -X fetch.wait.max.ms=50 $ingest_args 2>"$work/ingest.log" &
ingest=$!

# Table open time while the log grows.
started=$(date +%s)
while kill -0 "$producer" 2>/dev/null; do
  sleep "$sample"
  if [ -d "$work/lake/events/_delta_log" ]; then
    echo "t=$(($(date +%s) - started))s $("$table_open" "$work/lake" events 5)" | tee -a "$work/open.log"
  fi
done
wait "$producer"
tail -1 "$work/produce.log"

# Wait until every produced record is consumed and committed, then stop the ingestor.
for _ in $(seq 1 120); do
  sleep 2
  curl -s "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt" || true
  consumed=$(awk '/^eventlake_records_consumed_total/ {print $2}' "$work/metrics.txt")
  [ "${consumed:-0}" -ge "$count" ] && break
done
sleep 3
curl -s "http://127.0.0.1:$metrics_port/metrics" >"$work/metrics.txt"
kill -TERM "$ingest"
wait "$ingest" || true
ingest=
echo "t=end $("$table_open" "$work/lake" events 5)" | tee -a "$work/open.log"

"$python" tests/e2e/long_run_check.py "$eventlake" "$work/lake" "$work/metrics.txt" "$count"
echo "after optimize: $("$table_open" "$work/lake" events 5)" | tee -a "$work/open.log"

# Without checkpoints a reader replays every JSON commit: the same table, checkpoints removed.
cp -r "$work/lake" "$work/no-checkpoints"
find "$work/no-checkpoints" -path '*_delta_log/*' \( -name '*.checkpoint*.parquet' -o -name _last_checkpoint \) -delete
echo "without checkpoints: $("$table_open" "$work/no-checkpoints" events 5)" | tee -a "$work/open.log"
