"""Compares each processed table with its SQL file run by DuckDB over the raw table, and the
rows in rejects from a transform's check with the rows that fail it.

usage: compare_transforms.py LAKE_DIR SQL_DIR

Each table read with delta_scan must equal, row for row (EXCEPT ALL both ways), the file's
SELECT run over delta_scan of `events`, less the rows with a reject_reason. Floating-point
columns are rounded to 9 digits, since the engines add in different orders.
"""

import os
import sys

import duckdb
import duckdb_extension_delta


def main():
    lake, sql_dir = os.path.abspath(sys.argv[1]), sys.argv[2]
    extension = os.path.join(
        os.path.dirname(duckdb_extension_delta.__file__),
        "extensions", "v1.5.5", "delta.duckdb_extension",
    )
    connection = duckdb.connect()
    connection.execute("SET autoinstall_known_extensions = false")
    connection.execute(f"LOAD '{extension}'")
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE VIEW events AS SELECT * FROM delta_scan('{lake}/events')")

    failures = 0
    for name in sorted(f[:-4] for f in os.listdir(sql_dir) if f.endswith(".sql")):
        with open(os.path.join(sql_dir, f"{name}.sql")) as file:
            select = file.read().strip().rstrip(";")
        table = f"delta_scan('{lake}/{name}')"
        described = connection.sql(f"DESCRIBE SELECT * FROM {table}").fetchall()
        columns = ", ".join(
            f"round({column}, 9) AS {column}" if kind in ("DOUBLE", "FLOAT") else column
            for column, kind, *_ in described)
        checked = "reject_reason" in select
        where = " WHERE reject_reason IS NULL" if checked else ""
        expected = f"SELECT {columns} FROM ({select}){where}"
        actual = f"SELECT {columns} FROM {table}"
        rows = connection.sql(f"SELECT count(*) FROM {table}").fetchone()[0]
        expected_rows = connection.sql(f"SELECT count(*) FROM ({expected})").fetchone()[0]
        missing = connection.sql(
            f"SELECT count(*) FROM (({expected}) EXCEPT ALL ({actual}))").fetchone()[0]
        extra = connection.sql(
            f"SELECT count(*) FROM (({actual}) EXCEPT ALL ({expected}))").fetchone()[0]
        same = rows == expected_rows and missing == 0 and extra == 0
        failures += not same
        print(f"{'same' if same else 'DIFFERENT'}: {name}: {rows} rows in the table, "
              f"{expected_rows} from the SQL over events; {missing} missing, {extra} extra")
        if checked:
            rejected = connection.sql(
                f"SELECT count(*) FROM delta_scan('{lake}/rejects') "
                f"WHERE reason_code = 'transform_check' AND reason LIKE '{name}: %'").fetchone()[0]
            failing = connection.sql(
                f"SELECT count(*) FROM ({select}) WHERE reject_reason IS NOT NULL").fetchone()[0]
            same = rejected == failing
            failures += not same
            print(f"{'same' if same else 'DIFFERENT'}: {name} check: {rejected} rows in rejects "
                  f"with its reason, {failing} rows fail it over events")
    print(f"{failures} comparison(s) differ")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
