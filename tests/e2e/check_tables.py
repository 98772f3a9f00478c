"""Reads the events and rejects tables with Python deltalake and prints their fingerprints.

Usage: python check_tables.py LAKE_DIR
"""

import sys

from deltalake import DeltaTable


def main() -> int:
    lake = sys.argv[1]
    events = DeltaTable(f"{lake}/events").to_pyarrow_table(
        columns=["event_type", "event_date", "kafka_partition", "kafka_offset"]
    )
    rejects = DeltaTable(f"{lake}/rejects").to_pyarrow_table(
        columns=["reason_code", "kafka_partition", "kafka_offset"]
    )

    event_keys = set(zip(events["kafka_partition"].to_pylist(), events["kafka_offset"].to_pylist()))
    reject_keys = set(zip(rejects["kafka_partition"].to_pylist(), rejects["kafka_offset"].to_pylist()))
    print(f"events rows={events.num_rows} distinct_offsets={len(event_keys)}")
    print(f"rejects rows={rejects.num_rows} distinct_offsets={len(reject_keys)}")
    print(f"offsets in both tables={len(event_keys & reject_keys)}")

    per_type: dict[str, int] = {}
    for event_type in events["event_type"].to_pylist():
        per_type[event_type] = per_type.get(event_type, 0) + 1
    print("events per type:", dict(sorted(per_type.items())))

    per_reason: dict[str, int] = {}
    for code in rejects["reason_code"].to_pylist():
        per_reason[code] = per_reason.get(code, 0) + 1
    print("rejects per reason:", dict(sorted(per_reason.items())))

    duplicates = events.num_rows - len(event_keys) + rejects.num_rows - len(reject_keys)
    return 1 if duplicates or event_keys & reject_keys else 0


if __name__ == "__main__":
    sys.exit(main())
