"""Fingerprints of eventlake's tables as other engines read them.

Usage: fingerprints.py REQUEST.json

The request names lake directories (one per state of the lake, such as "ingested" or
"optimized") and, per table, the columns to fingerprint:

    {"lakes": {"ingested": "/path/lake"},
     "tables": [{"table": "events", "group": "event_type", "sums": ["kafka_offset"],
                 "floats": [], "times": ["event_time"]}]}

For each reader the script prints, as JSON on standard output,
{reader: {state: {table: fingerprint}}}. A fingerprint contains the row count, the row count
per value of the group column (as text, null as null), the sums of integer and float
columns, and the minimum and maximum of timestamp columns in microseconds since 1970.

The readers are Python deltalake with pyarrow, polars, DuckDB's delta extension, and Spark.
Spark has no Delta reader here, so it reads the Parquet files that the Delta log lists as
live. basePath brings the partition columns back from the directory names, and non-ASCII
partition values are decoded from Latin-1 back to UTF-8.
"""

import json
import os
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable


def group_pairs(pairs):
    """Sorts (value, count) pairs with null first, so that every reader lists them alike."""
    return sorted(([value, int(count)] for value, count in pairs),
                  key=lambda pair: (pair[0] is not None, pair[0] or ""))


def from_deltalake(path, spec):
    table = DeltaTable(path).to_pyarrow_table()
    result = {"rows": table.num_rows}
    group = spec.get("group")
    if group:
        keys = pc.cast(table[group], pa.string())
        counts = pa.table({"key": keys}).group_by("key").aggregate([([], "count_all")])
        result["groups"] = group_pairs(zip(counts["key"].to_pylist(),
                                           counts["count_all"].to_pylist()))
    result["sums"] = {column: pc.sum(table[column]).as_py() for column in spec["sums"]}
    result["floats"] = {column: pc.sum(table[column]).as_py() for column in spec["floats"]}
    times = {}
    for column in spec["times"]:
        values = table[column]
        micros = pc.cast(pc.cast(values, pa.timestamp("us", values.type.tz)), pa.int64())
        extremes = pc.min_max(micros)
        times[column] = [extremes["min"].as_py(), extremes["max"].as_py()]
    result["times"] = times
    return result


def from_polars(path, spec):
    frame = pl.read_delta(path)
    result = {"rows": frame.height}
    group = spec.get("group")
    if group:
        counts = frame.group_by(pl.col(group).cast(pl.String).alias("key")).len()
        result["groups"] = group_pairs(zip(counts["key"].to_list(), counts["len"].to_list()))
    result["sums"] = {column: frame[column].sum() for column in spec["sums"]}
    result["floats"] = {column: frame[column].sum() for column in spec["floats"]}
    result["times"] = {
        column: [frame[column].dt.epoch("us").min(), frame[column].dt.epoch("us").max()]
        for column in spec["times"]
    }
    return result


def from_sql(run, source, spec, text_type, micros_function):
    """Fingerprints with SQL, for DuckDB and Spark: `run` returns a query's rows."""
    result = {"rows": run(f"SELECT count(*) FROM {source}")[0][0]}
    group = spec.get("group")
    if group:
        result["groups"] = group_pairs(run(
            f"SELECT CAST({group} AS {text_type}), count(*) FROM {source} GROUP BY 1"))
    result["sums"] = {column: run(f"SELECT sum({column}) FROM {source}")[0][0]
                      for column in spec["sums"]}
    result["floats"] = {column: run(f"SELECT sum({column}) FROM {source}")[0][0]
                        for column in spec["floats"]}
    result["times"] = {
        column: list(run(f"SELECT {micros_function}(min({column})), "
                         f"{micros_function}(max({column})) FROM {source}")[0])
        for column in spec["times"]
    }
    return result


def duckdb_connection():
    """Opens DuckDB with the delta extension of the installed wheel; it never downloads."""
    connection = duckdb.connect()
    connection.execute("SET autoinstall_known_extensions=false")
    connection.execute("SET autoload_known_extensions=false")
    import duckdb_extension_delta
    extension = next(Path(duckdb_extension_delta.__file__).parent.glob(
        f"extensions/v{duckdb.__version__}/delta.duckdb_extension"))
    connection.execute(f"LOAD '{extension}'")
    connection.execute("SET TimeZone='UTC'")
    return connection


def from_duckdb(connection, path, spec):
    run = lambda sql: connection.execute(sql).fetchall()
    source = f"delta_scan('{path}')"
    return from_sql(run, source, spec, "VARCHAR", "epoch_us")


def spark_session():
    from pyspark.sql import SparkSession
    return (SparkSession.builder.master("local[1]")
            .appName("eventlake-interop")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .getOrCreate())


def from_spark(spark, path, spec, view):
    from pyspark.sql import functions as F

    # Only the files that the Delta log lists as live: files removed by a compaction stay on
    # disk until a vacuum, and reading them too would count their rows twice.
    table = DeltaTable(path)
    frame = spark.read.option("basePath", path).parquet(*table.file_uris())
    # Directory names percent-encode the UTF-8 bytes of non-ASCII partition values, and
    # Spark's partition discovery decodes each escape as one Latin-1 character. Encoding the
    # text back to Latin-1 bytes and reading them as UTF-8 restores the value.
    for column in table.metadata().partition_columns:
        frame = frame.withColumn(
            column, F.decode(F.encode(F.col(column), "ISO-8859-1"), "UTF-8"))
    frame.createOrReplaceTempView(view)
    run = lambda sql: [tuple(row) for row in spark.sql(sql).collect()]
    return from_sql(run, view, spec, "STRING", "unix_micros")


def main():
    request = json.loads(Path(sys.argv[1]).read_text())
    lakes = request["lakes"]
    tables = request["tables"]

    def each(read):
        return {state: {spec["table"]: read(os.path.join(lake, spec["table"]), spec)
                        for spec in tables}
                for state, lake in lakes.items()}

    connection = duckdb_connection()
    spark = spark_session()
    spark.sparkContext.setLogLevel("ERROR")
    views = iter(range(1_000_000))
    output = {
        "deltalake": each(from_deltalake),
        "polars": each(from_polars),
        "duckdb": each(lambda path, spec: from_duckdb(connection, path, spec)),
        "spark": each(lambda path, spec: from_spark(spark, path, spec, f"t{next(views)}")),
    }
    spark.stop()
    json.dump(output, sys.stdout, default=str)


if __name__ == "__main__":
    main()
