"""The bank's control totals: a manifest next to a file that says how many rows it has and what its
amounts add up to, so that a file cut short (at a line boundary, where nothing else looks wrong)
or altered in transit is rejected whole instead of loading short.

The manifest of ``payments_20260301.csv`` is ``payments_20260301.csv.ctl`` (same for Parquet),
UTF-8 text, one ``name=value`` a line; blank lines and lines starting with ``#`` are ignored::

    # control totals of payments_20260301.csv
    rows=3
    sum_amount_fen=10100

``rows`` (required) is the number of data records: every record after the header, counted as
:mod:`arrears.accounts.ingest` numbers them (a record with a quoted line break is one; blank lines
are none), whether it then loads, is unchanged, conflicts or is quarantined. ``sum_<column>``
(optional, any ``_fen`` column of the kind) is the sum of that column's cells over the same
records. A cell that is not a whole number cannot be counted: a sum that then does not match
says so. See docs/file-formats.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from arrears.kit.errors import FileRejected

MANIFEST_SUFFIX = ".ctl"
_WHOLE = re.compile(r"[+-]?[0-9]+", re.ASCII)
_CELL = r"^[+-]?[0-9]{1,30}$"  # at most 30 digits: a chunk's sum stays within decimal128(38)


@dataclass(frozen=True)
class Manifest:
    path: Path
    rows: int
    sums: dict[str, int] = field(default_factory=dict)


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def read_manifest(path: Path, fen_columns: list[str], *, required: bool) -> Manifest | None:
    """The manifest of ``path``, or None when there is none and none is ``required``.

    Raises :class:`FileRejected` (naming the data file, the manifest and its line) when the
    manifest is missing but required, or does not read."""
    where = manifest_path(path)
    if not where.is_file():
        if required:
            raise FileRejected(f"no control-total manifest ({where.name}) next to the file, and the setting "
                               f"ARREARS_INGEST_CONTROL_REQUIRED asks for one", file=str(path))
        return None

    def fail(message: str, line: int | None = None) -> FileRejected:
        at = f", line {line}" if line is not None else ""
        return FileRejected(f"control-total manifest {where.name}{at}: {message}", file=str(path))

    try:
        text = where.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    rows: int | None = None
    sums: dict[str, int] = {}
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, eq, value = (part.strip() for part in line.partition("="))
        if not eq:
            raise fail(f"expected name=value, got {line[:80]!r}", number)
        if name in seen:
            raise fail(f"{name!r} given twice", number)
        seen.add(name)
        if name == "rows":
            if not value.isascii() or not value.isdigit():
                raise fail(f"'rows' must be a whole number, got {value[:40]!r}", number)
            rows = int(value)
        elif name.startswith("sum_") and name[4:] in fen_columns:
            if not _WHOLE.fullmatch(value):
                raise fail(f"{name!r} must be a whole number of fen, got {value[:40]!r}", number)
            sums[name[4:]] = int(value)
        else:
            expected = ", ".join(["rows", *(f"sum_{c}" for c in fen_columns)])
            raise fail(f"unknown control total {name!r}; expected {expected}", number)
    if rows is None:
        raise fail("the manifest has no 'rows' line")
    return Manifest(where, rows, sums)


class Totals:
    """Counts and sums of a file as it is read, to be checked against its manifest at the end."""

    def __init__(self, manifest: Manifest | None) -> None:
        self.manifest = manifest
        self.rows = 0
        self.malformed = 0
        self.sums = dict.fromkeys(manifest.sums, 0) if manifest else {}
        self.uncounted = dict.fromkeys(self.sums, 0)

    def add(self, table: pa.Table, malformed: int) -> None:
        """One chunk: ``table`` holds the records split into the header's columns (cells as text),
        ``malformed`` records could not be split."""
        if self.manifest is None:
            return
        self.rows += table.num_rows + malformed
        self.malformed += malformed
        for name in self.sums:
            if name not in table.column_names:  # pragma: no cover - _fen columns are required
                self.uncounted[name] += table.num_rows
                continue
            text = pc.utf8_trim_whitespace(table.column(name))
            ok = pc.fill_null(pc.match_substring_regex(text, _CELL), False)
            digits = pc.if_else(ok, pc.replace_substring_regex(text, r"^\+", ""), "0")
            total = pc.sum(pc.cast(digits, pa.decimal128(38, 0))).as_py()
            self.sums[name] += int(total or 0)
            self.uncounted[name] += table.num_rows - int(pc.sum(pc.cast(ok, pa.int64())).as_py() or 0)

    def check(self, path: Path) -> None:
        """Raise :class:`FileRejected` unless the file matches its manifest (none: nothing to check)."""
        m = self.manifest
        if m is None:
            return
        if self.rows != m.rows:
            raise FileRejected(f"control total: the manifest says {m.rows} rows, the file has {self.rows} "
                               f"({m.path.name}); the file is cut short or has extra rows", file=str(path))
        for name, want in m.sums.items():
            got = self.sums[name]
            if got == want:
                continue
            notes = []
            if n := self.uncounted[name]:
                notes.append(f"{n} cell{'s' if n > 1 else ''} of {name} {'are' if n > 1 else 'is'} "
                             f"not a whole number and cannot be counted")
            if n := self.malformed:
                notes.append(f"{n} row{'s' if n > 1 else ''} could not be split into columns")
            extra = f" ({'; '.join(notes)})" if notes else ""
            raise FileRejected(f"control total: the manifest says {name} sums to {want}, the file's cells "
                               f"sum to {got}{extra}", file=str(path))
