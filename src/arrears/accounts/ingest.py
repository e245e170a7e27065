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
import csv
import functools
import hashlib
import io
import itertools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import (
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from arrears.accounts import control
from arrears.accounts import validate as v
from arrears.accounts.jurisdiction import DEFAULT_JURISDICTION, known_jurisdictions, parse_jurisdiction
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
from arrears.config import get_settings
from arrears.kit.clock import utc_now
from arrears.kit.csvsafe import SafeWriter
from arrears.kit.db import is_sqlite
from arrears.kit.errors import FileRejected

#: Load order of a directory: every kind only refers to kinds before it.
KIND_ORDER = ("customers", "contact_points", "accounts", "statements", "payments", "holds")
SUFFIXES = (".csv", ".parquet")
REPORT_SUFFIXES = (".quarantine.csv", ".conflicts.csv")
DEFAULT_CHUNK_ROWS = 100_000

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
    #: whole-column check (see ``validate.vector_*``): cells it accepts skip ``parse``
    vector: Callable[[pa.Array], tuple[pa.Array, pa.Array]] | None = None


def _text(max_length: int, *, identifier: bool = False) -> Callable[[Any], str]:
    return lambda x: v.parse_text(x, max_length=max_length, identifier=identifier)


def _enum(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    return lambda x: v.parse_enum(x, allowed)


def _fen(**kw: Any) -> Callable[[Any], int]:
    return lambda x: v.parse_fen(x, **kw)


def _day(x: Any) -> int:
    return v.parse_int_between(x, 1, 28)


def _national_id(x: Any) -> str:
    return v.parse_national_id(x, today=utc_now().date())


_REF = _text(64, identifier=True)


def _vtext(max_length: int, *, identifier: bool = False) -> Callable[[pa.Array], tuple[pa.Array, pa.Array]]:
    return lambda a: v.vector_text(a, max_length, identifier=identifier)


def _venum(allowed: tuple[str, ...]) -> Callable[[pa.Array], tuple[pa.Array, pa.Array]]:
    return lambda a: v.vector_enum(a, allowed)


def _vfen(**kw: Any) -> Callable[[pa.Array], tuple[pa.Array, pa.Array]]:
    return lambda a: v.vector_fen(a, **kw)


def _vday(a: pa.Array) -> tuple[pa.Array, pa.Array]:
    return v.vector_int_between(a, 1, 28)


def _vnational_id(a: pa.Array) -> tuple[pa.Array, pa.Array]:
    values, ok, _born = v.vector_national_id(a, today=utc_now().date())
    return values, ok


_VREF = _vtext(64, identifier=True)


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
            Column("customer_id", "str", _REF, db="customer_ref", vector=_VREF),
            Column("name", "str", _text(200), vector=_vtext(200)),
            Column("national_id", "str", _national_id, vector=_vnational_id),
            Column("birth_date", "date", v.parse_date, vector=v.vector_date),
            Column("time_zone", "str", v.parse_time_zone, required=False, default="Asia/Shanghai", vector=v.vector_time_zone),
            Column("language", "str", _enum(("zh_CN", "en")), required=False, default="zh_CN", vector=_venum(("zh_CN", "en"))),
            Column("jurisdiction", "str", parse_jurisdiction, required=False, default=DEFAULT_JURISDICTION,
                   vector=_venum(known_jurisdictions())),
        ),
        key=("customer_id",),
        policy="master",
    ),
    "contact_points": FileSpec(
        kind="contact_points",
        table=ContactPoint.__table__,  # type: ignore[arg-type]
        columns=(
            Column("contact_id", "str", _REF, db="contact_ref", vector=_VREF),
            Column("customer_id", "str", _REF, vector=_VREF),
            Column("kind", "str", _enum(CONTACT_KINDS), vector=_venum(CONTACT_KINDS)),
            Column("value", "str", _text(500), vector=_vtext(500)),
            Column("owner", "str", _enum(CONTACT_OWNERS), vector=_venum(CONTACT_OWNERS)),
            Column("relation", "str", _text(64), required=False, vector=_vtext(64)),
            Column("verified", "bool", v.parse_bool, vector=v.vector_bool),
            Column("opted_out", "bool", v.parse_bool, vector=v.vector_bool),
        ),
        key=("contact_id",),
        policy="master",
        refs={"customer_id": "customers"},
    ),
    "accounts": FileSpec(
        kind="accounts",
        table=Account.__table__,  # type: ignore[arg-type]
        columns=(
            Column("account_id", "str", _REF, db="account_ref", vector=_VREF),
            Column("customer_id", "str", _REF, vector=_VREF),
            Column("product", "str", _text(64), vector=_vtext(64)),
            Column("credit_limit_fen", "int", _fen(minimum=0), db="credit_limit", vector=_vfen(minimum=0)),
            Column("currency", "str", v.parse_currency, required=False, default="CNY", vector=v.vector_currency),
            Column("statement_day", "int", _day, vector=_vday),
            Column("due_day", "int", _day, vector=_vday),
            Column("status", "str", _enum(ACCOUNT_STATUSES), vector=_venum(ACCOUNT_STATUSES)),
            Column("opened_on", "date", v.parse_date, vector=v.vector_date),
        ),
        key=("account_id",),
        policy="master",
        refs={"customer_id": "customers"},
    ),
    "statements": FileSpec(
        kind="statements",
        table=Statement.__table__,  # type: ignore[arg-type]
        columns=(
            Column("account_id", "str", _REF, vector=_VREF),
            Column("statement_date", "date", v.parse_date, vector=v.vector_date),
            Column("due_date", "date", v.parse_date, vector=v.vector_date),
            Column("new_balance_fen", "int", v.parse_fen, db="new_balance", vector=_vfen()),
            Column("minimum_due_fen", "int", _fen(minimum=0), db="minimum_due", vector=_vfen(minimum=0)),
            Column("past_due_included_fen", "int", _fen(minimum=0), db="past_due_included", vector=_vfen(minimum=0)),
        ),
        key=("account_id", "statement_date"),
        policy="ledger",
        refs={"account_id": "accounts"},
    ),
    "payments": FileSpec(
        kind="payments",
        table=Payment.__table__,  # type: ignore[arg-type]
        columns=(
            Column("payment_id", "str", _REF, db="payment_ref", vector=_VREF),
            Column("account_id", "str", _REF, vector=_VREF),
            Column("amount_fen", "int", _fen(positive=True), db="amount", vector=_vfen(positive=True)),
            Column("value_date", "date", v.parse_date, vector=v.vector_date),
            Column("channel", "str", _enum(PAYMENT_CHANNELS), vector=_venum(PAYMENT_CHANNELS)),
        ),
        key=("payment_id",),
        policy="ledger",
        refs={"account_id": "accounts"},
    ),
    "holds": FileSpec(
        kind="holds",
        table=Hold.__table__,  # type: ignore[arg-type]
        columns=(
            Column("hold_id", "str", _REF, db="hold_ref", vector=_VREF),
            Column("account_id", "str", _REF, vector=_VREF),
            Column("kind", "str", _enum(HOLD_KINDS), vector=_venum(HOLD_KINDS)),
            Column("start_date", "date", v.parse_date, vector=v.vector_date),
            Column("end_date", "date", v.parse_date, required=False, vector=v.vector_date),
            Column("pauses_ageing", "bool", v.parse_bool, required=False, vector=v.vector_bool),
            Column("reason", "str", _text(10_000), required=False, vector=_vtext(10_000)),
            Column("created_by", "str", _REF, required=False, default="bank-file", vector=_VREF),
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
    max_amount_fen: int | None = None,
    control_required: bool | None = None,
) -> list[FileReport]:
    """Load files and directories in dependency order, one transaction per file.

    Raises :class:`FileRejected` at the first file rejected whole (after recording a 'rejected'
    IngestRun); files before it stay loaded, files after it are not read. ``max_amount_fen`` and
    ``control_required`` default to the settings of the same names (see :func:`ingest_file`).
    """
    reports = []
    for path, kind in plan_paths(paths):
        reports.append(ingest_file(engine, path, kind=kind, quarantine_dir=quarantine_dir, progress=progress,
                                   chunk_rows=chunk_rows, max_amount_fen=max_amount_fen,
                                   control_required=control_required))
    return reports


def ingest_file(
    engine: Engine,
    path: Path,
    *,
    kind: str | None = None,
    quarantine_dir: Path | None,
    progress: ProgressCallback | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_amount_fen: int | None = None,
    control_required: bool | None = None,
) -> FileReport:
    """Load one file in one transaction.

    Every ``_fen`` cell beyond ``max_amount_fen`` in absolute value (default: the setting
    ``max_amount_fen``) is quarantined. A control-total manifest next to the file
    (``<file>.ctl``, :mod:`arrears.accounts.control`) must match or the file is rejected whole;
    ``control_required`` (default: the setting ``ingest_control_required``) rejects a file
    without one.
    """
    path = Path(path)
    kind = kind or kind_of(path)
    if kind is None:
        raise FileRejected("cannot tell the kind of file from its name", file=str(path))
    spec = SPECS[kind]
    settings = get_settings()
    max_fen = settings.max_amount_fen if max_amount_fen is None else max_amount_fen
    required = settings.ingest_control_required if control_required is None else control_required
    started = time.perf_counter()
    report = FileReport(path=path, kind=kind)
    try:
        manifest = control.read_manifest(path, [c.name for c in spec.columns if c.name.endswith("_fen")],
                                         required=required)
        source = _open_source(path, spec)
    except FileRejected as exc:
        _record_rejection(engine, report, exc)
        raise
    report.sha256 = source.sha256

    while True:
        sinks = _ReportSinks(path, quarantine_dir)
        retry = False
        try:
            with engine.begin() as conn:
                loader = _Loader(conn, spec, report, sinks, source, max_amount_fen=max_fen)
                totals = control.Totals(manifest)
                try:
                    loader.start()
                    for chunk in source.chunks(chunk_rows):
                        totals.add(chunk.table, len(chunk.malformed))
                        loader.load_chunk(chunk)
                        if progress is not None:
                            progress(ProgressUpdate(path, kind, report.rows_read, source.done(), source.total))
                    totals.check(path)  # a mismatch rejects the file: the transaction rolls back
                    loader.finish()
                finally:
                    loader.close()
        except _Irregular:
            # Nothing was written (the transaction rolled back): read it again record by record.
            sinks.abort()
            source.close()
            report.run_id = None
            _reset_counts(report)
            retry = True
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
        if not retry:
            break
        source = _open_source(path, spec, careful=True)
    report.quarantine_path, report.conflicts_path = sinks.commit()
    report.seconds = time.perf_counter() - started
    return report


# --------------------------------------------------------------------------------------------
# Reading


@dataclass
class _Chunk:
    """Rows of a file as Arrow string columns (named as in the header; CSV cells as written,
    Parquet values printed as text), with their row numbers (CSV: header = 1; Parquet: record
    number). ``cells`` gives rows as the per-cell parsers take them (CSV text, Parquet values)."""

    table: pa.Table
    numbers: np.ndarray
    malformed: list[tuple[int, str, str]]  # (row number, reason, raw) rows that could not be split
    typed: pa.RecordBatch | None = None  # Parquet: the records with their own types

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def cells(self, positions: Sequence[int]) -> list[list[Any]]:
        source = self.typed if self.typed is not None else self.table
        picked = source.take(pa.array(positions, pa.int64()))
        columns = [picked.column(i).to_pylist() for i in range(picked.num_columns)]
        return [list(r) for r in zip(*columns, strict=True)] if columns else [[] for _ in positions]


class _Irregular(Exception):
    """The fast CSV reader met a record it cannot number like the csv module does (a blank line,
    a record with the wrong number of fields); the file is read again with the csv module."""


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


def _open_source(path: Path, spec: FileSpec, *, careful: bool = False) -> _Source:
    if not path.is_file():
        raise FileRejected("no such file", file=str(path))
    if path.suffix.lower() == ".parquet":
        return _ParquetSource(path, spec)
    return _CsvSource(path, spec, careful=careful)


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


def _rechunk(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.Table]:
    """Tables of exactly ``size`` rows (the last one shorter) from batches of any length."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size)
            rest = table.slice(size)
            pending = rest.to_batches() if rest.num_rows else []
            count = rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


class _CsvSource(_Source):
    """CSV through Arrow's reader; ``careful`` (or a header Arrow could split differently) reads
    with the csv module, which numbers blank lines and reports records of the wrong width."""

    def __init__(self, path: Path, spec: FileSpec, *, careful: bool = False) -> None:
        self.path = path
        self.total = path.stat().st_size
        self.sha256 = self._hash_and_check_utf8()
        self._file = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in close()
        self._lines = _Lines(self._file)
        self._reader = csv.reader(self._lines, strict=False)
        self._stream: Any = None
        try:
            header = next(self._reader)
        except StopIteration:
            self.close()
            raise FileRejected("empty file: no header row", file=str(path), row=1) from None
        except csv.Error as exc:
            self.close()
            raise FileRejected(f"unreadable header: {exc}", file=str(path), row=1) from None
        self.header = [h.strip() for h in header]
        self.careful = careful or any(ch in h for h in header for ch in "\r\n\"")
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
        return self._careful_chunks(size) if self.careful else self._arrow_chunks(size)

    def _arrow_chunks(self, size: int) -> Iterator[_Chunk]:
        width = len(self.header)
        names = [f"c{i}" for i in range(width)]
        irregular: list[int] = []

        def on_invalid(row: Any) -> str:
            irregular.append(1)
            return "skip"

        self._stream = pa.OSFile(str(self.path))
        try:
            reader = pacsv.open_csv(
                self._stream,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=8 << 20),
                parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False,
                                                 invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False),
            )
        except pa.ArrowInvalid as exc:
            raise _Irregular(str(exc)) from None

        def batches() -> Iterator[pa.RecordBatch]:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except pa.ArrowInvalid as exc:
                    raise _Irregular(str(exc)) from None
                if irregular:
                    raise _Irregular("record of the wrong width")
                yield batch

        number = 1
        for table in _rechunk(batches(), size):
            table = table.rename_columns(self.header)
            # A blank line reads as a record of empty cells: the csv module would skip it.
            blank = pc.equal(table.column(0), "")
            for i in range(1, width):
                blank = pc.and_(blank, pc.equal(table.column(i), ""))
            if pc.any(blank).as_py():
                raise _Irregular("blank line")
            # A quoted line break may as well be a stray quote that swallowed the lines after it:
            # the csv module's reading tells the two apart (see _stray_quote).
            for i in range(width):
                if pc.any(pc.match_substring_regex(table.column(i), "[\r\n]")).as_py():
                    raise _Irregular("line break inside a field")
            numbers = np.arange(number + 1, number + 1 + table.num_rows, dtype=np.int64)
            number += table.num_rows
            yield _Chunk(table, numbers, [])

    def _careful_chunks(self, size: int) -> Iterator[_Chunk]:
        width = len(self.header)
        number = 1
        rows: list[list[Any]] = []
        numbers: list[int] = []
        malformed: list[tuple[int, str, str]] = []
        reader = self._reader

        def chunk() -> _Chunk:
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]
            table = pa.table([pa.array(c, pa.string()) for c in columns], names=self.header)
            return _Chunk(table, np.array(numbers, dtype=np.int64), malformed)

        lines = self._lines
        while True:
            lines.taken = []
            broken = None
            try:
                cells = next(reader)
                if _stray_quote(lines.taken, cells, width):
                    broken = ("malformed quoted field: a double quote opens a field that is not closed on "
                              "this row (a stray or unbalanced quote)")
            except StopIteration:
                break
            except csv.Error as exc:  # e.g. a quoted field past the csv module's size limit
                broken = f"malformed CSV: {exc}"
            number += 1
            if broken and lines.taken:
                # A record over several lines that is not a well-formed one: a stray double quote
                # opened a field that swallowed the lines after it. Only its first line is the bad
                # row; the lines after it are read again as rows of their own.
                first, *rest = lines.taken
                lines.push_back(rest)
                malformed.append((number, broken, first.rstrip("\r\n")))
                if len(rows) + len(malformed) >= size:
                    yield chunk()
                    rows, numbers, malformed = [], [], []
                continue
            if not cells:  # a blank line is not a record
                continue
            if len(cells) != width:
                malformed.append((number, f"expected {width} fields, found {len(cells)}", self.raw(cells)))
            else:
                rows.append(cells)
                numbers.append(number)
            if len(rows) + len(malformed) >= size:
                yield chunk()
                rows, numbers, malformed = [], [], []
        if rows or malformed:
            yield chunk()

    def done(self) -> int:
        try:
            if self._stream is not None:
                return min(self._stream.tell(), self.total)
            return min(self._file.buffer.tell(), self.total)
        except (OSError, ValueError, pa.ArrowException):  # pragma: no cover - closed file
            return self.total

    def raw(self, cells: list[Any]) -> str:
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(cells)
        return out.getvalue()

    def close(self) -> None:
        self._file.close()
        if self._stream is not None:
            self._stream.close()


class _Lines:
    """The physical lines of a text file for the csv module, remembering those of the record being
    read (``taken``) and able to give lines back to be read again."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self._back: list[str] = []
        self.taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self._back.pop() if self._back else next(self._file)
        self.taken.append(line)
        return line

    def push_back(self, lines: list[str]) -> None:
        self._back.extend(reversed(lines))


def _stray_quote(lines: list[str], cells: list[str], width: int) -> bool:
    """Whether a record read from several ``lines`` is a stray double quote that swallowed the
    lines after it rather than a quoted line break: its quoting is not RFC 4180 (a quoted field
    not closed, or closed before something other than a comma or the end of the line), or it has
    the wrong number of fields and the next line reads as a record of the right width."""
    if len(lines) < 2:
        return False
    try:
        for _ in csv.reader(lines, strict=True):
            pass
    except csv.Error:
        return True
    if len(cells) == width:
        return False
    return len(next(csv.reader(lines[1:2], strict=False), [])) == width


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
            text = pa.table([_as_text(batch.column(i)) for i in range(batch.num_columns)], names=self.header)
            numbers = np.arange(number + 1, number + 1 + batch.num_rows, dtype=np.int64)
            number += batch.num_rows
            self._done = number
            yield _Chunk(text, numbers, [], typed=batch)

    def done(self) -> int:
        return self._done

    def raw(self, cells: list[Any]) -> str:
        return json.dumps(dict(zip(self.header, cells, strict=True)), ensure_ascii=False, default=str)

    def close(self) -> None:
        self._file.close()


def _as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return pc.cast(column, pa.string())


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
            self._writers[which] = SafeWriter(f)  # the raw rows are the bank's: no live formulas
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
_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "date": pa.date32(), "bool": pa.bool_()}
_DUCK_TYPES = {"str": "VARCHAR", "int": "BIGINT", "date": "DATE", "bool": "BOOLEAN"}
_PG_TYPES = {"str": "text", "int": "bigint", "date": "date", "bool": "boolean"}


