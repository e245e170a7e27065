"""Loading the bank's files (customers, contact points, accounts, statements, payments, holds).

Each file is one transaction. A file whose shape is wrong (header, Parquet column type, bytes
that are not UTF-8) is rejected whole with :class:`FileRejected` and nothing from it is written.
Rows with bad values are quarantined (report file + ``ingest_issues``) and the rest loads.

Loading is idempotent on the bank's ids. Ledger rows (statements, payments) are immutable: a
known key with different content is a *conflict* and is never overwritten. Master data
(customers, contact points, accounts) follows the bank: changed content is *updated*. Holds may
change their end date and reason; any other change is a conflict. Every row inserted or updated
carries the id of the file's :class:`IngestRun`, which the daily cycle uses as a watermark.

Work is done in chunks: parsed rows are validated in Python (no ORM objects), references and
existing keys are looked up once per chunk, and rows are written in bulk (``COPY`` on
PostgreSQL, ``executemany`` elsewhere).
"""

from __future__ import annotations

import codecs
import functools
import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import String, Table, and_, any_, bindparam, func, insert, literal_column, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Engine

from arrears.accounts import validate as v
from arrears.accounts.tables import (
    ACCOUNT_STATUSES,
    CONTACT_KINDS,
    CONTACT_OWNERS,
    HOLD_KINDS,
    PAYMENT_CHANNELS,
    Account,
    ContactPoint,
    Customer,
    Hold,
    IngestIssue,
    IngestRun,
    Payment,
    Statement,
)
from arrears.kit.clock import utc_now
from arrears.kit.db import is_sqlite
from arrears.kit.errors import FileRejected

#: Load order of a directory: every kind only refers to kinds before it.
KIND_ORDER = ("customers", "contact_points", "accounts", "statements", "payments", "holds")
SUFFIXES = (".csv", ".parquet")
REPORT_SUFFIXES = (".quarantine.csv", ".conflicts.csv")
DEFAULT_CHUNK_ROWS = 10_000

_MISSING = "missing required value"


# --------------------------------------------------------------------------------------------
# Column and file specifications


@dataclass(frozen=True)
class Column:
    """One column of a bank file.

    ``parse`` turns a non-empty cell into its value or raises ValueError(reason). ``required``:
    the column must be in the header and every row must have a value; optional columns may be
    absent from the header and empty cells take ``default``. ``type`` is the logical type that a
    Parquet column must have: str, int, date or bool.
    """

    name: str
    type: str
    parse: Callable[[Any], Any]
    required: bool = True
    default: Any = None
    db: str | None = None  # target column (None: same name); "" = not stored directly


def _text(max_length: int) -> Callable[[Any], str]:
    return lambda x: v.parse_text(x, max_length=max_length)


