"""Times the query benchmark's statements in DuckDB over the same Delta tables.

Usage: query_duckdb.py LAKE QUERIES.json RUNS

QUERIES.json is a list of [name, sql]. Each table of the lake becomes a view over
delta_scan, so the statements read as in eventlake. Prints JSON: per query, the best time of
RUNS runs in milliseconds (after one warm-up run) and the number of result rows.
"""

import json
import pathlib
import sys
import time

import duckdb
import duckdb_extension_delta


def main():
    lake = pathlib.Path(sys.argv[1])
    queries = json.loads(pathlib.Path(sys.argv[2]).read_text())
    runs = int(sys.argv[3])

    connection = duckdb.connect()
    connection.execute("SET autoinstall_known_extensions=false")
    connection.execute("SET autoload_known_extensions=false")
    extension = next(pathlib.Path(duckdb_extension_delta.__file__).parent.glob(
        f"extensions/v{duckdb.__version__}/delta.duckdb_extension"))
    connection.execute(f"LOAD '{extension}'")
    connection.execute("SET TimeZone='UTC'")
    for table in sorted(path.parent.name for path in lake.glob("*/_delta_log")):
        connection.execute(
            f"CREATE VIEW {table} AS SELECT * FROM delta_scan('{lake / table}')")

    results = {}
    for name, sql in queries:
        rows = len(connection.execute(sql).fetchall())
        best = float("inf")
        for _ in range(runs):
            started = time.perf_counter()
            connection.execute(sql).fetchall()
            best = min(best, time.perf_counter() - started)
        results[name] = {"ms": best * 1000, "rows": rows}
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
