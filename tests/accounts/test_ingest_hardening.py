"""Ingestion under hostile or damaged files: bounded amounts, control characters in keys and text,
a stray double quote, the bank's control totals (docs/security.md, docs/file-formats.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from arrears.accounts.tables import Customer, IngestIssue, IngestRun, Payment, Statement
from arrears.config import Settings
from arrears.kit.errors import FileRejected
from tests.accounts.ingest_files import CUSTOMERS, HEADERS, csv_bytes, snapshot, write_csv
from tests.accounts.test_commands import run  # noqa: F401 - the CLI fixture
from tests.accounts.test_ingest import base, load, read_report

MAX = Settings.model_fields["max_amount_fen"].default  # not the environment's


def payment_refs(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(select(Payment.payment_ref)).scalars())


# -- fault 8: amounts beyond the configured maximum ---------------------------------------------------


def test_the_default_maximum_is_a_hundred_million_yuan():
    assert MAX == 10_000_000_000


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_amounts_beyond_the_maximum_are_quarantined_naming_row_and_field(engine, tmp_path, suffix):
    base(engine, tmp_path, "customers", "accounts")
    rows = [
        ["P1", "A1", str(MAX), "2026-01-20", "wechat"],  # row 2: at the maximum, loads
        ["P2", "A1", "4600000000000000000", "2026-01-21", "wechat"],  # row 3: 4.6e18
        ["P3", "A1", str(MAX + 1), "2026-01-22", "wechat"],  # row 4
        ["P4", "A1", str(2**63 - 1), "2026-01-23", "wechat"],  # row 5
    ]
    if suffix == ".csv":
        f = write_csv(tmp_path / "payments.csv", HEADERS["payments"], rows)
    else:
        f = tmp_path / "payments.parquet"
        cols = list(zip(*rows))
        pq.write_table(pa.table({
            "payment_id": list(cols[0]), "account_id": list(cols[1]),
            "amount_fen": pa.array([int(x) for x in cols[2]], pa.int64()),
            "value_date": pa.array([date.fromisoformat(x) for x in cols[3]], pa.date32()),
            "channel": list(cols[4]),
        }), f)
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert (r.loaded, r.quarantined) == (1, 3)
    got = {(int(x["row"]), x["field"]): x["reason"] for x in read_report(r.quarantine_path)}
    first = 3 if suffix == ".csv" else 2  # CSV: the header is row 1; Parquet: record numbers
    assert set(got) == {(first, "amount_fen"), (first + 1, "amount_fen"), (first + 2, "amount_fen")}
    assert all(f"maximum of {MAX:,} fen" in reason for reason in got.values())
    assert payment_refs(engine) == ["P1"]


def test_the_maximum_is_a_setting_and_bounds_negative_balances_too(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    rows = [
        ["A1", "2026-01-05", "2026-01-25", "-1001", "0", "0"],  # row 2: |new balance| above 1,000
        ["A1", "2026-02-05", "2026-02-25", "1000", "1000", "0"],  # row 3: at the bound
        ["A2", "2026-01-10", "2026-01-28", "0", "1001", "0"],  # row 4: minimum above
    ]
    f = write_csv(tmp_path / "statements.csv", HEADERS["statements"], rows)
    (r,) = load(engine, f, quarantine=tmp_path / "q", max_amount_fen=1000)
    got = {(int(x["row"]), x["field"]) for x in read_report(r.quarantine_path)}
    assert got == {(2, "new_balance_fen"), (4, "minimum_due_fen")}
    with engine.connect() as conn:
        assert conn.execute(select(Statement.new_balance)).scalars().all() == [1000]


# -- fault 11: control characters in keys and text ------------------------------------------------------


def test_a_key_with_a_trailing_nul_is_not_a_second_key(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    rows = [
        ["P1", "A1", "5000", "2026-01-20", "wechat"],  # row 2
        ["P1\x00", "A1", "5000", "2026-01-20", "wechat"],  # row 3: the same payment with a NUL
        ["P1\u200b", "A1", "5000", "2026-01-20", "wechat"],  # row 4: with a zero-width space
        ["P2", "A1\x00", "100", "2026-01-21", "wechat"],  # row 5: a reference with a NUL
    ]
    f = write_csv(tmp_path / "payments.csv", HEADERS["payments"], rows)
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert (r.loaded, r.quarantined) == (1, 3)
    got = {(int(x["row"]), x["field"]): x["reason"] for x in read_report(r.quarantine_path)}
    assert set(got) == {(3, "payment_id"), (4, "payment_id"), (5, "account_id")}
    assert "control character U+0000" in got[(3, "payment_id")]
    assert "U+200B" in got[(4, "payment_id")]
    assert payment_refs(engine) == ["P1"]


def test_control_characters_in_text_are_quarantined_but_line_breaks_in_addresses_are_kept(engine, tmp_path):
    rows = [
        CUSTOMERS[0],
        ["C2", "李四\x00", *CUSTOMERS[1][2:]],  # row 3
        ["C3", "王\x1b[2J五", *CUSTOMERS[1][2:]],  # row 4: an escape sequence
    ]
    f = write_csv(tmp_path / "customers.csv", HEADERS["customers"], rows)
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    got = {(int(x["row"]), x["field"]): x["reason"] for x in read_report(r.quarantine_path)}
    assert set(got) == {(3, "name"), (4, "name")}
    assert "U+001B" in got[(4, "name")]
    contacts = [["K2", "C1", "address", "上海市浦东新区\r\n世纪大道\t100 号", "debtor", "", "Y", "N"]]
    (r,) = load(engine, write_csv(tmp_path / "contact_points.csv", HEADERS["contact_points"], contacts))
    assert (r.loaded, r.quarantined) == (1, 0)
    with engine.connect() as conn:
        assert conn.execute(select(Customer.customer_ref)).scalars().all() == ["C1"]


# -- fault 11: a stray opening quote quarantines its own row only ---------------------------------------


@pytest.mark.parametrize("where", ["amount", "last field"])
def test_a_stray_quote_quarantines_only_its_own_row(engine, tmp_path, where):
    base(engine, tmp_path, "customers", "accounts")
    good = [[f"P{i}", "A1", "100", "2026-01-20", "wechat"] for i in range(3, 13)]
    bad = 'P2,A1,"5000,2026-01-20,wechat' if where == "amount" else 'P2,A1,5000,2026-01-20,"wechat'
    text = csv_bytes(HEADERS["payments"], [["P1", "A1", "5000", "2026-01-20", "wechat"]]).decode()
    text += bad + "\r\n" + csv_bytes(HEADERS["payments"], good).decode().split("\r\n", 1)[1]
    f = tmp_path / "payments.csv"
    f.write_text(text, encoding="utf-8")
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert (r.rows_read, r.loaded, r.quarantined) == (12, 11, 1)
    (line,) = read_report(r.quarantine_path)
    assert int(line["row"]) == 3 and "double quote" in line["reason"]
    assert line["raw"] == bad
    assert payment_refs(engine) == sorted(["P1", *(f"P{i}" for i in range(3, 13))])


def test_a_stray_quote_closed_rows_later_still_quarantines_only_its_row(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    lines = ["P1,A1,5000,2026-01-20,wechat", 'P2,A1,"5000,2026-01-20,wechat',
             *(f"P{i},A1,100,2026-01-20,wechat" for i in range(3, 8)),
             'P8,A1,100,2026-01-20,"wechat"', "P9,A1,100,2026-01-20,alipay"]
    f = tmp_path / "payments.csv"
    f.write_text(",".join(HEADERS["payments"]) + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert (r.rows_read, r.loaded, r.quarantined) == (9, 8, 1)
    assert [int(x["row"]) for x in read_report(r.quarantine_path)] == [3]
    assert "P2" not in payment_refs(engine) and len(payment_refs(engine)) == 8


def test_a_quoted_line_break_in_an_address_still_counts_as_one_row(engine, tmp_path):
    base(engine, tmp_path, "customers")
    rows = [["K1", "C1", "address", "上海市\n世纪大道 100 号", "debtor", "", "Y", "N"],
            ["K2", "C1", "phone", "13800138000", "debtor", "", "Y", "N"],
            ["K3", "C1", "address", "北京\n朝阳", "debtor", "", "Y"]]  # row 4: short, spans two lines
    f = write_csv(tmp_path / "contact_points.csv", HEADERS["contact_points"], rows)
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert (r.rows_read, r.loaded, r.quarantined) == (3, 2, 1)
    (line,) = read_report(r.quarantine_path)
    assert int(line["row"]) == 4 and "expected 8 fields, found 7" in line["reason"]


# -- fault 11: the bank's control totals -------------------------------------------------------------


PAYMENT_ROWS = [["P1", "A1", "5000", "2026-01-20", "wechat"],
                ["P2", "A1", "5000", "2026-01-28", "alipay"],
                ["P3", "A2", "100", "2026-02-01", "bank_transfer"]]


def write_payments(tmp_path: Path, rows: list[list[str]], manifest: str | None) -> Path:
    f = write_csv(tmp_path / "in" / "payments_20260301.csv", HEADERS["payments"], rows)
    if manifest is not None:
        Path(f"{f}.ctl").write_text(manifest, encoding="utf-8")
    return f


def test_a_file_matching_its_control_totals_loads(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    f = write_payments(tmp_path, PAYMENT_ROWS, "# control totals\nrows=3\nsum_amount_fen=10100\n")
    (r,) = load(engine, tmp_path / "in")  # a folder: the manifest is not taken for a bank file
    assert (r.path, r.loaded) == (f, 3)


@pytest.mark.parametrize(
    ("rows", "manifest", "message"),
    [
        (PAYMENT_ROWS[:2], "rows=3\nsum_amount_fen=10100\n", "control total: the manifest says 3 rows, the file has 2"),
        (PAYMENT_ROWS, "rows=3\nsum_amount_fen=10000\n",
         "control total: the manifest says amount_fen sums to 10000, the file's cells sum to 10100"),
        (PAYMENT_ROWS, "rows=3\nsum_minimum_due_fen=1\n", "unknown control total 'sum_minimum_due_fen'"),
        (PAYMENT_ROWS, "sum_amount_fen=10100\n", "the manifest has no 'rows' line"),
        (PAYMENT_ROWS, "rows=three\n", "line 1: 'rows' must be a whole number"),
    ],
)
def test_a_file_cut_short_or_not_matching_its_manifest_is_rejected_whole(engine, tmp_path, rows, manifest, message):
    base(engine, tmp_path, "customers", "accounts")
    before = snapshot(engine)
    f = write_payments(tmp_path, rows, manifest)
    with pytest.raises(FileRejected, match=message) as info:
        load(engine, f, quarantine=tmp_path / "q")
    assert info.value.file == str(f)
    after = snapshot(engine)
    assert after["payments"] == before["payments"] == []
    new_runs = [r for r in after["ingest_runs"] if r not in before["ingest_runs"]]
    assert len(new_runs) == 1 and new_runs[0][4] == "rejected"
    with engine.connect() as conn:
        (issue,) = conn.execute(select(IngestIssue.reason).where(IngestIssue.kind == "rejected")).scalars().all()
    assert message.split(": ")[-1] in issue
    assert not (tmp_path / "q").exists()


def test_control_totals_count_quarantined_rows_and_reject_unverifiable_sums(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    rows = [*PAYMENT_ROWS, ["P4", "A404", "7", "2026-02-01", "wechat"]]  # unknown account: quarantined
    f = write_payments(tmp_path, rows, "rows=4\nsum_amount_fen=10107\n")
    (r,) = load(engine, f)
    assert (r.loaded, r.quarantined) == (3, 1)
    rows = [*PAYMENT_ROWS, ["P4", "A1", "十元", "2026-02-01", "wechat"]]
    f = write_payments(tmp_path, rows, "rows=4\nsum_amount_fen=11100\n")
    with pytest.raises(FileRejected, match="1 cell of amount_fen is not a whole number"):
        load(engine, f)


def test_a_required_manifest_that_is_missing_rejects_the_file(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    f = write_payments(tmp_path, PAYMENT_ROWS, None)
    with pytest.raises(FileRejected, match=r"no control-total manifest \(payments_20260301.csv.ctl\)"):
        load(engine, f, control_required=True)
    assert payment_refs(engine) == []
    (r,) = load(engine, f)  # not required: loads without one
    assert r.loaded == 3
    with engine.connect() as conn:
        assert [x.status for x in conn.execute(select(IngestRun.__table__).order_by(IngestRun.id))][-2:] == [
            "rejected", "loaded"]


def test_the_ingest_command_exits_1_on_a_file_cut_short_and_writes_nothing(run, engine, tmp_path):  # noqa: F811
    base(engine, tmp_path, "customers", "accounts")
    f = write_payments(tmp_path, PAYMENT_ROWS[:2], "rows=3\n")
    result = run(f)
    assert result.exit_code == 1
    assert "the manifest says 3 rows, the file has 2" in " ".join(result.output.split())
    assert payment_refs(engine) == []


def test_parquet_files_are_checked_against_their_manifest_too(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    f = tmp_path / "payments.parquet"
    pq.write_table(pa.table({"payment_id": ["P1", "P2"], "account_id": ["A1", "A1"],
                             "amount_fen": pa.array([5000, 5000], pa.int64()),
                             "value_date": pa.array([date(2026, 1, 20)] * 2, pa.date32()),
                             "channel": ["wechat", "alipay"]}), f)
    Path(f"{f}.ctl").write_text("rows=2\nsum_amount_fen=10001\n", encoding="utf-8")
    with pytest.raises(FileRejected, match="sums to 10001"):
        load(engine, f)
    Path(f"{f}.ctl").write_text("rows=2\nsum_amount_fen=10000\n", encoding="utf-8")
    assert load(engine, f)[0].loaded == 2


# -- fault 11: the quarantine report is opened in spreadsheets: no live formulas -------------------------


def test_the_quarantine_report_escapes_formulas_from_the_file(engine, tmp_path):
    formula = "=cmd|' /C calc'!A0"
    rows = [[formula, "张三", "110105198506150000", "1985-06-15", "", ""]]  # bad national ID: quarantined
    f = write_csv(tmp_path / "customers.csv", HEADERS["customers"], rows)
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    (line,) = read_report(r.quarantine_path)
    assert line["raw"].startswith("'=cmd|") and line["field"] == "national_id"