def _enum(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    return lambda x: v.parse_enum(x, allowed)


def _fen(**kw: Any) -> Callable[[Any], int]:
    return lambda x: v.parse_fen(x, **kw)


def _day(x: Any) -> int:
    return v.parse_int_between(x, 1, 28)


def _national_id(x: Any) -> str:
    return v.parse_national_id(x, today=utc_now().date())


_REF = _text(64)


@dataclass(frozen=True)
class FileSpec:  # not slotted: cached properties need __dict__
    kind: str
    table: Table
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # file columns forming the natural key
    policy: str  # master | ledger | hold
    #: file column -> (referenced kind) for columns holding another file's key
    refs: dict[str, str] = field(default_factory=dict)
    #: for holds: db columns that may change without a conflict
    mutable: tuple[str, ...] = ()

    @functools.cached_property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    def db_name(self, column: str) -> str:
        c = self.by_name[column]
        if column in self.refs:
            return "customer_id" if self.refs[column] == "customers" else "account_id"
        return c.db or c.name

    @functools.cached_property
    def key_db(self) -> tuple[str, ...]:
        return tuple(self.db_name(k) for k in self.key)


SPECS: dict[str, FileSpec] = {
    "customers": FileSpec(
        kind="customers",
        table=Customer.__table__,  # type: ignore[arg-type]
        columns=(
            Column("customer_id", "str", _REF, db="customer_ref"),
            Column("name", "str", _text(200)),
            Column("national_id", "str", _national_id),
            Column("birth_date", "date", v.parse_date),
            Column("time_zone", "str", v.parse_time_zone, required=False, default="Asia/Shanghai"),
            Column("language", "str", _enum(("zh_CN", "en")), required=False, default="zh_CN"),
        ),
        key=("customer_id",),
        policy="master",
    ),
    "contact_points": FileSpec(
        kind="contact_points",
        table=ContactPoint.__table__,  # type: ignore[arg-type]
        columns=(
            Column("contact_id", "str", _REF, db="contact_ref"),
            Column("customer_id", "str", _REF),
            Column("kind", "str", _enum(CONTACT_KINDS)),
            Column("value", "str", _text(500)),
            Column("owner", "str", _enum(CONTACT_OWNERS)),
            Column("relation", "str", _text(64), required=False),
            Column("verified", "bool", v.parse_bool),
            Column("opted_out", "bool", v.parse_bool),
        ),
        key=("contact_id",),
        policy="master",
        refs={"customer_id": "customers"},
    ),
    "accounts": FileSpec(
        kind="accounts",
        table=Account.__table__,  # type: ignore[arg-type]
        columns=(
            Column("account_id", "str", _REF, db="account_ref"),
            Column("customer_id", "str", _REF),
            Column("product", "str", _text(64)),
            Column("credit_limit_fen", "int", _fen(minimum=0), db="credit_limit"),
            Column("currency", "str", v.parse_currency, required=False, default="CNY"),
            Column("statement_day", "int", _day),
            Column("due_day", "int", _day),
            Column("status", "str", _enum(ACCOUNT_STATUSES)),
            Column("opened_on", "date", v.parse_date),
        ),
        key=("account_id",),
        policy="master",
        refs={"customer_id": "customers"},
    ),
    "statements": FileSpec(
        kind="statements",
        table=Statement.__table__,  # type: ignore[arg-type]
        columns=(
            Column("account_id", "str", _REF),
            Column("statement_date", "date", v.parse_date),
            Column("due_date", "date", v.parse_date),
            Column("new_balance_fen", "int", v.parse_fen, db="new_balance"),
            Column("minimum_due_fen", "int", _fen(minimum=0), db="minimum_due"),
            Column("past_due_included_fen", "int", _fen(minimum=0), db="past_due_included"),
        ),
        key=("account_id", "statement_date"),
        policy="ledger",
        refs={"account_id": "accounts"},
    ),
    "payments": FileSpec(
        kind="payments",
        table=Payment.__table__,  # type: ignore[arg-type]
        columns=(
            Column("payment_id", "str", _REF, db="payment_ref"),
            Column("account_id", "str", _REF),
            Column("amount_fen", "int", _fen(positive=True), db="amount"),
            Column("value_date", "date", v.parse_date),
            Column("channel", "str", _enum(PAYMENT_CHANNELS)),
        ),
        key=("payment_id",),
        policy="ledger",
        refs={"account_id": "accounts"},
    ),
    "holds": FileSpec(
        kind="holds",
        table=Hold.__table__,  # type: ignore[arg-type]
        columns=(
            Column("hold_id", "str", _REF, db="hold_ref"),
            Column("account_id", "str", _REF),
            Column("kind", "str", _enum(HOLD_KINDS)),
            Column("start_date", "date", v.parse_date),
            Column("end_date", "date", v.parse_date, required=False),
            Column("pauses_ageing", "bool", v.parse_bool, required=False),
            Column("reason", "str", _text(10_000), required=False),
            Column("created_by", "str", _text(64), required=False, default="bank-file"),
        ),
        key=("hold_id",),
        policy="hold",
        refs={"account_id": "accounts"},
        mutable=("end_date", "reason"),
    ),
}

_REF_TABLES: dict[str, tuple[Table, str]] = {
    "customers": (Customer.__table__, "customer_ref"),  # type: ignore[dict-item]
    "accounts": (Account.__table__, "account_ref"),  # type: ignore[dict-item]
}


def _cross_checks(kind: str, row: dict[str, Any]) -> list[tuple[str, str]]:
    """Rules between the columns of one row (after each cell parsed on its own)."""
    errors: list[tuple[str, str]] = []
    if kind == "customers":
        embedded = v.national_id_birth_date(row["national_id"])
        if row["birth_date"] != embedded:
            errors.append(("birth_date", f"birth_date {row['birth_date']} differs from the birth date in national_id ({embedded})"))
    elif kind == "contact_points":
        try:
            if row["kind"] == "phone":
                row["value"] = v.normalise_phone(row["value"])
            elif row["kind"] == "email":
                row["value"] = v.parse_email(row["value"])
        except ValueError as exc:
            errors.append(("value", str(exc)))
    elif kind == "statements":
        if row["due_date"] <= row["statement_date"]:
            errors.append(("due_date", f"due_date {row['due_date']} is not after statement_date {row['statement_date']}"))
        if row["past_due_included_fen"] > row["minimum_due_fen"]:
            errors.append(("past_due_included_fen", f"past_due_included_fen {row['past_due_included_fen']} exceeds minimum_due_fen {row['minimum_due_fen']}"))
    elif kind == "holds":
        if row["end_date"] is not None and row["end_date"] < row["start_date"]:
            errors.append(("end_date", f"end_date {row['end_date']} is before start_date {row['start_date']}"))
        if row["pauses_ageing"] is None:
            row["pauses_ageing"] = row["kind"] == "dispute"
    return errors


# --------------------------------------------------------------------------------------------
# Public API


@dataclass
class FileReport:
    """What became of one file. ``rows_read == loaded + unchanged + updated + conflicting + quarantined``."""

    path: Path
    kind: str
    status: str = "loaded"  # loaded | rejected
    run_id: int | None = None
    sha256: str = ""
    rows_read: int = 0
    loaded: int = 0
    unchanged: int = 0
    updated: int = 0
    conflicting: int = 0
    quarantined: int = 0
    quarantine_path: Path | None = None
    conflicts_path: Path | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def accounted(self) -> int:
        return self.loaded + self.unchanged + self.updated + self.conflicting + self.quarantined


@dataclass(frozen=True)
class ProgressUpdate:
    """Sent after every chunk written. ``done``/``total`` are bytes for CSV, records for Parquet."""

    path: Path
    kind: str
    rows_read: int
    done: int
    total: int


ProgressCallback = Callable[[ProgressUpdate], None]


def kind_of(path: Path) -> str | None:
    """The file kind from its name prefix (``payments_20260301.csv`` -> payments), or None."""
    name = path.name.lower()
    if not name.endswith(SUFFIXES) or name.endswith(REPORT_SUFFIXES):
        return None
    for kind in KIND_ORDER:
        if name.startswith(kind):
            return kind
    return None


def plan_paths(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    """Expand directories and order every file by dependency (customers first, holds last).

    A directory contributes the files whose names start with a known kind and end in .csv or
    .parquet (quarantine reports are skipped). A file named explicitly with no known kind is
    rejected.
    """
    found: list[tuple[Path, str]] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                kind = kind_of(child)
                if child.is_file() and kind:
                    found.append((child, kind))
        elif path.is_file():
            kind = kind_of(path)
            if kind is None:
                raise FileRejected(
                    f"cannot tell the kind of file from its name; it must start with one of "
                    f"{', '.join(KIND_ORDER)} and end in .csv or .parquet",
                    file=str(path),
                )
            found.append((path, kind))
        else:
            raise FileRejected("no such file or directory", file=str(path))
    return sorted(found, key=lambda pk: (KIND_ORDER.index(pk[1]), str(pk[0])))


def ingest_paths(
    engine: Engine,
    paths: Sequence[Path],
    *,
    quarantine_dir: Path | None,
    progress: ProgressCallback | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> list[FileReport]:
    """Load files and directories in dependency order, one transaction per file.

    Raises :class:`FileRejected` at the first file rejected whole (after recording a 'rejected'
    IngestRun); files before it stay loaded, files after it are not read.
    """
    reports = []
    for path, kind in plan_paths(paths):
        reports.append(ingest_file(engine, path, kind=kind, quarantine_dir=quarantine_dir, progress=progress, chunk_rows=chunk_rows))
    return reports


def ingest_file(
    engine: Engine,
    path: Path,
    *,
    kind: str | None = None,
    quarantine_dir: Path | None,
    progress: ProgressCallback | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> FileReport:
    path = Path(path)
    kind = kind or kind_of(path)
    if kind is None:
        raise FileRejected("cannot tell the kind of file from its name", file=str(path))
    spec = SPECS[kind]
    started = time.perf_counter()
    report = FileReport(path=path, kind=kind)
    try:
        source = _open_source(path, spec)
    except FileRejected as exc:
        _record_rejection(engine, report, exc)
        raise
    report.sha256 = source.sha256

    sinks = _ReportSinks(path, quarantine_dir)
    try:
        with engine.begin() as conn:
            loader = _Loader(conn, spec, report, sinks, source)
            loader.start()
            for chunk in source.chunks(chunk_rows):
                loader.load_chunk(chunk)
                if progress is not None:
                    progress(ProgressUpdate(path, kind, report.rows_read, source.done(), source.total))
            loader.finish()
    except FileRejected as exc:
        sinks.abort()
        report.run_id = None
        _reset_counts(report)
        _record_rejection(engine, report, exc)
        raise
    except BaseException:
        sinks.abort()
        raise
    finally:
        source.close()
    report.quarantine_path, report.conflicts_path = sinks.commit()
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Chunk:
    rows: list[list[Any]]  # cells in header order; None / "" = empty
    numbers: list[int]  # row number of each row (CSV: header = 1; Parquet: record number)
    malformed: list[tuple[int, str, str]]  # (row number, reason, raw) rows that could not be split


class _Source:
    sha256: str
    total: int
    header: list[str]

    def chunks(self, size: int) -> Iterator[_Chunk]:  # pragma: no cover - interface
        raise NotImplementedError

    def done(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def raw(self, cells: list[Any]) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


def _open_source(path: Path, spec: FileSpec) -> _Source:
    if not path.is_file():
        raise FileRejected("no such file", file=str(path))
    if path.suffix.lower() == ".parquet":
        return _ParquetSource(path, spec)
    return _CsvSource(path, spec)


def _check_header(path: Path, spec: FileSpec, header: list[str], row: int | None) -> None:
    seen: set[str] = set()
    known = spec.by_name
    for name in header:
        if name in seen:
            raise FileRejected("duplicate column", file=str(path), row=row, column=name)
        seen.add(name)
        if name not in known:
            raise FileRejected(
                f"unknown column for a {spec.kind} file; expected columns: {', '.join(known)}",
                file=str(path), row=row, column=name,
            )
    for column in spec.columns:
        if column.required and column.name not in seen:
            raise FileRejected("missing required column", file=str(path), row=row, column=column.name)


class _CsvSource(_Source):
    def __init__(self, path: Path, spec: FileSpec) -> None:
        self.path = path
        self.total = path.stat().st_size
        self.sha256 = self._hash_and_check_utf8()
        self._file = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in close()
        self._reader = csv.reader(self._file, strict=False)
        try:
            header = next(self._reader)
        except StopIteration:
            self.close()
            raise FileRejected("empty file: no header row", file=str(path), row=1) from None
        except csv.Error as exc:
            self.close()
            raise FileRejected(f"unreadable header: {exc}", file=str(path), row=1) from None
        self.header = [h.strip() for h in header]
        try:
            _check_header(path, spec, self.header, row=1)
        except FileRejected:
            self.close()
            raise

    def _hash_and_check_utf8(self) -> str:
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder("utf-8")("strict")
        bad = False
        with open(self.path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
                if not bad:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        bad = True
            if not bad:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    bad = True
        if bad:
            self._locate_bad_bytes()
        return digest.hexdigest()

    def _locate_bad_bytes(self) -> None:
        """Find the row and column of the first bytes that are not UTF-8 and reject the file."""
        with open(self.path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            reader = csv.reader(f, strict=False)
            header: list[str] = []
            for number, cells in enumerate(reader, start=1):
                if number == 1:
                    header = cells
                for i, cell in enumerate(cells):
                    if any("\udc80" <= ch <= "\udcff" for ch in cell):
                        column = header[i] if number > 1 and i < len(header) else None
                        if number == 1:
                            column = None
                        raise FileRejected("bytes that are not UTF-8 (files must be UTF-8 encoded)",
                                           file=str(self.path), row=number, column=column)
        raise FileRejected("bytes that are not UTF-8 (files must be UTF-8 encoded)", file=str(self.path))

    def chunks(self, size: int) -> Iterator[_Chunk]:
        width = len(self.header)
        number = 1
        rows: list[list[Any]] = []
        numbers: list[int] = []
        malformed: list[tuple[int, str, str]] = []
        reader = self._reader
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise FileRejected(f"malformed CSV: {exc}", file=str(self.path), row=number + 1) from None
            number += 1
            if not cells:  # a blank line is not a record
                continue
            if len(cells) != width:
                malformed.append((number, f"expected {width} fields, found {len(cells)}", self.raw(cells)))
            else:
                rows.append(cells)
                numbers.append(number)
            if len(rows) + len(malformed) >= size:
                yield _Chunk(rows, numbers, malformed)
                rows, numbers, malformed = [], [], []
        if rows or malformed:
            yield _Chunk(rows, numbers, malformed)

    def done(self) -> int:
        try:
            return min(self._file.buffer.tell(), self.total)
        except (OSError, ValueError):  # pragma: no cover - closed file
            return self.total

    def raw(self, cells: list[Any]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(cells)
        return out.getvalue()

    def close(self) -> None:
        self._file.close()


_PARQUET_TYPES: dict[str, Callable[[pa.DataType], bool]] = {
    "str": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    or (pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type))),
    "int": pa.types.is_integer,
    "date": pa.types.is_date32,
    "bool": pa.types.is_boolean,
}
_PARQUET_TYPE_NAMES = {"str": "string", "int": "integer", "date": "date32", "bool": "bool"}


class _ParquetSource(_Source):
    def __init__(self, path: Path, spec: FileSpec) -> None:
        self.path = path
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        self.sha256 = digest.hexdigest()
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise FileRejected(f"not a readable Parquet file: {exc}", file=str(path)) from None
        schema = self._file.schema_arrow
        self.header = list(schema.names)
        _check_header(path, spec, self.header, row=None)
        by_name = spec.by_name
        for name in self.header:
            t = schema.field(name).type
            want = by_name[name].type
            if not _PARQUET_TYPES[want](t):
                raise FileRejected(f"column has type {t}, expected {_PARQUET_TYPE_NAMES[want]}", file=str(path), column=name)
        self.total = self._file.metadata.num_rows
        self._done = 0

    def chunks(self, size: int) -> Iterator[_Chunk]:
        number = 0
        for batch in self._file.iter_batches(batch_size=size):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
            numbers = list(range(number + 1, number + 1 + batch.num_rows))
            number += batch.num_rows
            self._done = number
            yield _Chunk(rows, numbers, [])

    def done(self) -> int:
        return self._done

    def raw(self, cells: list[Any]) -> str:
        return json.dumps(dict(zip(self.header, cells, strict=True)), ensure_ascii=False, default=str)

    def close(self) -> None:
        self._file.close()


# --------------------------------------------------------------------------------------------
# Quarantine / conflict report files


class _ReportSinks:
    """Writes ``<name>.quarantine.csv`` and ``<name>.conflicts.csv`` next to each other in the
    quarantine folder: to temporary files first, renamed when the file's transaction commits."""

    HEADER = ("row", "field", "reason", "raw")

    def __init__(self, path: Path, folder: Path | None) -> None:
        self.folder = folder
        self.name = path.name
        self._files: dict[str, Any] = {}
        self._writers: dict[str, Any] = {}
        self._counts = {"quarantine": 0, "conflicts": 0}

    def _target(self, which: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{self.name}.{which}.csv"

    def write(self, which: str, rows: list[tuple[int, str | None, str, str | None]]) -> None:
        if self.folder is None or not rows:
            return
        if which not in self._writers:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self._target(which).with_suffix(".csv.partial")
            # BOM so that spreadsheet programs open the Chinese text correctly.
            f = open(tmp, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in commit/abort
            self._files[which] = f
            self._writers[which] = csv.writer(f)
            self._writers[which].writerow(self.HEADER)
        self._writers[which].writerows((n, fld or "", reason, raw or "") for n, fld, reason, raw in rows)
        self._counts[which] += len(rows)

    def commit(self) -> tuple[Path | None, Path | None]:
        result: list[Path | None] = []
        for which in ("quarantine", "conflicts"):
            if self.folder is None:
                result.append(None)
                continue
            target = self._target(which)
            f = self._files.pop(which, None)
            if f is not None:
                f.close()
                os.replace(target.with_suffix(".csv.partial"), target)
                result.append(target)
            else:
                # A clean load: a report left by an earlier load of the same name is stale.
                target.unlink(missing_ok=True)
                result.append(None)
        return result[0], result[1]

    def abort(self) -> None:
        for which, f in list(self._files.items()):
            f.close()
            self._target(which).with_suffix(".csv.partial").unlink(missing_ok=True)
        self._files.clear()


# --------------------------------------------------------------------------------------------
# Loading


def _reset_counts(report: FileReport) -> None:
    report.rows_read = report.loaded = report.unchanged = report.updated = 0
    report.conflicting = report.quarantined = 0


_HAS_ROWS_UPDATED = "rows_updated" in IngestRun.__table__.c


def _record_rejection(engine: Engine, report: FileReport, exc: FileRejected) -> None:
    report.status = "rejected"
    report.error = str(exc)
    now = utc_now()
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(IngestRun.__table__).values(
                kind=report.kind, file_name=str(report.path), sha256=report.sha256 or "", status="rejected",
                rows_read=0, rows_loaded=0, rows_unchanged=0, rows_conflicting=0, rows_quarantined=0,
                started_at=now, finished_at=now,
            ).returning(IngestRun.__table__.c.id)
        ).scalar_one()
        conn.execute(insert(IngestIssue.__table__).values(
            ingest_run_id=run_id, row_number=exc.row or 0, kind="rejected", field=exc.column,
            reason=exc.detail, natural_key=None, raw=None,
        ))
    report.run_id = run_id


_CROSS_CHECKED = frozenset({"customers", "contact_points", "statements", "holds"})


class _Loader:
    def __init__(self, conn: Connection, spec: FileSpec, report: FileReport, sinks: _ReportSinks, source: _Source) -> None:
        self.conn = conn
        self.source_header = source.header
        self.raw = source.raw
        self._ref_back: dict[Any, Any] = {}
        self.spec = spec
        self.report = report
        self.sinks = sinks
        self.table = spec.table
        self.pg = not is_sqlite(conn.engine)
        self.seen: dict[tuple[Any, ...], int] = {}
        self.now = utc_now()
        self.run_id = 0
        self.file_to_db = {c.name: spec.db_name(c.name) for c in spec.columns}
        self.db_to_file = {d: f for f, d in self.file_to_db.items()}
        self.compare = [self.file_to_db[c.name] for c in spec.columns]

    def start(self) -> None:
        self.run_id = self.conn.execute(
            insert(IngestRun.__table__).values(
                kind=self.spec.kind, file_name=str(self.report.path), sha256=self.report.sha256, status="loading",
                rows_read=0, rows_loaded=0, rows_unchanged=0, rows_conflicting=0, rows_quarantined=0,
                started_at=self.now,
            ).returning(IngestRun.__table__.c.id)
        ).scalar_one()
        self.report.run_id = self.run_id

    def finish(self) -> None:
        r = self.report
        values: dict[str, Any] = dict(
            status="loaded", rows_read=r.rows_read, rows_unchanged=r.unchanged,
            rows_conflicting=r.conflicting, rows_quarantined=r.quarantined, finished_at=utc_now(),
        )
        if _HAS_ROWS_UPDATED:
            values.update(rows_loaded=r.loaded, rows_updated=r.updated)
        else:
            # Until ingest_runs has its own column, updated rows count as loaded there.
            values.update(rows_loaded=r.loaded + r.updated)
        t = IngestRun.__table__
        self.conn.execute(update(t).where(t.c.id == self.run_id).values(**values))
        r.status = "loaded"

    # -- one chunk -----------------------------------------------------------------------------

    def load_chunk(self, chunk: _Chunk) -> None:
        spec = self.spec
        header = self.source_header
        quarantine: list[tuple[int, str | None, str, str | None]] = []
        issues: list[dict[str, Any]] = []

        def bad(number: int, cells: list[Any] | None, errs: list[tuple[str | None, str]], key: str | None, raw: str | None = None) -> None:
            raw_text = raw if raw is not None else (self.raw(cells) if cells is not None else None)
            for fld, reason in errs:
                quarantine.append((number, fld, reason, raw_text))
                issues.append(dict(ingest_run_id=self.run_id, row_number=number, kind="quarantine", field=fld,
                                   reason=reason, natural_key=key, raw=raw_text))
            self.report.quarantined += 1

        self.report.rows_read += len(chunk.rows) + len(chunk.malformed)
        for number, reason, raw in chunk.malformed:
            bad(number, None, [(None, reason)], None, raw)

        # 1. parse every cell, then the rules between cells; duplicate keys inside the file
        parsed: list[tuple[int, list[Any], dict[str, Any]]] = []
        plan = [(c.name, header.index(c.name) if c.name in header else -1, c.parse, c.required, c.default)
                for c in spec.columns]
        key_cols = spec.key
        single_key = key_cols[0] if len(key_cols) == 1 else None
        seen = self.seen
        kind = spec.kind
        for number, cells in zip(chunk.numbers, chunk.rows, strict=True):
            row: dict[str, Any] = {}
            errs: list[tuple[str | None, str]] = []
            for name, pos, parse, required, default in plan:
                cell = cells[pos] if pos >= 0 else None
                if cell is None or (cell.__class__ is str and not cell.strip()):
                    if required:
                        errs.append((name, _MISSING))
                    row[name] = default
                    continue
                try:
                    row[name] = parse(cell)
                except ValueError as exc:
                    errs.append((name, str(exc)))
                    row[name] = None
            key: Any = row[single_key] if single_key else tuple(row[k] for k in key_cols)
            if key is not None and (single_key or None not in key):
                first = seen.get(key)
                if first is not None:
                    errs.append((single_key or ",".join(key_cols),
                                 f"duplicate key {self._key_str(key)!r} inside the file (first at row {first})"))
                else:
                    seen[key] = number
            if not errs and kind in _CROSS_CHECKED:
                errs.extend(_cross_checks(kind, row))
            if errs:
                bad(number, cells, errs, None if key is None else self._key_str(key))
            else:
                parsed.append((number, cells, row))

        # 2. resolve references to other files' keys: one query per referenced kind
        for column, ref_kind in spec.refs.items():
            wanted = {row[column] for _, _, row in parsed}
            ids = self._lookup_refs(ref_kind, wanted)
            kept = []
            for number, cells, row in parsed:
                ref_id = ids.get(row[column])
                if ref_id is None:
                    key_text = self._key_str(tuple(row[k] for k in key_cols))
                    bad(number, cells, [(column, f"unknown {column} {row[column]!r} (not in the store nor loaded earlier)")], key_text)
                else:
                    row[column] = ref_id
                    kept.append((number, cells, row))
            parsed = kept

        # 3. compare with what the store holds under the same keys
        renames = [(f, d) for f, d in self.file_to_db.items() if f != d]
        db_rows = []
        for number, cells, row in parsed:
            for f, d in renames:
                row[d] = row.pop(f)
            db_rows.append((number, cells, row))
        existing = self._existing([tuple(r[k] for k in spec.key_db) for _, _, r in db_rows])

        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        conflicts: list[tuple[int, str | None, str, str | None]] = []
        for number, cells, db_row in db_rows:
            key = tuple(db_row[k] for k in spec.key_db)
            old = existing.get(key)
            if old is None:
                db_row["ingest_run_id"] = self.run_id
                db_row["created_at"] = self.now
                inserts.append(db_row)
                continue
            diff = [c for c in self.compare if old[c] != db_row[c]]
            if not diff:
                self.report.unchanged += 1
                continue
            if spec.policy == "master" or (spec.policy == "hold" and set(diff) <= set(spec.mutable)):
                changes = {c: db_row[c] for c in diff}
                changes["ingest_run_id"] = self.run_id
                changes["_id"] = old["id"]
                updates.append(changes)
                continue
            if spec.policy == "hold":
                diff = [c for c in diff if c not in spec.mutable]
            fields = ",".join(self.db_to_file[c] for c in diff)
            detail = "; ".join(
                f"{self.db_to_file[c]}: store {self._show(c, old[c])!s}, file {self._show(c, db_row[c])!s}" for c in diff
            )
            what = "ledger rows are never overwritten" if spec.policy == "ledger" else "only end_date and reason of a hold may change"
            reason = f"conflict with the row already loaded ({detail}); {what}"
            key_text = "|".join(str(row_key) for row_key in self._key_text(db_row))
            raw = self.raw(cells)
            conflicts.append((number, fields[:64], reason, raw))
            issues.append(dict(ingest_run_id=self.run_id, row_number=number, kind="conflict", field=fields[:64],
                               reason=reason, natural_key=key_text[:200], raw=raw))
            self.report.conflicting += 1

        # 4. write
        if inserts:
            self._insert(self.table, inserts)
            self.report.loaded += len(inserts)
        if updates:
            self._update(updates)
            self.report.updated += len(updates)
        if issues:
            for issue in issues:
                if issue["natural_key"] is not None:
                    issue["natural_key"] = issue["natural_key"][:200]
                if issue["field"] is not None:
                    issue["field"] = issue["field"][:64]
            self._insert(IngestIssue.__table__, issues)  # type: ignore[arg-type]
        quarantine.sort(key=lambda q: q[0])
        self.sinks.write("quarantine", quarantine)
        self.sinks.write("conflicts", conflicts)

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _key_str(key: Any) -> str:
        if isinstance(key, tuple):
            return "|".join("" if k is None else str(k) for k in key)
        return str(key)

    def _key_text(self, db_row: dict[str, Any]) -> list[Any]:
        out = []
        for k in self.spec.key:
            value = db_row[self.file_to_db[k]]
            out.append(self._ref_back.get(value, value) if k in self.spec.refs else value)
        return out

    def _show(self, column: str, value: Any) -> Any:
        file_col = self.db_to_file[column]
        if file_col in self.spec.refs:
            return self._ref_back.get(value, f"#{value}")
        return value

    def _in(self, column: Any, values: list[Any]) -> Any:
        """``column IN values`` as one bound parameter (PostgreSQL array / SQLite JSON), so that
        thousands of keys cost one statement and no per-value SQL compilation."""
        if self.pg:
            return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
        return column.in_(select(literal_column("value")).select_from(func.json_each(
            bindparam(None, json.dumps(values, default=str, ensure_ascii=False), type_=String))))

    def _lookup_refs(self, ref_kind: str, refs: set[str]) -> dict[str, int]:
        table, ref_col = _REF_TABLES[ref_kind]
        found: dict[str, int] = {}
        if refs:
            stmt = select(table.c[ref_col], table.c.id).where(self._in(table.c[ref_col], list(refs)))
            found = dict(self.conn.execute(stmt).all())
        self._ref_back = {ident: ref for ref, ident in found.items()}
        return found

    def _existing(self, keys: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], dict[str, Any]]:
        if not keys:
            return {}
        t = self.table
        key_db = self.spec.key_db
        names = ["id", *(c for c in self.compare if c != "id")]
        cols = [t.c[n] for n in names]
        if len(key_db) == 1:
            cond = self._in(t.c[key_db[0]], [k[0] for k in keys])
        else:
            # (account_id, statement_date): the chunk's accounts within its date range; exact
            # pairs are matched below.
            firsts = sorted({k[0] for k in keys})
            seconds = [k[1] for k in keys]
            cond = and_(self._in(t.c[key_db[0]], firsts),
                        t.c[key_db[1]].between(min(seconds), max(seconds)))
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        wanted = set(keys) if len(key_db) > 1 else None
        positions = [names.index(c) for c in key_db]
        for rec in self.conn.execute(select(*cols).where(cond)):
            key = tuple(rec[i] for i in positions)
            if wanted is None or key in wanted:
                out[key] = dict(zip(names, rec, strict=True))
        return out

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        columns = list(rows[0])
        if self.pg:
            raw_conn = self.conn.connection.driver_connection
            names = ", ".join(f'"{c}"' for c in columns)
            with raw_conn.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:  # type: ignore[union-attr]
                for r in rows:
                    copy.write_row([r[c] for c in columns])
            return
        # SQLite: the driver's executemany on plain tuples, values converted the way SQLAlchemy
        # would (dates as ISO text, aware timestamps as naive UTC text), column by column.
        dialect = self.conn.dialect
        converted = []
        for c in columns:
            proc = table.c[c].type._cached_bind_processor(dialect)  # noqa: SLF001
            values = [r[c] for r in rows]
            if proc is not None:
                if c in ("created_at", "ingest_run_id") and len({id(x) for x in values}) == 1:
                    values = [proc(values[0])] * len(values)
                else:
                    values = [None if x is None else proc(x) for x in values]
            converted.append(values)
        sql = f'INSERT INTO "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) VALUES ({", ".join("?" * len(columns))})'
        self.conn.exec_driver_sql(sql, list(zip(*converted, strict=True)))

    def _update(self, updates: list[dict[str, Any]]) -> None:
        t = self.table
        # Group by the set of changed columns so each group is one executemany.
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for u in updates:
            cols = tuple(sorted(c for c in u if c != "_id"))
            groups.setdefault(cols, []).append(u)
        for cols, rows in groups.items():
            stmt = update(t).where(t.c.id == bindparam("_id")).values({c: bindparam(f"v_{c}") for c in cols})
            self.conn.execute(stmt, [{"_id": r["_id"], **{f"v_{c}": r[c] for c in cols}} for r in rows])
