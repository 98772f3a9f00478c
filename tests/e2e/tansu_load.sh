#!/usr/bin/env bash
# End-to-end run against a real Kafka-compatible broker process: starts Tansu on loopback,
# produces COUNT valid events of three types and MALFORMED bad records over four partitions,
# runs `eventlake ingest --stop-at-end`, and checks the tables with Python deltalake.
#
# Needs: tansu on PATH (cargo install tansu --version 0.6.0 --locked --features dynostore,libsql) and a
# Python with deltalake (pip install deltalake==1.6.6), given as PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."

count=${COUNT:-1000000}
malformed=${MALFORMED:-400}
port=${PORT:-19092}
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

echo "producing $count events and $malformed malformed records"
"$target/examples/load_events" "$brokers" events "$count" 4 "$malformed"

echo "ingesting into $work/lake"
/usr/bin/time -v "$target/eventlake" ingest --brokers "$brokers" --topic events --lake "$work/lake" \
  --schemas schemas --stop-at-end -X fetch.wait.max.ms=50 2>"$work/ingest.log" || {
  tail -20 "$work/ingest.log"
  exit 1
}
grep -E "done|Elapsed|Maximum resident|User time|System time" "$work/ingest.log"

echo "partition directories:"
find "$work/lake/events" -maxdepth 2 -type d -name 'event_date=*' | sed "s|$work/lake/events/||" | sort
"$python" tests/e2e/check_tables.py "$work/lake"
