"""The behaviour-score files: the training file (features + ``paid_next``) and the features file.

Both are CSV (UTF-8, header row) or Parquet, one row per account and month. A file is checked
whole before anything is used: the first problem raises :class:`FileRejected` naming the file,
the row (CSV: the line, header = 1; Parquet: the record, first = 1) and the column.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from arrears.kit.errors import FileRejected

__all__ = [
    "CATEGORICAL_FEATURES",
    "COLUMNS",
    "LABEL",
    "NUMERIC_FEATURES",
    "Column",
    "read_features_file",
    "read_training_file",
    "write_table",
]

Kind = Literal["id", "month", "int", "category", "label"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool
    doc: str
    minimum: int | None = 0


COLUMNS: tuple[Column, ...] = (
    Column("account_ref", "id", True, "the bank's account id (text, 1-64 characters)"),
    Column("month", "month", True, "the snapshot month YYYY-MM: features as at its last day"),
    Column("dpd", "int", True, "days past due at month end"),
    Column("bucket", "category", True, "delinquency bucket at month end (M0, M1 … M7+)"),
    Column("balance_fen", "int", True, "statement balance, integer fen (negative = credit balance)", None),
    Column("credit_limit_fen", "int", True, "credit limit, integer fen"),
    Column("utilisation_bp", "int", True, "balance / limit in basis points (10000 = at the limit)"),
    Column("payments_3m_fen", "int", True, "sum of payments in the last three months, integer fen"),
    Column("payments_count_3m", "int", True, "number of payments in the last three months"),
    Column("min_due_fen", "int", True, "minimum due on the last statement, integer fen"),
    Column("months_on_book", "int", True, "months since the account was opened"),
    Column("cycles_delinquent", "int", True, "statement cycles ever delinquent"),
    Column("age_band", "category", False, "cardholder's age band, e.g. 26-35 (optional)"),
    Column("region", "category", False, "region, e.g. east (optional)"),
    Column("paid_next", "label", True, "1 if the next payment was made (by the next due date), else 0"),
)
_BY_NAME = {c.name: c for c in COLUMNS}
LABEL = "paid_next"
NUMERIC_FEATURES: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "int")
CATEGORICAL_FEATURES: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "category")

_INT_RE = r"^[+-]?[0-9]{1,18}$"  # 18 digits always fit int64
_MONTH_RE = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_TEXT_MAX = 64
_UTF8_BOM = b"\xef\xbb\xbf"


def read_training_file(path: str | Path) -> pa.Table:
    """The training file, typed (int64 numbers, strings, ``paid_next`` int8). Optional columns
    that are absent are absent from the result too."""
    return _read(Path(path), purpose="training")


def read_features_file(path: str | Path, *, features: Sequence[str] | None = None) -> pa.Table:
    """A file to score: the training format without ``paid_next`` (ignored if present) and with
    ``month`` optional. ``features`` (a model's) makes those columns required."""
    return _read(Path(path), purpose="features", needed=tuple(features or ()))


def _read(path: Path, *, purpose: Literal["training", "features"], needed: tuple[str, ...] = ()) -> pa.Table:
    file = str(path)
    if not path.is_file():
        raise FileRejected("no such file", file=file)
    suffix = path.suffix.lower()

    def check(names: list[str]) -> None:
        _check_header(names, file=file, header_row=1 if suffix == ".csv" else None, purpose=purpose, needed=needed)

    if suffix == ".csv":
        raw, first_row = _read_csv(path, check), 2
    elif suffix == ".parquet":
        raw, first_row = _read_parquet(path), 1
        check(raw.column_names)
    else:
        raise FileRejected("the file must be .csv or .parquet", file=file)

    names = raw.column_names
    if raw.num_rows == 0:
        raise FileRejected("no data rows", file=file, row=first_row)

    out: dict[str, pa.Array] = {}
    for col in COLUMNS:
        if col.name not in names or (purpose == "features" and col.name == LABEL):
            continue
        out[col.name] = _column(raw[col.name].combine_chunks(), col, file=file, first_row=first_row,
                                required=col.required or col.name in needed)
    table = pa.table(out)
    key = ["account_ref", "month"] if "month" in out else ["account_ref"]
    _no_duplicates(table, key, file=file, first_row=first_row)
    return table


def _check_header(names: list[str], *, file: str, header_row: int | None, purpose: str,
                  needed: tuple[str, ...]) -> None:
    for i, name in enumerate(names):
        if name in names[:i]:
            raise FileRejected("duplicate column", file=file, row=header_row, column=name)
        if name not in _BY_NAME:
            raise FileRejected(f"unknown column (the columns are: {', '.join(_BY_NAME)})", file=file,
                               row=header_row, column=name)
    for col in COLUMNS:
        required = col.required or col.name in needed
        if purpose == "features" and col.name == LABEL:
            required = False
        if purpose == "features" and col.name == "month":
            required = False
        if required and col.name not in names:
            raise FileRejected("missing required column", file=file, row=header_row, column=col.name)


def _read_csv(path: Path, check: Callable[[list[str]], None]) -> pa.Table:
    file = str(path)
    data = path.read_bytes()
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected("bytes that are not UTF-8 (files must be UTF-8 encoded)", file=file,
                           row=data.count(b"\n", 0, exc.start) + 1) from None
    if not data.strip():
        raise FileRejected("empty file: no header row", file=file, row=1)
    header = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    names = [h.strip().strip('"') for h in header.split(",")]
    check(names)
    bad: list[tuple[int | None, int, int]] = []

    def on_bad_row(row: pa_csv.InvalidRow) -> str:
        bad.append((row.number, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            # One thread so that pyarrow knows each bad row's line number.
            read_options=pa_csv.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_bad_row),
            convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                  strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:
        raise FileRejected(f"not a readable CSV file: {exc}", file=file) from None
    if bad:
        number, expected, actual = bad[0]
        raise FileRejected(f"expected {expected} fields, got {actual}", file=file, row=number)
    return table


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected(f"not a readable Parquet file: {exc}", file=str(path)) from None


def _first(mask: pa.Array | np.ndarray) -> int | None:
    """Index of the first True (nulls count as True)."""
    arr = np.asarray(mask.fill_null(True) if isinstance(mask, pa.Array) else mask, dtype=bool)
    hits = np.flatnonzero(arr)
    return int(hits[0]) if hits.size else None


def _column(arr: pa.Array, col: Column, *, file: str, first_row: int, required: bool) -> pa.Array:
    def reject(index: int, message: str) -> FileRejected:
        return FileRejected(message, file=file, row=index + first_row, column=col.name)

    typ = arr.type
    is_text = pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if pa.types.is_dictionary(typ):
        arr, typ = arr.cast(typ.value_type), typ.value_type
        is_text = pa.types.is_string(typ) or pa.types.is_large_string(typ)
    if is_text:
        arr = arr.cast(pa.string())
        empty = pc.or_kleene(pc.is_null(arr), pc.equal(pc.utf8_trim_whitespace(arr), ""))
    else:
        empty = pc.is_null(arr)
    missing = _first(empty)
    if required and missing is not None:
        raise reject(missing, "a value is required")

    if col.kind in ("int", "label"):
        if is_text:
            trimmed = pc.utf8_trim_whitespace(arr)
            bad = _first(pc.and_(pc.invert(empty), pc.invert(pc.match_substring_regex(trimmed, _INT_RE))))
            if bad is not None:
                raise reject(bad, f"must be a whole number, got {arr[bad].as_py()!r}")
            values = pc.if_else(empty, pa.scalar(None, pa.string()), trimmed).cast(pa.int64())
        elif pa.types.is_integer(typ):
            values = arr.cast(pa.int64())
        else:
            raise FileRejected(f"must hold whole numbers, the column's type is {typ}", file=file, column=col.name)
        if col.kind == "label":
            bad = _first(pc.invert(pc.is_in(values, value_set=pa.array([0, 1], pa.int64()))))
            if bad is not None:
                raise reject(bad, f"must be 0 or 1, got {values[bad].as_py()!r}")
            return values.cast(pa.int8())
        if col.minimum is not None:
            bad = _first(pc.less(values, col.minimum).fill_null(False))
            if bad is not None:
                raise reject(bad, f"must be >= {col.minimum}, got {values[bad].as_py()}")
        return values

    if not is_text:
        raise FileRejected(f"must hold text, the column's type is {typ}", file=file, column=col.name)
    text = pc.utf8_trim_whitespace(arr)
    if col.kind == "month":
        bad = _first(pc.invert(pc.match_substring_regex(text, _MONTH_RE)))
        if bad is not None:
            raise reject(bad, f"must be a month YYYY-MM, got {arr[bad].as_py()!r}")
        return text
    bad = _first(pc.greater(pc.utf8_length(text), _TEXT_MAX))
    if bad is not None:
        raise reject(bad, f"must be at most {_TEXT_MAX} characters")
    return pc.if_else(empty, pa.scalar(None, pa.string()), text)


def _no_duplicates(table: pa.Table, key: list[str], *, file: str, first_row: int) -> None:
    if table.group_by(key).aggregate([]).num_rows == table.num_rows:
        return
    seen: set[tuple[str, ...]] = set()
    for i, row in enumerate(zip(*(table[k].to_pylist() for k in key))):
        if row in seen:
            raise FileRejected(f"{' and '.join(key)} repeat an earlier row: one row per account"
                               + (" and month" if len(key) > 1 else ""), file=file, row=i + first_row,
                               column=key[0])
        seen.add(row)


def write_table(table: pa.Table, path: str | Path) -> Path:
    """Write a table as CSV (UTF-8, header) or Parquet, by the file's suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise FileRejected("write .csv or .parquet", file=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path)
    return path
