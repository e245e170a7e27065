"""The daily cycle file to file — delinquency, features, scoring, segmentation and treatment
selection — on DuckDB (one machine) or on Apache Spark (a cluster), with the same result.

The embedded cycle (``arrears cycle``) works on the operational store. This is the path for a
portfolio kept as files: the bank's ledger files in (``arrears sim portfolio`` writes them; see
docs/file-formats.md), Parquet out, nothing written to the store. One text drives both engines:
every stage is SQL in DuckDB's dialect — the delinquency SQL of
:mod:`arrears.delinquency.sql_engine`, the feature view of :mod:`arrears.strategy.features`, the
choice of :mod:`arrears.strategy.selection_sql` — run as it is on DuckDB and translated by SQLGlot
for Spark. Two parts are written per engine because the engines' functions differ: the experiment
hash (:func:`arrears.strategy.experiments.assignment_sql`) and the time-zone conversion of
interaction times; and scoring runs the same LightGBM model in Python on both (Arrow batches on
DuckDB, ``mapInArrow`` on the Spark executors).

Inputs
======

``LEDGER`` holds the bank's ``customers*``, ``accounts*``, ``statements*``, ``payments*`` and
``holds*`` files (CSV or Parquet, one format per kind). Every statement, payment and hold must name
an account of the accounts files. Optional ``STATE`` holds the collections state the store keeps
(``cases``, ``interactions``, ``promises``, ``plans``, ``hold_reviews`` as Parquet; see
docs/operations.md for their columns); without it the case, contact, promise and plan features are
empty. Yesterday's segment entry dates (and, without a model, yesterday's scores) are read from
the output folder itself: the latest earlier ``as_of`` there.

Outputs, one folder per business date (re-running a date replaces it)::

    OUT/delinquency/as_of=D/   every account with a statement: the delinquency engine's figures
    OUT/features/as_of=D/      the feature view of the accounts in collections
    OUT/scores/as_of=D/        their behaviour scores (with a model)
    OUT/treatments/as_of=D/    one row per treated account: strategy, version, segment, since, arm
    OUT/actions/as_of=D/       one row per action due today

Accounts in collections are those past due or charged off on the date, or with an open case in
``STATE`` — the accounts the store's cycle keeps a snapshot or a case for. ``account_id`` in the
outputs is the account's rank by account number in this run's accounts files (the engines' common
key); ``account_ref`` is the bank's number and the key to join on.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from arrears.delinquency.engine import OUTPUT_COLUMNS
from arrears.delinquency.model import DelinquencyRules
from arrears.delinquency.sql_engine import portfolio_sql
from arrears.kit.errors import ArrearsError
from arrears.strategy.features import FEATURE_SCHEMA, feature_sql
from arrears.strategy.selection_sql import (
    ACTION_COLUMNS,
    TREATMENT_COLUMNS,
    actions_sql,
    arms_sql,
    chosen_sql,
    paths_table,
)

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

ENGINES = ("duckdb", "spark")
OUTPUTS = ("delinquency", "features", "scores", "treatments", "actions")

#: (file column, kind of value, name in the cycle) of each ledger file kind; "?" = optional column.
LEDGER_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "customers": (("customer_id", "text", "customer_ref"), ("national_id", "text", "national_id"),
                  ("language", "text?", "language")),
    "accounts": (("account_id", "text", "account_ref"), ("customer_id", "text", "customer_ref"),
                 ("product", "text", "product"), ("credit_limit_fen", "integer", "credit_limit"),
                 ("status", "text", "account_status"), ("opened_on", "date", "opened_on")),
    "statements": (("account_id", "text", "account_ref"), ("statement_date", "date", "statement_date"),
                   ("due_date", "date", "due_date"), ("new_balance_fen", "integer", "new_balance"),
                   ("minimum_due_fen", "integer", "minimum_due"),
                   ("past_due_included_fen", "integer", "past_due_included")),
    "payments": (("account_id", "text", "account_ref"), ("value_date", "date", "value_date"),
                 ("amount_fen", "integer", "amount")),
    "holds": (("account_id", "text", "account_ref"), ("kind", "text", "kind"), ("start_date", "date", "start_date"),
              ("end_date", "date?", "end_date"), ("pauses_ageing", "boolean?", "pauses_ageing")),
}
REQUIRED_KINDS = ("customers", "accounts", "statements")

#: (column, kind of value) of each optional state file (Parquet); "?" = may be null.
STATE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "cases": (("case_id", "integer"), ("account_id", "text"), ("status", "text"), ("opened_on", "date"),
              ("reopened_on", "date?")),
    "interactions": (("case_id", "integer"), ("started_at", "timestamp"), ("outcome", "text?"),
                     ("direction", "text"), ("party", "text?")),
    "promises": (("case_id", "integer"), ("status", "text"), ("promised_date", "date"), ("created_on", "date")),
    "plans": (("agreement_id", "integer"), ("account_id", "text"), ("status", "text"), ("start_date", "date")),
    "hold_reviews": (("case_id", "integer"), ("status", "text")),
}
_DUCK_TYPES = {"text": "VARCHAR", "integer": "BIGINT", "date": "DATE", "boolean": "BOOLEAN",
               "timestamp": "TIMESTAMPTZ"}
_ARROW_OK = {"text": (pa.types.is_string, pa.types.is_large_string), "integer": (pa.types.is_integer,),
             "date": (pa.types.is_date32,), "boolean": (pa.types.is_boolean,),
             "timestamp": (pa.types.is_timestamp,)}


class FileCycleError(ArrearsError):
    """An input the file cycle cannot use: names the file, the row where known, and the column."""


@dataclass
class FileCycleResult:
    business_date: date
    engine: str
    output: str
    accounts: int = 0
    in_collections: int = 0
    scored: int = 0
    model: str | None = None
    treated: int = 0
    actions: int = 0
    #: treated accounts by (strategy, segment)
    segments: dict[tuple[str, str], int] = field(default_factory=dict)
    #: treated accounts by (experiment, arm)
    arms: dict[tuple[str, str], int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        segs = ", ".join(f"{s}/{g} {n:,}" for (s, g), n in sorted(self.segments.items())) or "none"
        arms = "".join(f"; {e}/{a} {n:,}" for (e, a), n in sorted(self.arms.items()))
        scored = f"{self.scored:,} scored ({self.model}), " if self.model else ""
        return (f"{self.business_date} on {self.engine}: {self.accounts:,} accounts assessed, "
                f"{self.in_collections:,} in collections, {scored}{self.treated:,} treated ({segs}{arms}), "
                f"{self.actions:,} actions due. Output: {self.output}")


# -- the stages, as SQL in DuckDB's dialect ---------------------------------------------------------

def _d(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def _stage_sql(business_date: date, rules: DelinquencyRules) -> list[tuple[str, str]]:
    """(relation, SQL) of the stages up to the feature view, in order. Inputs: ``customers_in``,
    ``accounts_in``, ``statements_in``, ``payments_in``, ``holds_in``, the state relations
    (``cases_in``, ``contact_in`` with ``on_date``, ``promises_in``, ``plans_in``, ``reviews_in``) and
    ``previous_scores`` (``account_ref, as_of, score``)."""
    bd = _d(business_date)
    current = rules.buckets.lookup(0).replace("'", "''")
    open_states = "', '".join(_open_states())
    delinquency = portfolio_sql(as_of_dates=[business_date], rules=rules, statements="statements",
                                payments="payments", holds="holds")
    return [
        ("keys", "SELECT account_ref, CAST(row_number() OVER (ORDER BY account_ref) AS BIGINT) AS account_id "
                 "FROM accounts_in"),
        ("statements", "SELECT k.account_id AS account_key, s.statement_date, s.due_date, s.new_balance, "
                       "s.minimum_due, s.past_due_included FROM statements_in s JOIN keys k "
                       "ON k.account_ref = s.account_ref"),
        ("payments", "SELECT k.account_id AS account_key, p.value_date, p.amount FROM payments_in p JOIN keys k "
                     "ON k.account_ref = p.account_ref"),
        ("holds", "SELECT k.account_id AS account_key, h.kind, h.start_date, h.end_date, "
                  "coalesce(h.pauses_ageing, h.kind = 'dispute') AS pauses_ageing FROM holds_in h JOIN keys k "
                  "ON k.account_ref = h.account_ref"),
        ("assessed", f"SELECT {', '.join(OUTPUT_COLUMNS)} FROM ({delinquency}) AS d"),
        ("cases", "SELECT c.case_id, k.account_id, c.status, c.status IN ('" + open_states + "') AS is_open, "
                  "c.opened_on, c.reopened_on FROM cases_in c JOIN keys k ON k.account_ref = c.account_ref"),
        ("scope", "SELECT account_key AS account_id FROM assessed WHERE dpd > 0 OR amount_past_due > 0 OR charge_off "
                  "UNION SELECT account_id FROM cases WHERE is_open"),
        ("acc", "SELECT k.account_id, a.account_ref, a.product, a.account_status, "
                "coalesce(c.language, 'zh_CN') AS language, substr(c.national_id, 1, 2) AS id_prefix, a.opened_on, "
                "a.credit_limit FROM accounts_in a JOIN keys k ON k.account_ref = a.account_ref "
                "JOIN scope s ON s.account_id = k.account_id "
                "LEFT JOIN customers_in c ON c.customer_ref = a.customer_ref"),
        ("snap", "SELECT d.account_key AS account_id, d.dpd, d.bucket, d.cycles_delinquent, d.amount_past_due, "
                 "d.charge_off FROM assessed d JOIN scope s ON s.account_id = d.account_key "
                 "WHERE d.dpd > 0 OR d.amount_past_due > 0 OR d.charge_off"),
        ("stmt", f"SELECT s.account_key AS account_id, s.statement_date, s.new_balance, s.minimum_due "
                 f"FROM statements s JOIN scope c ON c.account_id = s.account_key WHERE s.statement_date <= {bd}"),
        ("pay", f"SELECT p.account_key AS account_id, p.value_date, p.amount "
                f"FROM payments p JOIN scope c ON c.account_id = p.account_key WHERE p.value_date <= {bd}"),
        ("hold", f"SELECT h.account_key AS account_id, h.kind FROM holds h JOIN scope c ON c.account_id = h.account_key "
                 f"WHERE h.start_date <= {bd} AND (h.end_date IS NULL OR h.end_date >= {bd})"),
        ("review", "SELECT c.account_id FROM reviews_in r JOIN cases c ON c.case_id = r.case_id "
                   "WHERE r.status = 'pending'"),
        ("contact", "SELECT c.account_id, i.started_s, i.outcome, i.direction, i.party, i.on_date "
                    "FROM contact_in i JOIN cases c ON c.case_id = i.case_id"),
        ("promise", "SELECT c.account_id, p.status, p.promised_date, p.created_on "
                    "FROM promises_in p JOIN cases c ON c.case_id = p.case_id"),
        ("plan", f"SELECT k.account_id, p.agreement_id AS id, p.status FROM plans_in p "
                 f"JOIN keys k ON k.account_ref = p.account_ref "
                 f"WHERE p.status NOT IN ('superseded', 'cancelled') AND p.start_date <= {bd}"),
        ("score", f"SELECT k.account_id, s.as_of, s.score FROM previous_scores s JOIN keys k "
                  f"ON k.account_ref = s.account_ref WHERE s.as_of <= {bd}"),
        ("features_pre", feature_sql(business_date, current)),
        ("score_inputs", "SELECT f.account_id, f.account_ref, f.dpd, f.bucket, greatest(f.balance, 0) AS balance_fen, "
                         "f.credit_limit AS credit_limit_fen, coalesce(f.utilisation_bp, 0) AS utilisation_bp, "
                         "f.payments_90d_fen AS payments_3m_fen, f.payments_count_90d AS payments_count_3m, "
                         "coalesce(m.min_due, 0) AS min_due_fen, f.months_on_book, f.cycles_delinquent "
                         "FROM features_pre f LEFT JOIN (SELECT s.account_id, max(s.minimum_due) AS min_due FROM stmt s "
                         "JOIN (SELECT account_id, max(statement_date) AS d FROM stmt GROUP BY account_id) l "
                         "ON l.account_id = s.account_id AND l.d = s.statement_date GROUP BY s.account_id) m "
                         "ON m.account_id = f.account_id"),
    ]


def _open_states() -> tuple[str, ...]:
    from arrears.cases.model import OPEN_STATES

    return OPEN_STATES


def _features_with_scores(have_scores: bool) -> str:
    cols = ", ".join(("CAST(s.score AS BIGINT) AS behaviour_score" if c == "behaviour_score" else f"f.{c}")
                     for c in FEATURE_SCHEMA.names)
    if not have_scores:
        return "SELECT * FROM features_pre"
    return f"SELECT {cols} FROM features_pre f LEFT JOIN today_scores s ON s.account_id = f.account_id"


# -- reading files (shared checks) -------------------------------------------------------------------

def _kind_files(folder: Path, kind: str) -> list[Path]:
    """The ledger files of ``kind`` in ``folder`` (:func:`arrears.batch.spark.ledger_files`)."""
    from arrears.batch.spark import SparkInputError, ledger_files

    try:
        files, _ = ledger_files(str(folder), kind, None)
    except SparkInputError as exc:
        raise FileCycleError(str(exc)) from exc
    return [Path(f) for f in files]


def _check_parquet_schema(path: Path, columns: Sequence[tuple[str, str, str]] | Sequence[tuple[str, str]]) -> None:
    schema = pq.read_schema(path)
    names = {n.lower(): n for n in schema.names}
    for spec in columns:
        name, typ = spec[0], spec[1]
        base = typ.rstrip("?")
        if name not in names:
            if typ.endswith("?"):
                continue
            raise FileCycleError(f"{path}, column {name!r}: missing required column")
        dtype = schema.field(names[name]).type
        if not any(ok(dtype) for ok in _ARROW_OK[base]):
            raise FileCycleError(f"{path}, column {name!r}: type {dtype}, expected {base}")
        if base == "timestamp" and dtype.tz is None:
            raise FileCycleError(f"{path}, column {name!r}: a timestamp without a time zone; write instants (UTC)")


# -- DuckDB ------------------------------------------------------------------------------------------

class _DuckDB:
    name = "duckdb"

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET preserve_insertion_order = false")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.con.execute(f"SET memory_limit = '{memory_limit}'")

    def close(self) -> None:
        self.con.close()

    def q(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    # inputs
    def ledger(self, folder: Path, kind: str) -> None:
        files = _kind_files(folder, kind)
        fmt = files[0].suffix.lower().lstrip(".") if files else None
        spec = LEDGER_COLUMNS[kind]
        if not files:
            if kind in REQUIRED_KINDS:
                raise FileCycleError(f"{folder}: no {kind}*.csv or {kind}*.parquet file")
            cols = ", ".join(f"CAST(NULL AS {_DUCK_TYPES[t.rstrip('?')]}) AS {e}" for _, t, e in spec)
            self.con.execute(f"CREATE TEMP VIEW {kind}_in AS SELECT {cols} WHERE false")
            return
        listed = "[" + ", ".join(f"'{_sq(p)}'" for p in files) + "]"
        if fmt == "parquet":
            for p in files:
                _check_parquet_schema(p, spec)
            raw = f"read_parquet({listed}, filename = true, file_row_number = true, union_by_name = true)"
            row = "file_row_number + 1"
        else:
            raw = f"read_csv({listed}, header = true, all_varchar = true, filename = true, union_by_name = true)"
            row = None
        self.con.execute(f"CREATE TEMP VIEW {kind}_raw AS SELECT * FROM {raw}")
        present = {r[0].lower().lstrip("\ufeff"): r[0] for r in self.q(f"DESCRIBE {kind}_raw")}
        cols = []
        for name, typ, eng in spec:
            base, optional = typ.rstrip("?"), typ.endswith("?")
            if name not in present:
                if optional:
                    cols.append(f"CAST(NULL AS {_DUCK_TYPES[base]}) AS {eng}")
                    continue
                raise FileCycleError(f"{files[0]}, row 1, column {name!r}: missing required column")
            src = f'"{present[name]}"'
            if fmt == "parquet":
                value = f"CAST({src} AS {_DUCK_TYPES[base]})"
            else:
                text = f"trim({src})"
                value = {
                    "text": src,
                    "integer": f"CASE WHEN regexp_matches({text}, '^-?[0-9]{{1,18}}$') THEN CAST({text} AS BIGINT) END",
                    "date": f"CASE WHEN regexp_matches({text}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$') "
                            f"THEN TRY_CAST({text} AS DATE) END",
                    "boolean": f"CASE WHEN lower({text}) IN ('true', '1', 'y') THEN true "
                               f"WHEN lower({text}) IN ('false', '0', 'n') THEN false END",
                }[base]
            bad = f"{value} IS NULL AND {src} IS NOT NULL AND trim(CAST({src} AS VARCHAR)) <> ''"
            if not optional:
                bad = f"{value} IS NULL"
            self._first_bad(f"{kind}_raw", bad, name, src, row)
            cols.append(f"{value} AS {eng}")
        self.con.execute(f"CREATE TEMP VIEW {kind}_in AS SELECT {', '.join(cols)} FROM {kind}_raw")

    def _first_bad(self, relation: str, condition: str, column: str, src: str, row: str | None) -> None:
        if row is None:  # CSV: number the rows only when one is bad (header = row 1)
            hit = self.q(f"SELECT filename FROM {relation} WHERE {condition} LIMIT 1")
            if not hit:
                return
            self.con.execute("SET preserve_insertion_order = true")
            try:
                found = self.q(f"SELECT filename, n, v FROM (SELECT filename, {src} AS v, {condition} AS bad, "
                               f"row_number() OVER (PARTITION BY filename) + 1 AS n FROM {relation}) WHERE bad "
                               f"ORDER BY filename, n LIMIT 1")
            finally:
                self.con.execute("SET preserve_insertion_order = false")
        else:
            found = self.q(f"SELECT filename, {row}, {src} FROM {relation} WHERE {condition} "
                           f"ORDER BY filename, {row} LIMIT 1")
        if found:
            file, n, value = found[0]
            what = "missing value" if value is None or str(value).strip() == "" else f"cannot read {value!r}"
            raise FileCycleError(f"{file}, row {n}, column {column!r}: {what}")

    def state(self, folder: Path | None, kind: str, relation: str, select: str, time_zone: str) -> None:
        spec = STATE_COLUMNS[kind]
        path = None if folder is None else _state_files(folder, kind)
        if not path:
            cols = ", ".join(f"CAST(NULL AS {_DUCK_TYPES[t.rstrip('?')]}) AS {n}" for n, t in spec)
            self.con.execute(f"CREATE TEMP VIEW {kind}_file AS SELECT {cols} WHERE false")
        else:
            for p in path:
                _check_parquet_schema(p, spec)
            listed = "[" + ", ".join(f"'{_sq(p)}'" for p in path) + "]"
            self.con.execute(f"CREATE TEMP VIEW {kind}_file AS SELECT * FROM read_parquet({listed}, filename = true, "
                             f"file_row_number = true)")
            for name, typ in spec:
                if not typ.endswith("?"):
                    self._first_bad(f"{kind}_file", f'"{name}" IS NULL', name, f'"{name}"', "file_row_number + 1")
        tz = time_zone.replace("'", "''")
        select = select.replace("{local_date}", f"CAST(timezone('{tz}', started_at) AS DATE)") \
                       .replace("{epoch_s}", "CAST(epoch(started_at) AS BIGINT)")
        self.con.execute(f"CREATE TEMP VIEW {relation} AS {select.format(src=f'{kind}_file')}")

    def arrow(self, relation: str, table: pa.Table) -> None:
        self.con.register(f"{relation}_arrow", table)
        self.con.execute(f"CREATE TEMP TABLE {relation} AS SELECT * FROM {relation}_arrow")

    def previous(self, files: list[Path], relation: str, columns: str, empty: str) -> None:
        if files:
            listed = "[" + ", ".join(f"'{_sq(p)}'" for p in files) + "]"
            self.con.execute(f"CREATE TEMP VIEW {relation} AS SELECT {columns} FROM read_parquet({listed})")
        else:
            self.con.execute(f"CREATE TEMP VIEW {relation} AS SELECT {empty} WHERE false")

    # stages
    def stage(self, relation: str, sql: str, *, spark_sql: str | None = None, keep: bool = True) -> None:
        kind = "TABLE" if keep else "VIEW"
        self.con.execute(f"CREATE TEMP {kind} {relation} AS {sql}")

    def count(self, relation: str, where: str = "true") -> int:
        return int(self.q(f"SELECT count(*) FROM {relation} WHERE {where}")[0][0])

    def groups(self, sql: str) -> list[tuple[Any, ...]]:
        return self.q(sql)

    def score(self, model: Any, model_dir: str, relation: str, out: str) -> None:
        reader = self.con.sql(f"SELECT * FROM {relation}").to_arrow_reader(1_000_000)
        parts = []
        for batch in reader:
            table = pa.Table.from_batches([batch])
            parts.append(pa.table({"account_id": table.column("account_id"),
                                   "score": model.score(table).cast(pa.int64())}))
        result = pa.concat_tables(parts) if parts else pa.schema([("account_id", pa.int64()),
                                                                   ("score", pa.int64())]).empty_table()
        self.arrow(out, result)

    def write(self, relation: str, columns: str, target: Path, order: str) -> None:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        self.con.execute(f"COPY (SELECT {columns} FROM {relation} ORDER BY {order}) "
                         f"TO '{_sq(target / 'data.parquet')}' (FORMAT parquet)")


def _sq(path: Path | str) -> str:
    return str(path).replace("'", "''")


def _state_files(folder: Path, kind: str) -> list[Path]:
    return sorted(p for p in folder.glob(f"{kind}*.parquet") if p.is_file())


# -- Spark ---------------------------------------------------------------------------------------------

_SCORE_SCHEMA = "account_id bigint, score bigint"


def _score_partitions(model_dir: str) -> Any:
    """The ``mapInArrow`` function: each executor loads the model once and scores its batches."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from arrears.score.model import load_model

        model = load_model(model_dir, num_threads=1)
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if table.num_rows == 0:
                continue
            yield pa.RecordBatch.from_arrays([table.column("account_id").combine_chunks(),
                                              model.score(table).cast(pa.int64())], names=["account_id", "score"])
    return run