def _vector_cross_checks(kind: str, values: dict[str, pa.Array]) -> pa.Array | None:
    """Which rows pass :func:`_cross_checks` unchanged (None: every row). Fills defaults that
    depend on other columns."""
    if kind == "customers":
        _, _, born = v.vector_national_id(values["national_id"], today=utc_now().date())
        return pc.fill_null(pc.equal(values["birth_date"], born), False)
    if kind == "contact_points":
        return v.vector_contact_value(values["kind"], values["value"])
    if kind == "statements":
        return pc.fill_null(pc.and_(pc.greater(values["due_date"], values["statement_date"]),
                                    pc.less_equal(values["past_due_included_fen"], values["minimum_due_fen"])), False)
    if kind == "holds":
        pauses = values["pauses_ageing"]
        values["pauses_ageing"] = pc.if_else(pc.is_null(pauses), pc.equal(values["kind"], "dispute"), pauses)
        end, start = values["end_date"], values["start_date"]
        return pc.fill_null(pc.or_(pc.is_null(end), pc.greater_equal(end, start)), False)
    return None


def _bounded(values: pa.Array, limit: int) -> pa.Array:
    """Amounts within ``-limit .. limit`` (nulls: not vouched for)."""
    return pc.fill_null(pc.and_(pc.greater_equal(values, -limit), pc.less_equal(values, limit)), False)


