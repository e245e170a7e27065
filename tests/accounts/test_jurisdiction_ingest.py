"""The customers file's optional ``jurisdiction`` column: stored as given, CN when absent or empty,
an unknown code quarantined naming the file, row and field (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from sqlalchemy import select

from arrears.accounts.ingest import ingest_paths
from arrears.accounts.tables import Customer
from tests.accounts.ingest_files import CUSTOMERS, HEADERS, ID1, national_id, write_csv


def _stored(engine) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return dict(conn.execute(select(Customer.customer_ref, Customer.jurisdiction)).all())


def test_the_jurisdiction_column_is_optional_validated_and_defaults_to_cn(engine, tmp_path: Path) -> None:
    rows = [
        ["C1", "张三", ID1, "1985-06-15", "America/New_York", "en", "US-NY-NYC"],
        ["C2", "李四", national_id(date(1990, 2, 28)), "1990-02-28", "", "", ""],
        ["C3", "王五", national_id(date(1991, 2, 28)), "1991-02-28", "America/New_York", "en", "US-MA"],
        ["C4", "赵六", national_id(date(1992, 2, 28)), "1992-02-28", "", "", "US-XX"],
        ["C5", "钱七", national_id(date(1993, 2, 28)), "1993-02-28", "", "", "us-ma"],
    ]
    f = write_csv(tmp_path / "customers.csv", [*HEADERS["customers"], "jurisdiction"], rows)
    (report,) = ingest_paths(engine, [f], quarantine_dir=tmp_path / "q")
    assert (report.loaded, report.quarantined) == (3, 2)
    assert _stored(engine) == {"C1": "US-NY-NYC", "C2": "CN", "C3": "US-MA"}
    assert report.quarantine_path is not None
    with open(report.quarantine_path, encoding="utf-8-sig", newline="") as fh:
        got = {(int(r["row"]), r["field"]): r["reason"] for r in csv.DictReader(fh)}
    assert set(got) == {(5, "jurisdiction"), (6, "jurisdiction")}
    assert "unknown jurisdiction 'US-XX'" in got[(5, "jurisdiction")]


def test_a_file_without_the_column_leaves_customers_in_cn(engine, tmp_path: Path) -> None:
    f = write_csv(tmp_path / "customers.csv", HEADERS["customers"], CUSTOMERS)
    ingest_paths(engine, [f], quarantine_dir=tmp_path / "q")
    assert set(_stored(engine).values()) == {"CN"}