class _Spark:
    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.cached: list[DataFrame] = []

    def close(self) -> None:
        for df in self.cached:
            df.unpersist()

    def ledger(self, folder: Path, kind: str) -> None:
        from arrears.batch.spark import read_ledger_kind

        files = _kind_files(folder, kind)
        if not files and kind in REQUIRED_KINDS:
            raise FileCycleError(f"{folder}: no {kind}*.csv or {kind}*.parquet file")
        for p in files:
            if p.suffix.lower() == ".parquet":
                _check_parquet_schema(p, LEDGER_COLUMNS[kind])
        try:
            df = read_ledger_kind(self.spark, str(folder), kind, columns=LEDGER_COLUMNS[kind])
        except ArrearsError as exc:
            raise FileCycleError(str(exc)) from exc
        df.createOrReplaceTempView(f"{kind}_in")

    def state(self, folder: Path | None, kind: str, relation: str, select: str, time_zone: str) -> None:
        from pyspark.sql import functions as F

        from arrears.batch.spark import SparkInputError, first_bad_rows

        spec = STATE_COLUMNS[kind]
        files = [] if folder is None else _state_files(folder, kind)
        spark_types = {"text": "string", "integer": "bigint", "date": "date", "boolean": "boolean",
                       "timestamp": "timestamp"}
        if not files:
            ddl = ", ".join(f"{n} {spark_types[t.rstrip('?')]}" for n, t in spec)
            df = self.spark.createDataFrame([], ddl)
        else:
            for p in files:
                _check_parquet_schema(p, spec)
            df = self.spark.read.parquet(*[str(p) for p in files])
            try:  # every required column checked in one pass over the files
                first_bad_rows(df.withColumn("_file", F.input_file_name()),
                               [(name, F.col(name).isNull(), "missing value")
                                for name, typ in spec if not typ.endswith("?")])
            except SparkInputError as exc:
                raise FileCycleError(str(exc)) from exc
        df.createOrReplaceTempView(f"{kind}_file")
        tz = time_zone.replace("'", "''")
        spark_select = select.replace("{local_date}", f"to_date(from_utc_timestamp(started_at, '{tz}'))") \
                             .replace("{epoch_s}", "CAST(unix_timestamp(started_at) AS BIGINT)")
        self.spark.sql(spark_select.format(src=f"{kind}_file")).createOrReplaceTempView(relation)

    def arrow(self, relation: str, table: pa.Table) -> None:
        rows = [tuple(r.values()) for r in table.to_pylist()]
        self.spark.createDataFrame(rows, schema=_spark_schema(table.schema)).createOrReplaceTempView(relation)

    def previous(self, files: list[Path], relation: str, columns: str, empty: str) -> None:
        from arrears.delinquency.spark_engine import to_spark_sql

        if files:
            self.spark.read.parquet(*[str(p) for p in files]).createOrReplaceTempView(f"{relation}_file")
            self.spark.sql(to_spark_sql(f"SELECT {columns} FROM {relation}_file")).createOrReplaceTempView(relation)
        else:
            self.spark.sql(to_spark_sql(f"SELECT {empty} WHERE false")).createOrReplaceTempView(relation)

    def stage(self, relation: str, sql: str, *, spark_sql: str | None = None, keep: bool = True) -> None:
        from arrears.delinquency.spark_engine import to_spark_sql

        df = self.spark.sql(spark_sql if spark_sql is not None else to_spark_sql(sql))
        if keep:
            # computed once and kept on the executors; lineage cut (a cached plan of the inlined
            # delinquency CTEs trips Spark's column pruning later, a checkpointed one does not)
            df = df.localCheckpoint()
            self.cached.append(df)
        df.createOrReplaceTempView(relation)

    def count(self, relation: str, where: str = "true") -> int:
        return int(self.spark.sql(f"SELECT count(*) FROM {relation} WHERE {where}").collect()[0][0])

    def groups(self, sql: str) -> list[tuple[Any, ...]]:
        from arrears.delinquency.spark_engine import to_spark_sql

        return [tuple(r) for r in self.spark.sql(to_spark_sql(sql)).collect()]

    def score(self, model: Any, model_dir: str, relation: str, out: str) -> None:
        # each executor loads the model from its folder (the driver's copy is not shipped)
        df = self.spark.table(relation).mapInArrow(_score_partitions(model_dir), _SCORE_SCHEMA).localCheckpoint()
        self.cached.append(df)
        df.createOrReplaceTempView(out)

    def write(self, relation: str, columns: str, target: Path, order: str) -> None:
        from arrears.delinquency.spark_engine import to_spark_sql

        df = self.spark.sql(to_spark_sql(f"SELECT {columns} FROM {relation}"))
        df.orderBy(*[c.strip() for c in order.split(",")]).write.mode("overwrite").parquet(str(target))


