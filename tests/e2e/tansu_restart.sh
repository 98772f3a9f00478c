#!/usr/bin/env bash
# Broker restarts under load: Tansu with sqlite storage on loopback is killed and started
# again RESTARTS times while `eventlake produce` sends at RATE records a second and
# `eventlake ingest` runs with the shipped transforms. Then the ingestor catches up, and the
# check is that every delivered record is stored exactly once.
#
# Needs: tansu on PATH (cargo install tansu --version 0.6.0 --locked --features dynostore,libsql).
set -euo pipefail
cd "$(dirname "$0")/../.."

restarts=${RESTARTS:-3}
rate=${RATE:-300}
port=${PORT:-19093}
profile=${PROFILE:-dev}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
brokers="127.0.0.1:$port"

cargo build --profile "$profile" --bin eventlake
target="target/$profile"
[ "$profile" = dev ] && target=target/debug
eventlake="$target/eventlake"

# Tansu reads the path after sqlite:// without its leading slash, so an absolute path needs
# a third slash before it.
start_broker() {
  tansu broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" \
    --storage-engine "sqlite:///$work/tansu.db" >>"$work/broker.log" 2>&1 &
  broker=$!
  # The broker accepts connections once its port is open.
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "tansu did not open port $port; see $work/broker.log" >&2
  exit 1
}
cleanup() {
  kill "${producer:-}" "${ingestor:-}" "${broker:-}" 2>/dev/null || true
}
trap cleanup EXIT

start_broker
tansu topic create --broker "tcp://$brokers" --partitions 4 events

"$eventlake" produce --brokers "$brokers" --topic events --rate "$rate" --malformed 1% \
  -X enable.idempotence=true 2>"$work/produce.log" &
producer=$!
"$eventlake" ingest --brokers "$brokers" --topic events --lake "$work/lake" --schemas schemas \
  --sql sql --flush-interval 1s --metrics-address off -X fetch.wait.max.ms=50 \
  2>"$work/ingest.log" &
ingestor=$!

for restart in $(seq 1 "$restarts"); do
  sleep 10
  echo "restart $restart: killing the broker"
  kill -9 "$broker"
  wait "$broker" 2>/dev/null || true
  sleep 3
  start_broker
done
sleep 10

kill -TERM "$producer"
wait "$producer"
delivered=$(grep -o 'produced [0-9]* records' "$work/produce.log" | grep -o '[0-9]*')
kill -TERM "$ingestor"
wait "$ingestor" || { echo "the ingestor failed:"; tail -20 "$work/ingest.log"; exit 1; }
"$eventlake" ingest --brokers "$brokers" --topic events --lake "$work/lake" --schemas schemas \
  --sql sql --stop-at-end --metrics-address off -X fetch.wait.max.ms=50 2>>"$work/ingest.log"

read -r stored distinct < <("$eventlake" sql --lake "$work/lake" --format tsv -c "
  SELECT count(*), count(DISTINCT kafka_partition * 100000000 + kafka_offset) FROM (
    SELECT kafka_partition, kafka_offset FROM events
    UNION ALL
    SELECT kafka_partition, kafka_offset FROM rejects WHERE reason_code <> 'transform_check')" |
  tail -n 1)
echo "tansu restarts: $restarts, delivered $delivered, stored $stored, lost $((delivered - distinct)), duplicated $((stored - distinct))"
[ "$distinct" = "$delivered" ] && [ "$stored" = "$distinct" ]
