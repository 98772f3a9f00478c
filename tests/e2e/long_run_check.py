"""Checks a lake after tests/e2e/long_run.sh: the ingestor's metrics against the tables, files
per partition before and after `eventlake optimize`, query results unchanged by the
compaction, and the same results from DuckDB.

usage: long_run_check.py EVENTLAKE_BINARY LAKE_DIR METRICS_FILE PRODUCED_COUNT
"""

import collections
import csv
import io
import json
import os
import re
import subprocess
import sys

import deltalake

FINGERPRINT = """
    SELECT event_type, CAST(event_date AS VARCHAR) AS day, count(*) AS events,
           count(DISTINCT kafka_partition * 100000000 + kafka_offset) AS offsets,
           sum(event_id) AS ids, round(sum(event_data.temperature), 3) AS temperature
    FROM events GROUP BY 1, 2 ORDER BY 1, 2"""


def metrics(path):
    """Samples of the Prometheus text file as {(name, labels): value}."""
    samples = {}
    pattern = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
    with open(path) as text:
        for line in text:
            match = pattern.match(line.strip())
            if match:
                labels = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")))
                samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def labelled(samples, name, label):
    return {dict(labels)[label]: int(value)
            for (sample, labels), value in samples.items() if sample == name}


def log_writes(table_dir):
    """Number of WRITE commits and of files they added, read from the JSON commits."""
    log = os.path.join(table_dir, "_delta_log")
    commits = files = 0
    for name in os.listdir(log):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(log, name)) as commit:
            actions = [json.loads(line) for line in commit if line.strip()]
        if any(a.get("commitInfo", {}).get("operation") == "WRITE" for a in actions):
            commits += 1
            files += sum(1 for a in actions if "add" in a)
    return commits, files


def files_per_partition(table_dir):
    """Live data files per partition directory, from the files the table lists."""
    table = deltalake.DeltaTable(table_dir)
    return collections.Counter(os.path.dirname(uri) for uri in table.file_uris())


def eventlake_rows(binary, lake, sql):
    result = subprocess.run([binary, "sql", "--lake", lake, "--format", "csv", "-c", sql],
                            capture_output=True, text=True, check=True)
    return list(csv.reader(io.StringIO(result.stdout)))[1:]


def check(condition, message):
    print(("ok:     " if condition else "FAILED: ") + message)
    return 0 if condition else 1


def main():
    binary, lake, metrics_file, produced = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    samples = metrics(metrics_file)
    failures = 0

    # Metrics against the tables.
    rows = labelled(samples, "eventlake_rows_committed_total", "table")
    commits = labelled(samples, "eventlake_commits_total", "table")
    files = labelled(samples, "eventlake_files_written_total", "table")
    per_type = labelled(samples, "eventlake_events_committed_total", "event_type")
    per_reason = labelled(samples, "eventlake_rows_rejected_total", "reason")
    for name in ("events", "rejects"):
        table_dir = os.path.join(lake, name)
        table = deltalake.DeltaTable(table_dir)
        count = table.to_pyarrow_dataset().count_rows()
        write_commits, write_files = log_writes(table_dir)
        failures += check(rows.get(name) == count,
                          f"{name}: rows_committed {rows.get(name)} = {count} rows in the table")
        failures += check(commits.get(name) == write_commits,
                          f"{name}: commits {commits.get(name)} = {write_commits} WRITE commits "
                          f"(table version {table.version()})")
        failures += check(files.get(name) == write_files,
                          f"{name}: files_written {files.get(name)} = {write_files} files added by them")
    # Rows that a transform's check rejects come from records that are in events too.
    checked = sum(int(row[0]) for row in eventlake_rows(
        binary, lake, "SELECT count(*) FROM rejects WHERE reason_code = 'transform_check'"))
    total = rows.get("events", 0) + rows.get("rejects", 0) - checked
    failures += check(total == produced,
                      f"events + rejects other than transform checks = {total} = {produced} produced")
    by_type = {row[0]: int(row[1]) for row in eventlake_rows(
        binary, lake, "SELECT event_type, count(*) FROM events GROUP BY 1")}
    failures += check(per_type == by_type, f"events_committed per type {per_type} = {by_type}")
    by_reason = {row[0]: int(row[1]) for row in eventlake_rows(
        binary, lake, "SELECT reason_code, count(*) FROM rejects GROUP BY 1")}
    failures += check(per_reason == by_reason, f"rows_rejected per reason {per_reason} = {by_reason}")

    # Compaction: every partition is closed now.
    before = {name: files_per_partition(os.path.join(lake, name)) for name in ("events", "rejects")}
    fingerprint = eventlake_rows(binary, lake, FINGERPRINT)
    subprocess.run([binary, "optimize", "--lake", lake], check=True)
    after = {name: files_per_partition(os.path.join(lake, name)) for name in ("events", "rejects")}
    for name in ("events", "rejects"):
        print(f"{name}: {sum(before[name].values())} files in {len(before[name])} partitions "
              f"before optimize, {sum(after[name].values())} after; most in one partition: "
              f"{max(before[name].values())} before, {max(after[name].values())} after")
        failures += check(max(after[name].values()) <= 2,
                          f"{name}: at most 2 files per partition after optimize")
    failures += check(eventlake_rows(binary, lake, FINGERPRINT) == fingerprint,
                      "per type and day: counts, offsets, ids and temperature unchanged by optimize")

    # The shell and DuckDB agree on the compacted tables.
    script_dir = os.path.dirname(os.path.abspath(__file__))
    compare = subprocess.run([sys.executable, os.path.join(script_dir, "compare_queries.py"), binary, lake])
    failures += check(compare.returncode == 0, "DuckDB delta_scan and eventlake sql give the same answers")

    print(f"{failures} check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