def _spark_schema(schema: pa.Schema) -> str:
    names = {pa.int32(): "int", pa.int64(): "bigint", pa.string(): "string", pa.date32(): "date",
             pa.bool_(): "boolean"}
    return ", ".join(f"{f.name} {names[f.type]}" for f in schema)


# -- the run -------------------------------------------------------------------------------------------

def _previous_files(out: Path, name: str, business_date: date) -> tuple[date | None, list[Path]]:
    folder = out / name
    if not folder.is_dir():
        return None, []
    days = sorted(d for p in folder.glob("as_of=*") if (d := _as_of(p)) is not None and d < business_date)
    if not days:
        return None, []
    return days[-1], sorted((folder / f"as_of={days[-1].isoformat()}").glob("*.parquet"))


def _as_of(path: Path) -> date | None:
    try:
        return date.fromisoformat(path.name.removeprefix("as_of="))
    except ValueError:
        return None


@contextmanager
def _timer(timings: dict[str, float], name: str) -> Iterator[None]:
    t = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - t


_STATE_SELECTS = {
    "cases": ("cases_in", "SELECT case_id, account_id AS account_ref, status, opened_on, reopened_on FROM {src}"),
    "interactions": ("contact_in", "SELECT case_id, {epoch_s} AS started_s, outcome, direction, party, "
                                   "{local_date} AS on_date FROM {src}"),
    "promises": ("promises_in", "SELECT case_id, status, promised_date, created_on FROM {src}"),
    "plans": ("plans_in", "SELECT agreement_id, account_id AS account_ref, status, start_date FROM {src}"),
    "hold_reviews": ("reviews_in", "SELECT case_id, status FROM {src}"),
}


