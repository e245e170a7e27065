"""The delinquency step on Apache Spark, file to file: the bank's files in, Parquet results out.

This is the path for portfolios past one machine. It reads the ``statements*``, ``payments*`` and
``holds*`` files of a ledger folder in the bank-file formats (docs/file-formats.md; CSV or
Parquet, exactly what ``arrears sim portfolio`` writes), assesses every account with a statement on
or before the business date with :func:`arrears.delinquency.spark_engine.assess_portfolio_spark`
(the DuckDB SQL of the embedded engine, transpiled), and writes one Parquet file set per business
date::

    OUT/as_of=2026-11-28/part-*.parquet

Re-running a date overwrites that date's folder and nothing else. The files hold ``account_id``
(the bank's id) and the engine's figures (``OUTPUT_COLUMNS`` without the internal ``account_key``;
``as_of`` is the folder's partition value, so ``spark.read.parquet(OUT)`` or DuckDB's
``read_parquet('OUT/*/*.parquet', hive_partitioning = true)`` give it back as a column).

Paths are Spark paths: a local folder, ``hdfs://…``, ``s3a://…`` all work. A local folder is
listed here so a format mix-up is refused early; elsewhere ``fmt`` says which files to read.

What this path does not do (yet): it does not touch the operational store (no snapshots, bucket
changes or cases — the embedded cycle, ``arrears cycle``, does that), it knows no re-ages from
repayment plans (they live in the store), and it does not restate past dates for late files.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from arrears.config import get_settings
from arrears.delinquency.engine import OUTPUT_COLUMNS
from arrears.delinquency.model import DelinquencyRules
from arrears.kit.errors import ArrearsError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column, DataFrame, SparkSession

#: (file column, kind of value, engine column) read from each ledger file kind.
_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "statements": (("account_id", "text", "account_id"), ("statement_date", "date", "statement_date"),
                   ("due_date", "date", "due_date"), ("minimum_due_fen", "integer", "minimum_due"),
                   ("past_due_included_fen", "integer", "past_due_included")),
    "payments": (("account_id", "text", "account_id"), ("value_date", "date", "value_date"),
                 ("amount_fen", "integer", "amount")),
    "holds": (("account_id", "text", "account_id"), ("kind", "text", "kind"), ("start_date", "date", "start_date"),
              ("end_date", "date?", "end_date"), ("pauses_ageing", "boolean?", "pauses_ageing")),
}
_SPARK_TYPES = {"text": "string", "text?": "string", "date": "date", "date?": "date", "integer": "bigint",
                "boolean": "boolean", "boolean?": "boolean"}


class SparkInputError(ArrearsError):
    """An input file the Spark batch cannot read: names the file, the column and the problem."""


@dataclass
class SparkRunResult:
    business_date: date
    accounts: int
    delinquent_accounts: int
    output: str
    timings: dict[str, float] = field(default_factory=dict)


def spark_session(master: str = "local[2]", *, app_name: str = "arrears", shuffle_partitions: int | None = None,
                  conf: dict[str, str] | None = None) -> SparkSession:
    """A SparkSession for the batch (an existing one with the same master is reused by Spark)."""
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master(master).appName(app_name)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.showConsoleProgress", "false"))
    if shuffle_partitions is None and master.startswith("local"):
        shuffle_partitions = 8
    if master.startswith("local"):
        # Python workers (scoring) run this interpreter, with its packages; on a cluster set
        # PYSPARK_PYTHON to an environment that has arrears installed (docs/operations.md)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if shuffle_partitions:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def ledger_files(ledger_dir: str, kind: str, fmt: str | None) -> tuple[list[str], str]:
    """The files of ``kind`` (file name starting with it, any case) and their format (shared with the
    file cycle, :mod:`arrears.batch.filecycle`)."""
    if not _is_local(ledger_dir):
        fmt = fmt or "parquet"
        return [f"{ledger_dir.rstrip('/')}/{kind}*.{fmt}"], fmt
    folder = Path(ledger_dir.removeprefix("file://"))
    if not folder.is_dir():
        raise SparkInputError(f"{folder}: not a folder")
    found = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.name.lower().startswith(kind) and p.suffix.lower() in (".csv", ".parquet"))
    if fmt is not None:
        found = [p for p in found if p.suffix.lower() == f".{fmt}"]
    formats = {p.suffix.lower().lstrip(".") for p in found}
    if len(formats) > 1:
        raise SparkInputError(f"{folder}: {kind} files in both CSV and Parquet; keep one format per folder")
    return [str(p) for p in found], (formats.pop() if formats else fmt or "parquet")


def read_ledger_kind(spark: SparkSession, ledger_dir: str, kind: str, *, fmt: str | None = None,
                     validate: bool = True, columns: tuple[tuple[str, str, str], ...] | None = None) -> DataFrame:
    """One kind of ledger file as a DataFrame of the engine's columns (``account_id`` kept as text).

    A missing required column, or (with ``validate``) a value that is not of the column's type,
    raises :class:`SparkInputError` naming the file and the column.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    files, fmt = ledger_files(ledger_dir, kind, fmt)
    wanted = _COLUMNS[kind] if columns is None else columns
    if not files:
        if kind == "statements":
            raise SparkInputError(f"{ledger_dir}: no statements*.csv or statements*.parquet file")
        schema = T.StructType([T.StructField(eng, T._parse_datatype_string(_SPARK_TYPES[k]))
                               for _, k, eng in wanted])
        return spark.createDataFrame([], schema)

    reader = spark.read
    if fmt == "csv":
        # every column as text: the types are checked (and the file named) below, not guessed
        raw = reader.option("header", "true").option("encoding", "UTF-8").option("mode", "FAILFAST").csv(files)
    elif fmt == "parquet":
        raw = reader.parquet(*files)
    else:
        raise SparkInputError(f"unknown format {fmt!r}: use 'csv' or 'parquet'")
    raw = raw.withColumn("_file", F.input_file_name())
    present = {c.lower().lstrip("\ufeff"): c for c in raw.columns}

    cols = []
    # every check of every column in ONE pass over the files: (column, bad-row condition, message)
    checks: list[tuple[str, Column, str]] = []
    for name, typ, engine_name in wanted:
        optional = typ.endswith("?")
        if name not in present:
            if optional:
                cols.append(F.lit(None).cast(_SPARK_TYPES[typ]).alias(engine_name))
                continue
            raise SparkInputError(f"{files[0] if len(files) == 1 else ledger_dir + '/' + kind + '*'}, "
                                  f"column {name!r}: missing required column")
        src = F.col(f"`{present[name]}`")
        if fmt == "parquet":
            dtype = raw.schema[present[name]].dataType
            ok = {"text": (T.StringType,), "text?": (T.StringType,), "date": (T.DateType,), "date?": (T.DateType,),
                  "integer": (T.ByteType, T.ShortType, T.IntegerType, T.LongType),
                  "boolean": (T.BooleanType,), "boolean?": (T.BooleanType,)}[typ]
            if not isinstance(dtype, ok):
                raise SparkInputError(f"{files[0] if len(files) == 1 else ledger_dir + '/' + kind + '*'}, "
                                      f"column {name!r}: type {dtype.simpleString()}, expected {typ.rstrip('?')}")
            cols.append(src.cast(_SPARK_TYPES[typ]).alias(engine_name))
        else:
            text = F.trim(src)
            if typ.startswith("boolean"):
                low = F.lower(text)
                value = (F.when(low.isin("true", "1", "y"), F.lit(True))
                         .when(low.isin("false", "0", "n"), F.lit(False)))
            elif typ.startswith("date"):
                value = F.when(text.rlike(r"^\d{4}-\d{2}-\d{2}$"), F.expr(f"try_cast(trim(`{present[name]}`) AS DATE)"))
            elif typ == "integer":
                value = F.when(text.rlike(r"^-?\d{1,18}$"), text.cast("bigint"))
            else:
                value = src
            cols.append(value.alias(engine_name))
            if validate and typ != "text":
                checks.append((present[name], src.isNotNull() & (F.trim(src) != "") & value.isNull(),
                               "cannot read {value!r}"))
        if validate and not optional:
            checks.append((present[name], cols[-1].isNull(), "cannot read {value!r}"))
        if validate and name.endswith("_fen"):
            # the bound ingestion applies (ARREARS_MAX_AMOUNT_FEN): with it the engine's sums cannot overflow
            limit = get_settings().max_amount_fen
            checks.append((present[name], F.abs(cols[-1]) > F.lit(limit),
                           f"{{value}} fen is beyond the maximum amount of {limit} fen (ARREARS_MAX_AMOUNT_FEN)"))
    first_bad_rows(raw, checks)
    return raw.select(*cols)


