"""Runs the same analytic queries with `eventlake sql` and with DuckDB's delta_scan over one
lake and compares the results row by row.

usage: compare_queries.py EVENTLAKE_BINARY LAKE_DIR
"""

import csv
import datetime
import io
import json
import os
import subprocess
import sys

import duckdb
import duckdb_extension_delta

# Each query names its tables as {events}, {rejects}, or {events_at_first} and
# {events_at_first_time}: the first append, by version and by its commit time. Floats are rounded in SQL, since the two engines add in
# different orders.
QUERIES = {
    "counts per type and day": """
        SELECT event_type, CAST(event_date AS VARCHAR) AS day, count(*) AS events
        FROM {events} GROUP BY 1, 2 ORDER BY 1, 2""",
    "per-sensor average temperature over a time range": """
        SELECT event_data.sensor_id AS sensor, count(*) AS readings,
               round(avg(event_data.temperature), 6) AS temperature
        FROM {events}
        WHERE event_type = 'sensor_data'
          AND event_time >= TIMESTAMP '2024-12-05 06:00:00'
          AND event_time < TIMESTAMP '2024-12-05 18:00:00'
        GROUP BY 1 ORDER BY 1""",
    "top 10 readings": """
        SELECT event_id, event_data.sensor_id AS sensor, event_data.temperature AS temperature,
               kafka_partition, kafka_offset
        FROM {events}
        WHERE event_type = 'sensor_data'
        ORDER BY temperature DESC, event_id, kafka_partition, kafka_offset
        LIMIT 10""",
    "top 5 users by purchase amount": """
        SELECT event_data.user_id AS user_id, round(sum(event_data.amount), 2) AS spent,
               count(*) AS purchases
        FROM {events}
        WHERE event_type = 'user_action' AND event_data.action = 'purchase'
        GROUP BY 1 ORDER BY spent DESC, user_id LIMIT 5""",
    "device status shares": """
        SELECT event_data.status AS status, count(*) AS events,
               count(DISTINCT event_data.device_id) AS devices
        FROM {events} WHERE event_type = 'device_status' GROUP BY 1 ORDER BY 1""",
    "events just before each kind of reject (join)": """
        SELECT r.reason_code, count(*) AS rejects, sum(e.event_id) AS event_ids
        FROM {rejects} r
        JOIN {events} e
          ON e.kafka_partition = r.kafka_partition AND e.kafka_offset = r.kafka_offset - 1
        GROUP BY 1 ORDER BY 1""",
    "rejects per reason": """
        SELECT reason_code, count(*) AS rejects FROM {rejects} GROUP BY 1 ORDER BY 1""",
    "time travel to the first append, by version": """
        SELECT event_type, count(*) AS events, min(kafka_offset) AS first, max(kafka_offset) AS last
        FROM {events_at_first} GROUP BY 1 ORDER BY 1""",
    "time travel to the first append, by time": """
        SELECT event_type, count(*) AS events, sum(event_id) AS ids
        FROM {events_at_first_time} GROUP BY 1 ORDER BY 1""",
}


def first_append(lake):
    """The version and commit time (UTC, RFC 3339) of the first WRITE commit of `events`."""
    log = os.path.join(lake, "events", "_delta_log")
    for name in sorted(n for n in os.listdir(log) if n.endswith(".json")):
        with open(os.path.join(log, name)) as commit:
            for line in commit:
                info = json.loads(line).get("commitInfo")
                if info and info.get("operation") == "WRITE":
                    when = datetime.datetime.fromtimestamp(
                        info["timestamp"] / 1000, tz=datetime.timezone.utc)
                    return int(name.split(".")[0]), when.isoformat(timespec="milliseconds")
    raise SystemExit("events has no WRITE commit")


def normalize(value):
    """Text both engines agree on: numbers compared as numbers, NULL as None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return repr(round(number, 6))


def same_rows(expected, actual):
    """Equal rows, where numbers may differ by one in the sixth decimal: each engine adds
    floating-point values in its own order, so a rounded average can land either side."""
    if len(expected) != len(actual):
        return False
    for left, right in zip(expected, actual):
        if len(left) != len(right):
            return False
        for a, b in zip(left, right):
            if a == b:
                continue
            try:
                if abs(float(a) - float(b)) <= 1.5e-6 * max(1.0, abs(float(a))):
                    continue
            except (TypeError, ValueError):
                pass
            return False
    return True


def eventlake_rows(binary, lake, sql):
    result = subprocess.run(
        [binary, "sql", "--lake", lake, "--format", "csv", "-c", sql],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"eventlake failed on {sql!r}: {result.stderr.strip()}")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    return [[normalize(v) for v in row] for row in rows[1:]]


def duckdb_rows(connection, sql):
    return [[normalize(v) for v in row] for row in connection.sql(sql).fetchall()]


def main():
    binary, lake = sys.argv[1], os.path.abspath(sys.argv[2])
    version, committed_at = first_append(lake)
    extension = os.path.join(
        os.path.dirname(duckdb_extension_delta.__file__),
        "extensions", "v1.5.5", "delta.duckdb_extension",
    )
    connection = duckdb.connect()
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute(f"LOAD '{extension}'")
    connection.execute("SET TimeZone = 'UTC'")

    ours = {"events": "events", "rejects": "rejects",
            "events_at_first": f'"events@v{version}"',
            "events_at_first_time": f'"events@{committed_at}"'}
    theirs = {"events": f"delta_scan('{lake}/events')",
              "rejects": f"delta_scan('{lake}/rejects')",
              "events_at_first": f"delta_scan('{lake}/events', version => {version})",
              "events_at_first_time": f"delta_scan('{lake}/events', version => {version})"}

    failures = 0
    for name, query in QUERIES.items():
        expected = duckdb_rows(connection, query.format(**theirs))
        actual = eventlake_rows(binary, lake, query.format(**ours))
        same = same_rows(expected, actual)
        failures += not same
        print(f"{'same' if same else 'DIFFERENT'}: {name} ({len(actual)} rows)")
        if not same:
            print(f"  duckdb:    {expected[:5]}")
            print(f"  eventlake: {actual[:5]}")
    print(f"events now and at version {version} ({committed_at}) compared; "
          f"{failures} of {len(QUERIES)} differ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