def run_file_cycle(
    *,
    engine: str,
    ledger_dir: str | PathLike[str],
    out_dir: str | PathLike[str],
    business_date: date,
    strategy_files: Sequence[str | PathLike[str]],
    rules: DelinquencyRules | None = None,
    experiments_file: str | PathLike[str] | None = None,
    model_dir: str | PathLike[str] | None = None,
    state_dir: str | PathLike[str] | None = None,
    time_zone: str = "Asia/Shanghai",
    master: str = "local[2]",
    spark: SparkSession | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> FileCycleResult:
    """Run the whole cycle of ``business_date`` on ``engine`` (duckdb or spark); see the module docstring.

    Strategy and experiment files are loaded (and refused, naming file, line and field) before any
    data is read. ``spark``: an existing session (``master`` is then ignored)."""
    from arrears.strategy.config import load_strategy
    from arrears.strategy.experiments import load_experiments
    from arrears.strategy.selection_sql import check_arms

    if engine not in ENGINES:
        raise ArrearsError(f"unknown engine {engine!r}: use {' or '.join(ENGINES)}")
    if not strategy_files:
        raise ArrearsError("the file cycle needs at least one strategy file")
    strategies = [load_strategy(f) for f in strategy_files]
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise ArrearsError(f"strategy name(s) {', '.join(sorted({n for n in names if names.count(n) > 1}))} "
                           "given more than once")
    experiments = load_experiments(experiments_file) if experiments_file is not None else ()
    check_arms(strategies, experiments, business_date)
    if model_dir is not None:
        from arrears.score.model import load_model

        model = load_model(model_dir)  # refused here, before any work, if it is not a model
        model_label = f"{model.name} {model.version}"
    rules = rules or DelinquencyRules()
    ledger, out = Path(ledger_dir), Path(out_dir)
    if not ledger.is_dir():
        raise FileCycleError(f"{ledger}: not a folder")
    state = Path(state_dir) if state_dir is not None else None
    if state is not None and not state.is_dir():
        raise FileCycleError(f"{state}: not a folder")

    result = FileCycleResult(business_date=business_date, engine=engine, output=str(out))
    timings = result.timings
    t0 = time.perf_counter()
    if engine == "spark":
        from arrears.batch.spark import spark_session

        with _timer(timings, "start spark"):
            runner: Any = _Spark(spark or spark_session(master))
    else:
        runner = _DuckDB(threads=threads, memory_limit=memory_limit)
    try:
        with _timer(timings, "read and check inputs"):
            for kind in LEDGER_COLUMNS:
                runner.ledger(ledger, kind)
            for kind, (relation, select) in _STATE_SELECTS.items():
                runner.state(state, kind, relation, select, time_zone)
            _, score_files = _previous_files(out, "scores", business_date)
            runner.previous(score_files if model_dir is None else [], "previous_scores",
                            "account_ref, as_of, score",
                            "CAST(NULL AS VARCHAR) AS account_ref, CAST(NULL AS DATE) AS as_of, "
                            "CAST(NULL AS BIGINT) AS score")
            _check_known_accounts(runner)
        stages = _stage_sql(business_date, rules)
        with _timer(timings, "delinquency"):
            for name, sql in stages[:5]:
                runner.stage(name, sql, keep=True)  # the keyed ledger is read once, for delinquency and features
            result.accounts = runner.count("assessed")
        with _timer(timings, "features"):
            for name, sql in stages[5:-1]:
                runner.stage(name, sql, keep=name in ("scope", "cases", "features_pre"))
            result.in_collections = runner.count("features_pre")
        with _timer(timings, "scoring"):
            runner.stage("score_inputs", stages[-1][1], keep=False)
            if model_dir is not None:
                runner.score(model, str(model_dir), "score_inputs", "today_scores")
                result.scored, result.model = runner.count("today_scores"), model_label
            runner.stage("features", _features_with_scores(model_dir is not None))
        with _timer(timings, "segmentation and treatment"):
            _, assignment_files = _previous_files(out, "treatments", business_date)
            runner.previous(assignment_files, "previous_treatments", "account_ref, strategy, segment, segment_since",
                            "CAST(NULL AS VARCHAR) AS account_ref, CAST(NULL AS VARCHAR) AS strategy, "
                            "CAST(NULL AS VARCHAR) AS segment, CAST(NULL AS DATE) AS segment_since")
            runner.stage("assignments", "SELECT k.account_id, p.strategy, p.segment, p.segment_since AS since "
                                        "FROM previous_treatments p JOIN keys k ON k.account_ref = p.account_ref",
                         keep=False)
            runner.arrow("paths", paths_table(strategies))
            runner.stage("arms", arms_sql(experiments, business_date, "duckdb"),
                         spark_sql=arms_sql(experiments, business_date, "spark"))
            runner.stage("chosen", chosen_sql(strategies, experiments, business_date))
            runner.stage("due", actions_sql(strategies))
            result.treated, result.actions = runner.count("chosen"), runner.count("due")
            for strategy, segment, n in runner.groups(
                    "SELECT strategy, segment, count(*) FROM chosen GROUP BY strategy, segment"):
                result.segments[(strategy, segment)] = int(n)
            for experiment, arm, n in runner.groups(
                    "SELECT experiment, arm, count(*) FROM chosen WHERE arm IS NOT NULL GROUP BY experiment, arm"):
                result.arms[(experiment, arm)] = int(n)
        with _timer(timings, "write"):
            tag = f"as_of={business_date.isoformat()}"
            keyed = [c for c in OUTPUT_COLUMNS if c not in ("account_key", "as_of")]
            runner.stage("assessed_named", f"SELECT k.account_ref, {', '.join('d.' + c for c in keyed)} "
                                           "FROM assessed d JOIN keys k ON k.account_id = d.account_key", keep=False)
            runner.write("assessed_named", "*", out / "delinquency" / tag, "account_ref")
            runner.write("features", ", ".join(FEATURE_SCHEMA.names), out / "features" / tag, "account_ref")
            if model_dir is not None:
                runner.stage("scores_named", f"SELECT f.account_ref, {_d(business_date)} AS as_of, s.score "
                                             "FROM today_scores s JOIN features f ON f.account_id = s.account_id",
                             keep=False)
                runner.write("scores_named", "account_ref, as_of, score", out / "scores" / tag, "account_ref")
            runner.write("chosen", ", ".join(TREATMENT_COLUMNS), out / "treatments" / tag, "account_ref")
            runner.write("due", ", ".join(ACTION_COLUMNS), out / "actions" / tag, "account_ref, step")
    finally:
        runner.close()
    timings["total"] = time.perf_counter() - t0
    return result


def _check_known_accounts(runner: Any) -> None:
    """Every statement, payment and hold names an account of the accounts files."""
    for kind in ("statements", "payments", "holds"):
        rows = runner.groups(f"SELECT x.account_ref FROM {kind}_in x LEFT JOIN accounts_in a "
                             f"ON a.account_ref = x.account_ref WHERE a.account_ref IS NULL LIMIT 1")
        if rows:
            raise FileCycleError(f"{kind} files, column 'account_id': account {rows[0][0]!r} is not in the accounts "
                                 "files")