def first_bad_rows(df: DataFrame, checks: list[tuple[str, Column, str]]) -> None:
    """Run every check in one aggregation (one pass over the files, not one job per check) and raise
    for the first check, in column order, that some row fails: naming the file, the column and the value."""
    from pyspark.sql import functions as F

    if not checks:
        return
    firsts = [F.first(F.when(bad, F.struct(F.col("_file").alias("file"),
                                           F.col(f"`{column}`").cast("string").alias("value"))),
                      ignorenulls=True).alias(f"check_{i}")
              for i, (column, bad, _) in enumerate(checks)]
    found = df.agg(*firsts).collect()[0]
    for i, (column, _, message) in enumerate(checks):
        hit = found[i]
        if hit is not None:
            raise SparkInputError(f"{hit['file']}, column {column!r}: {message.format(value=hit['value'])}")


def _keyed(df: DataFrame) -> DataFrame:
    """``account_key`` = a 64-bit hash of ``account_id`` (the engine partitions and joins on it)."""
    from pyspark.sql import functions as F

    return df.withColumn("account_key", F.xxhash64("account_id"))


@contextmanager
def _timer(timings: dict[str, float], name: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - t


def run_spark_delinquency(
    *,
    ledger_dir: str | Path,
    out_dir: str | Path,
    business_date: date,
    rules: DelinquencyRules,
    master: str = "local[2]",
    spark: SparkSession | None = None,
    fmt: str | None = None,
    validate: bool = True,
) -> SparkRunResult:
    """Assess the ledger in ``ledger_dir`` on ``business_date`` and write ``out_dir/as_of=<date>/``.

    ``spark`` is an existing session to use (``master`` is then ignored); without one, a session on
    ``master`` is created (and left for Spark to stop at exit).
    """
    from pyspark.sql import functions as F

    from arrears.delinquency.spark_engine import assess_portfolio_spark

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if spark is None:
        with _timer(timings, "start spark"):
            spark = spark_session(master)
    ledger, out = str(ledger_dir), str(out_dir).rstrip("/")

    with _timer(timings, "read and check files"):
        statements = _keyed(read_ledger_kind(spark, ledger, "statements", fmt=fmt, validate=validate))
        payments = _keyed(read_ledger_kind(spark, ledger, "payments", fmt=fmt, validate=validate))
        holds = read_ledger_kind(spark, ledger, "holds", fmt=fmt, validate=validate)
        # pauses_ageing: default true for disputes, false otherwise (docs/file-formats.md)
        holds = _keyed(holds.withColumn("pauses_ageing",
                                        F.coalesce("pauses_ageing", F.col("kind") == F.lit("dispute"))))
        ids = statements.select("account_id", "account_key").distinct().cache()
        clash = ids.groupBy("account_key").count().where("count > 1").limit(1).collect()
        if clash:  # 64-bit hash of a few million ids: astronomically unlikely, but never silent
            raise ArrearsError(f"two account ids share the hash {clash[0][0]}; cannot key this ledger")

    with _timer(timings, "assess and write"):
        result = assess_portfolio_spark(spark, statements, payments, holds, as_of_dates=[business_date], rules=rules)
        named = (result.join(ids, "account_key")
                 .select("account_id", *[c for c in OUTPUT_COLUMNS if c not in ("account_key", "as_of")]))
        target = f"{out}/as_of={business_date.isoformat()}"
        named.write.mode("overwrite").parquet(target)

    with _timer(timings, "summarise"):
        written = spark.read.parquet(target)
        row = written.agg(F.count(F.lit(1)), F.coalesce(F.sum(F.col("delinquent").cast("int")), F.lit(0))).collect()[0]
    ids.unpersist()
    timings["total"] = time.perf_counter() - t0
    return SparkRunResult(business_date=business_date, accounts=int(row[0]), delinquent_accounts=int(row[1]),
                          output=target, timings=timings)
