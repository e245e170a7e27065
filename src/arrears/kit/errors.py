"""One error base for the whole domain, with an HTTP status and a precise location."""

from __future__ import annotations


class ArrearsError(Exception):
    """Base of every error arrears raises on purpose. ``status`` maps it to HTTP once."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ArrearsError):
    status = 404


class ConfigError(ArrearsError):
    """A rules file (YAML) is wrong: names the file, the line and the field."""

    status = 422

    def __init__(self, message: str, *, file: str, line: int | None = None, field: str | None = None) -> None:
        where = file if line is None else f"{file}, line {line}"
        what = f", field '{field}'" if field else ""
        super().__init__(f"{where}{what}: {message}")
        self.file = file
        self.line = line
        self.field = field
        self.detail = message


class FileRejected(ArrearsError):
    """An input file is rejected whole (wrong header, wrong column type, unreadable).

    Nothing from the file is written. The message names the file, the row (1-based,
    header = row 1 for CSV) and the column.
    """

    status = 422

    def __init__(self, message: str, *, file: str, row: int | None = None, column: str | None = None) -> None:
        parts = [file]
        if row is not None:
            parts.append(f"row {row}")
        if column is not None:
            parts.append(f"column '{column}'")
        super().__init__(f"{', '.join(parts)}: {message}")
        self.file = file
        self.row = row
        self.column = column
        self.detail = message