def _same(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Element-wise equality where two nulls are equal."""
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return np.asarray(pc.or_(both_null, pc.fill_null(pc.equal(a, b), False)).to_numpy(zero_copy_only=False), dtype=bool)


class _Loader:
    def __init__(self, conn: Connection, spec: FileSpec, report: FileReport, sinks: _ReportSinks, source: _Source,
                 *, max_amount_fen: int) -> None:
        self.conn = conn
        self.max_fen = max_amount_fen
        self.source_header = source.header
        self.raw = source.raw
        self._ref_back: dict[Any, Any] = {}
        self.spec = spec
        self.report = report
        self.sinks = sinks
        self.table = spec.table
        self.pg = not is_sqlite(conn.engine)
        self.now = utc_now()
        self.run_id = 0
        self.file_to_db = {c.name: spec.db_name(c.name) for c in spec.columns}
        self.db_to_file = {d: f for f, d in self.file_to_db.items()}
        self.compare = [self.file_to_db[c.name] for c in spec.columns]
        self.store_empty = False
        self._duck: Any = None
        self._temp: set[str] = set()
        self._cache_size: int | None = None

    def start(self) -> None:
        self.run_id = self.conn.execute(
            insert(IngestRun.__table__).values(
                kind=self.spec.kind, file_name=str(self.report.path), sha256=self.report.sha256, status="loading",
                rows_read=0, rows_loaded=0, rows_unchanged=0, rows_conflicting=0, rows_quarantined=0,
                started_at=self.now,
            ).returning(IngestRun.__table__.c.id)
        ).scalar_one()
        self.report.run_id = self.run_id
        # Keys met earlier in this file (for "duplicate key inside the file"), kept off the heap.
        self._duck = duckdb.connect()
        by_name = self.spec.by_name
        cols = ", ".join(f"k{i} {_DUCK_TYPES[by_name[k].type]}" for i, k in enumerate(self.spec.key))
        self._duck.execute(f"CREATE TABLE seen ({cols}, rn BIGINT)").fetchall()
        # Rows written earlier in this file never need comparing (duplicates are quarantined), so
        # a table empty at the start needs no look-ups at all.
        t = self.table
        self.store_empty = self.conn.execute(select(t.c.id).limit(1)).first() is None
        if not self.pg:
            # Index pages of a large table stay in memory while the file loads (256 MiB at most);
            # the connection's own setting is restored in close().
            self._cache_size = self.conn.exec_driver_sql("PRAGMA cache_size").scalar()
            self.conn.exec_driver_sql("PRAGMA cache_size=-262144")

    def close(self) -> None:
        if self._cache_size is not None:
            self.conn.exec_driver_sql(f"PRAGMA cache_size={int(self._cache_size)}")
            self._cache_size = None
        if self._duck is not None:
            self._duck.close()
            self._duck = None

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
        if not self.pg:
            for name in self._temp:
                self.conn.exec_driver_sql(f'DROP TABLE IF EXISTS temp."{name}"')

    # -- one chunk -----------------------------------------------------------------------------

    def load_chunk(self, chunk: _Chunk) -> None:
        spec = self.spec
        kind = spec.kind
        n = chunk.num_rows
        quarantine: list[tuple[int, str | None, str, str | None]] = []
        issues: list[dict[str, Any]] = []

        def bad(number: int, cells: list[Any] | None, errs: list[tuple[str | None, str]], key: str | None, raw: str | None = None) -> None:
            raw_text = raw if raw is not None else (self.raw(cells) if cells is not None else None)
            # A control character is shown as an escape (PostgreSQL text cannot hold NUL at all).
            raw_text, key = v.visible(raw_text), v.visible(key)
            for fld, reason in errs:
                quarantine.append((number, fld, reason, raw_text))
                issues.append(dict(ingest_run_id=self.run_id, row_number=number, kind="quarantine", field=fld,
                                   reason=reason, natural_key=key, raw=raw_text))
            self.report.quarantined += 1

        self.report.rows_read += n + len(chunk.malformed)
        for number, reason, raw in chunk.malformed:
            bad(number, None, [(None, reason)], None, raw)
        numbers = chunk.numbers

        # 1. whole-column checks; the rows they do not vouch for go through the per-cell parsers
        values: dict[str, pa.Array] = {}
        ok = np.ones(n, dtype=bool)
        header = chunk.table.column_names
        for c in spec.columns:
            typ = _ARROW_TYPES[c.type]
            if c.name not in header:
                values[c.name] = pa.array([c.default] * n, typ)
                continue
            col = chunk.table.column(c.name).combine_chunks()
            assert c.vector is not None
            vals, good = c.vector(col)
            if not c.required:
                empty = pc.fill_null(pc.equal(col, ""), True)
                good = pc.or_(good, empty)
                vals = pc.if_else(empty, pa.scalar(c.default, typ), vals)
            if c.name.endswith("_fen"):  # beyond the maximum: the per-cell check gives the reason
                good = pc.and_(good, _bounded(vals, self.max_fen))
            values[c.name] = vals
            ok &= np.asarray(good.to_numpy(zero_copy_only=False), dtype=bool)
        if kind in _CROSS_CHECKED and n:
            cross = _vector_cross_checks(kind, values)
            if cross is not None:
                ok &= np.asarray(cross.to_numpy(zero_copy_only=False), dtype=bool)

        slow = np.flatnonzero(~ok)
        parsed: dict[int, tuple[dict[str, Any], list[tuple[str | None, str]], list[Any]]] = {}
        if len(slow):
            positions = [header.index(c.name) if c.name in header else -1 for c in spec.columns]
            for pos, cells in zip(slow.tolist(), chunk.cells(slow.tolist()), strict=True):
                row: dict[str, Any] = {}
                errs: list[tuple[str | None, str]] = []
                for c, at in zip(spec.columns, positions, strict=True):
                    cell = cells[at] if at >= 0 else None
                    if cell is None or (cell.__class__ is str and not cell.strip()):
                        if c.required:
                            errs.append((c.name, _MISSING))
                        row[c.name] = c.default
                        continue
                    try:
                        row[c.name] = c.parse(cell)
                        if c.name.endswith("_fen"):
                            v.check_fen_bound(row[c.name], self.max_fen)
                    except ValueError as exc:
                        errs.append((c.name, str(exc)))
                        row[c.name] = None
                parsed[pos] = (row, errs, cells)

        def patch(name: str, rows: dict[int, Any]) -> None:
            if not rows:
                return
            mask = np.zeros(n, dtype=bool)
            mask[list(rows)] = True
            order = sorted(rows)
            typ = _ARROW_TYPES[spec.by_name[name].type]
            values[name] = pc.replace_with_mask(values[name], pa.array(mask), pa.array([rows[p] for p in order], typ))

        for k in spec.key:
            patch(k, {p: r[k] for p, (r, _, _) in parsed.items()})

        # 2. duplicate keys inside the file (rows with an unparseable key take no part)
        dup_first = self._duplicates(values, numbers)
        single_key = spec.key[0] if len(spec.key) == 1 else None

        def key_of(pos: int) -> Any:
            if pos in parsed:
                r = parsed[pos][0]
            else:
                r = {k: values[k][pos].as_py() for k in spec.key}
            return r[single_key] if single_key else tuple(r[k] for k in spec.key)

        rejected = np.zeros(n, dtype=bool)
        fast_dups = [p for p in dup_first if p not in parsed]
        fast_cells = dict(zip(fast_dups, chunk.cells(fast_dups), strict=True)) if fast_dups else {}
        for pos in sorted(set(parsed) | set(dup_first)):
            if pos in parsed:
                row, errs, cells = parsed[pos]
            else:
                row, errs, cells = {}, [], fast_cells[pos]
            key = key_of(pos)
            if pos in dup_first:
                errs.append((single_key or ",".join(spec.key),
                             f"duplicate key {self._key_str(key)!r} inside the file (first at row {dup_first[pos]})"))
            if not errs and kind in _CROSS_CHECKED:
                errs.extend(_cross_checks(kind, row))
            if errs:
                rejected[pos] = True
                bad(int(numbers[pos]), cells, errs, None if key is None else self._key_str(key))
        for c in spec.columns:
            if c.name not in spec.key:
                patch(c.name, {p: r[c.name] for p, (r, _, _) in parsed.items() if not rejected[p]})

        keep = ~rejected
        good = pa.table({c.name: values[c.name] for c in spec.columns}).filter(pa.array(keep))
        good_pos = np.flatnonzero(keep)

        # 3. resolve references to other files' keys
        for column, ref_kind in spec.refs.items():
            if good.num_rows == 0:
                break
            refs = good.column(column).combine_chunks()
            wanted = pc.unique(refs)
            table, ref_col = _REF_TABLES[ref_kind]
            found = self._fetch_by_keys(table.name, [ref_col], [wanted], [ref_col, "id"])
            found_refs = pa.array([r[1] for r in found], pa.string())
            found_ids = pa.array([r[2] for r in found], pa.int64())
            self._ref_back = dict(zip(found_ids.to_pylist(), found_refs.to_pylist(), strict=True))
            ids = pc.take(found_ids, pc.index_in(refs, value_set=found_refs))
            missing = np.asarray(pc.is_null(ids).to_numpy(zero_copy_only=False), dtype=bool)
            if missing.any():
                lost = np.flatnonzero(missing)
                lost_pos = good_pos[lost].tolist()
                for pos, cells, i in zip(lost_pos, chunk.cells(lost_pos), lost.tolist(), strict=True):
                    ref = refs[i].as_py()
                    key_text = self._key_str(tuple(good.column(k)[i].as_py() for k in spec.key))
                    bad(int(numbers[pos]), cells,
                        [(column, f"unknown {column} {ref!r} (not in the store nor loaded earlier)")], key_text)
                good = good.filter(pa.array(~missing))
                good_pos = good_pos[~missing]
                ids = ids.filter(pa.array(~missing))
            good = good.set_column(good.schema.get_field_index(column), column, ids)
        good = good.rename_columns([self.file_to_db[name] for name in good.column_names])

        # 4. compare with what the store holds under the same keys
        is_new = np.ones(good.num_rows, dtype=bool)
        updates: list[dict[str, Any]] = []
        conflicts: list[tuple[int, str | None, str, str | None]] = []
        if not self.store_empty and good.num_rows:
            key_db = spec.key_db
            names = ["id", *(c for c in self.compare if c != "id")]
            found = self._fetch_by_keys(self.table.name, list(key_db), [good.column(k) for k in key_db], names)
            if found:
                at = np.array([r[0] for r in found], dtype=np.int64)
                is_new[at] = False
                old = self._old_values(names, found)
                mine = good.take(pa.array(at))
                same = np.ones(len(at), dtype=bool)
                differs: dict[str, np.ndarray] = {}
                for c in self.compare:
                    eq = _same(old[c], mine.column(c))
                    differs[c] = ~eq
                    same &= eq
                self.report.unchanged += int(same.sum())
                changed = np.flatnonzero(~same)
                if len(changed):
                    cells_of = dict(zip(changed.tolist(), chunk.cells(good_pos[at[changed]].tolist()), strict=True))
                    old_rows = {name: old[name].take(pa.array(changed)).to_pylist() for name in names}
                    new_rows = {c: mine.column(c).take(pa.array(changed)).to_pylist() for c in self.compare}
                    for j, i in enumerate(changed.tolist()):
                        o = {name: old_rows[name][j] for name in names}
                        db_row = {c: new_rows[c][j] for c in self.compare}
                        diff = [c for c in self.compare if differs[c][i]]
                        number = int(numbers[good_pos[at[i]]])
                        self._classify(number, cells_of[i], o, db_row, diff, updates, conflicts, issues)

        # 5. write
        inserts = good.filter(pa.array(is_new)) if not is_new.all() else good
        if inserts.num_rows:
            self._insert(self.table, inserts)
            self.report.loaded += inserts.num_rows
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
        conflicts.sort(key=lambda q: q[0])
        self.sinks.write("quarantine", quarantine)
        self.sinks.write("conflicts", conflicts)

    def _classify(self, number: int, cells: list[Any], old: dict[str, Any], db_row: dict[str, Any], diff: list[str],
                  updates: list[dict[str, Any]], conflicts: list[tuple[int, str | None, str, str | None]],
                  issues: list[dict[str, Any]]) -> None:
        spec = self.spec
        if spec.policy == "master" or (spec.policy == "hold" and set(diff) <= set(spec.mutable)):
            changes = {c: db_row[c] for c in diff}
            changes["ingest_run_id"] = self.run_id
            changes["_id"] = old["id"]
            updates.append(changes)
            return
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

    # -- helpers -------------------------------------------------------------------------------

    def _duplicates(self, values: dict[str, pa.Array], numbers: np.ndarray) -> dict[int, int]:
        """Rows whose key was met earlier in the file: position -> row number of the first."""
        keys = [values[k] for k in self.spec.key]
        if not len(numbers):
            return {}
        valid = pc.is_valid(keys[0])
        for k in keys[1:]:
            valid = pc.and_(valid, pc.is_valid(k))
        ck = pa.table({**{f"k{i}": k for i, k in enumerate(keys)},
                       "rn": pa.array(numbers), "pos": pa.array(np.arange(len(numbers)))}).filter(valid)
        if ck.num_rows == 0:
            return {}
        duck = self._duck
        on = " AND ".join(f"s.k{i} = ck.k{i}" for i in range(len(keys)))
        part = ", ".join(f"ck.k{i}" for i in range(len(keys)))
        duck.register("ck", ck)
        try:
            res = duck.sql(
                f"SELECT ck.pos, ck.rn, coalesce(s.rn, min(ck.rn) OVER (PARTITION BY {part})) AS first "
                f"FROM ck LEFT JOIN seen s ON {on} ORDER BY ck.pos"
            ).to_arrow_table()
            first_new = pc.equal(res.column("first"), res.column("rn"))
            duck.register("nw", ck.filter(first_new))
            duck.execute(f"INSERT INTO seen SELECT {', '.join(f'k{i}' for i in range(len(keys)))}, rn FROM nw").fetchall()
            duck.unregister("nw")
        finally:
            duck.unregister("ck")
        dups = res.filter(pc.invert(first_new))
        return dict(zip(dups.column("pos").to_pylist(), dups.column("first").to_pylist(), strict=True))

    def _fetch_by_keys(self, table: str, key_cols: list[str], keys: list[Any], columns: list[str]) -> list[tuple[Any, ...]]:
        """Rows of ``table`` whose ``key_cols`` equal one of the given keys (Arrow arrays, one per
        key column): ``(position of the key, *columns)``. The keys go into a temporary table
        joined on the table's unique index, one statement per chunk."""
        width = len(key_cols)
        name = f"_ingest_keys_{table}_{width}"
        n = len(keys[0])
        if n == 0:
            return []
        cols = ", ".join(f't."{c}"' for c in columns)
        on = " AND ".join(f't."{c}" = k.k{i}' for i, c in enumerate(key_cols))
        sql = f'SELECT k.rn, {cols} FROM "{name}" k JOIN "{table}" t ON {on}'
        raw_conn = self.conn.connection.driver_connection
        if self.pg:
            types = ", ".join(f"k{i} {_pg_type(k.type)}" for i, k in enumerate(keys))
            with raw_conn.cursor() as cur:  # type: ignore[union-attr]
                if name not in self._temp:
                    cur.execute(f'CREATE TEMP TABLE "{name}" (rn bigint, {types}) ON COMMIT DROP')
                    self._temp.add(name)
                else:
                    cur.execute(f'TRUNCATE "{name}"')
                data = pa.table({"rn": pa.array(np.arange(n)), **{f"k{i}": k for i, k in enumerate(keys)}})
                _copy_arrow(cur, name, data)
                cur.execute(sql)
                return cur.fetchall()
        cur = raw_conn.cursor()  # type: ignore[union-attr]
        try:
            if name not in self._temp:
                cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{name}" (rn INTEGER PRIMARY KEY, '
                            f'{", ".join(f"k{i}" for i in range(width))})')
                self._temp.add(name)
            cur.execute(f'DELETE FROM temp."{name}"')
            cur.executemany(f'INSERT INTO temp."{name}" VALUES (?{", ?" * width})',
                            zip(range(n), *(_sqlite_values(k) for k in keys)))
            cur.execute(sql.replace(f'FROM "{name}"', f'FROM temp."{name}"'))
            return cur.fetchall()
        finally:
            cur.close()

    def _old_values(self, names: list[str], found: list[tuple[Any, ...]]) -> dict[str, pa.Array]:
        """Stored values as Arrow arrays of the file's types (SQLite hands back text dates, 0/1)."""
        out: dict[str, pa.Array] = {}
        for i, name in enumerate(names, start=1):
            column = [r[i] for r in found]
            if name == "id":
                out[name] = pa.array(column, pa.int64())
                continue
            file_col = self.db_to_file[name]
            typ = pa.int64() if file_col in self.spec.refs else _ARROW_TYPES[self.spec.by_name[file_col].type]
            if pa.types.is_date32(typ) and not self.pg:
                out[name] = pc.cast(pa.array(column, pa.string()), typ)
            elif pa.types.is_boolean(typ) and not self.pg:
                out[name] = pa.array([None if x is None else bool(x) for x in column], typ)
            else:
                out[name] = pa.array(column, typ)
        return out

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

    def _insert(self, table: Table, rows: list[dict[str, Any]] | pa.Table) -> None:
        if isinstance(rows, pa.Table):
            self._insert_arrow(table, rows)
            return
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
            proc = table.c[c].type._cached_bind_processor(dialect)
            values = [r[c] for r in rows]
            if proc is not None:
                values = [None if x is None else proc(x) for x in values]
            converted.append(values)
        sql = f'INSERT INTO "{table.name}" ({", ".join(chr(34) + c + chr(34) for c in columns)}) VALUES ({", ".join("?" * len(columns))})'
        self.conn.exec_driver_sql(sql, list(zip(*converted, strict=True)))

    def _insert_arrow(self, table: Table, data: pa.Table) -> None:
        """New rows of the file's table, stamped with this run, in bulk (COPY / executemany)."""
        names = [*data.column_names, "ingest_run_id", "created_at"]
        cols = ", ".join(f'"{c}"' for c in names)
        raw_conn = self.conn.connection.driver_connection
        if self.pg:
            data = data.append_column("ingest_run_id", pa.array(np.full(data.num_rows, self.run_id, dtype=np.int64)))
            data = data.append_column("created_at", pa.array([self.now.isoformat()] * data.num_rows, pa.string()))
            with raw_conn.cursor() as cur:  # type: ignore[union-attr]
                _copy_arrow(cur, table.name, data, columns=cols)
            return
        proc = table.c["created_at"].type._cached_bind_processor(self.conn.dialect)
        created = proc(self.now) if proc is not None else self.now
        sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join("?" * len(names))})'
        cur = raw_conn.cursor()  # type: ignore[union-attr]
        try:
            for batch in data.to_batches(50_000):
                cur.executemany(sql, zip(*(_sqlite_values(c) for c in batch.columns),
                                         itertools.repeat(self.run_id), itertools.repeat(created)))
        finally:
            cur.close()

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


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_integer(t):
        return "bigint"
    if pa.types.is_boolean(t):
        return "boolean"
    return "text"


def _sqlite_values(column: Any) -> list[Any]:
    """A column as SQLite parameters: dates as ISO text (how SQLAlchemy stores them)."""
    if pa.types.is_date32(column.type):
        column = pc.cast(column, pa.string())
    return column.to_pylist()


def _copy_arrow(cur: Any, table: str, data: pa.Table, *, columns: str | None = None) -> None:
    """COPY an Arrow table into PostgreSQL as CSV (strings always quoted, so only NULL is bare)."""
    cols = columns or ", ".join(f'"{c}"' for c in data.column_names)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(data, sink, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    with cur.copy(f'COPY "{table}" ({cols}) FROM STDIN (FORMAT csv)') as copy:
        copy.write(sink.getvalue().to_pybytes())
