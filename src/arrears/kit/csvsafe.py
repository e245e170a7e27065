"""CSV cells a spreadsheet will not run as formulas ("CSV injection", OWASP).

A customer's name, a note or a key sent by the bank such as ``=HYPERLINK("http://x", "点此")`` is
text to arrears, but a spreadsheet program opening an export reads a cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return (or their full-width forms, which some CJK
spreadsheet set-ups read the same way) as a formula. Every CSV the product writes passes its cells
through :func:`safe_cell`, which puts a single quote in front of such a text (OWASP's advice: the
quote shows, and the cell stays text). A plain number is left alone, so ``-500`` stays a negative
amount, and non-text values (int, Decimal, dates) are not touched.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_STARTS = frozenset("=+-@\t\r\n＝＋－＠")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def safe_cell(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run; anything else as is."""
    if isinstance(value, str) and value and value[0] in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]


class SafeWriter:
    """A :func:`csv.writer` whose rows go through :func:`safe_cell` (same arguments)."""

    def __init__(self, stream: Any, *args: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(stream, *args, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
