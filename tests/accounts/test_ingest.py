from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from arrears.accounts import ingest as ingest_module
from arrears.accounts.ingest import KIND_ORDER, FileReport, ingest_paths, kind_of, plan_paths
from arrears.accounts.tables import (
    Account,
    ContactPoint,
    Customer,
    Hold,
    IngestIssue,
    IngestRun,
    Payment,
    Statement,
)
from arrears.kit.errors import FileRejected
from tests.accounts.ingest_files import (
    ACCOUNTS,
    CUSTOMERS,
    HEADERS,
    HOLDS,
    ID1,
    PAYMENTS,
    STATEMENTS,
    counts,
    csv_bytes,
    national_id,
    snapshot,
    write_csv,
    write_kind,
    write_portfolio,
)


def load(engine, *paths: Path, quarantine: Path | None = None, **kw) -> list[FileReport]:
    reports = ingest_paths(engine, list(paths), quarantine_dir=quarantine, **kw)
    for r in reports:
        assert r.rows_read == r.loaded + r.unchanged + r.updated + r.conflicting + r.quarantined
    return reports


def read_report(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def issues(engine, kind: str | None = None) -> list[IngestIssue]:
    with engine.connect() as conn:
        q = select(IngestIssue.__table__).order_by(IngestIssue.id)
        if kind:
            q = q.where(IngestIssue.kind == kind)
        return list(conn.execute(q).all())


def base(engine, tmp_path: Path, *kinds: str) -> None:
    folder = tmp_path / "base"
    for kind in kinds:
        write_kind(folder, kind)
    load(engine, folder)


# -- names, ordering ------------------------------------------------------------------------------


def test_kind_from_file_name():
    assert kind_of(Path("payments_20260301.csv")) == "payments"
    assert kind_of(Path("contact_points.parquet")) == "contact_points"
    assert kind_of(Path("Customers-2026.CSV")) == "customers"
    assert kind_of(Path("payments.csv.quarantine.csv")) is None
    assert kind_of(Path("payments.xlsx")) is None
    assert kind_of(Path("ledger.csv")) is None


def test_a_named_file_of_unknown_kind_is_rejected(tmp_path):
    f = tmp_path / "ledger.csv"
    f.write_text("a,b\n")
    with pytest.raises(FileRejected, match="kind of file"):
        plan_paths([f])


def test_directory_loads_in_dependency_order_with_chinese_text(engine, tmp_path):
    folder = write_portfolio(tmp_path / "in")
    (folder / "notes.txt").write_text("not a bank file")
    # alphabetical order would load accounts before customers and holds before payments
    assert [k for _, k in plan_paths([folder])] == list(KIND_ORDER)
    reports = load(engine, folder, quarantine=tmp_path / "q")
    assert [r.kind for r in reports] == list(KIND_ORDER)
    assert [(r.rows_read, r.loaded, r.quarantined) for r in reports] == [
        (2, 2, 0), (4, 4, 0), (2, 2, 0), (3, 3, 0), (3, 3, 0), (2, 2, 0)
    ]
    assert all(r.quarantine_path is None and r.conflicts_path is None for r in reports)
    with engine.connect() as conn:
        c1 = conn.execute(select(Customer.__table__).where(Customer.customer_ref == "C1")).one()
        c2 = conn.execute(select(Customer.__table__).where(Customer.customer_ref == "C2")).one()
        contacts = {r.contact_ref: r for r in conn.execute(select(ContactPoint.__table__)).all()}
        a1 = conn.execute(select(Account.__table__).where(Account.account_ref == "A1")).one()
        holds = {r.hold_ref: r for r in conn.execute(select(Hold.__table__)).all()}
        stmts = conn.execute(select(Statement.__table__).order_by(Statement.statement_date)).all()
        runs = conn.execute(select(IngestRun.__table__).order_by(IngestRun.id)).all()
    assert (c1.name, c1.birth_date, c1.time_zone, c1.language) == ("张三", date(1985, 6, 15), "Asia/Shanghai", "zh_CN")
    assert (c2.name, c2.time_zone, c2.language) == ('李四, "小李"', "Asia/Urumqi", "en")
    assert contacts["K1"].value == "13800138000" and contacts["K1"].verified and not contacts["K1"].opted_out
    assert contacts["K2"].value == "上海市浦东新区\n世纪大道 100 号"
    assert (contacts["K3"].value, contacts["K3"].relation) == ("13912345678", "配偶")
    assert contacts["K4"].value == "li.si@example.cn"
    assert (a1.product, a1.credit_limit, a1.currency, a1.customer_id) == ("白金卡", 5_000_000, "CNY", c1.id)
    assert holds["H1"].pauses_ageing is True and holds["H1"].reason == "持卡人对交易有异议"
    assert holds["H1"].created_by == "bank-file"
    assert holds["H2"].pauses_ageing is False and holds["H2"].end_date is None and holds["H2"].created_by == "agent-7"
    assert [s.new_balance for s in stmts if s.account_id == a1.id] == [120000, -500]
    assert [r.status for r in runs] == ["loaded"] * 6
    assert [r.kind for r in runs] == list(KIND_ORDER)
    assert [(r.rows_read, r.rows_loaded) for r in runs] == [(2, 2), (4, 4), (2, 2), (3, 3), (3, 3), (2, 2)]
    # every loaded row carries its file's run id
    run_of = {r.kind: r.id for r in runs}
    with engine.connect() as conn:
        assert {r.ingest_run_id for r in conn.execute(select(Payment.ingest_run_id))} == {run_of["payments"]}
        assert {r.ingest_run_id for r in conn.execute(select(Customer.ingest_run_id))} == {run_of["customers"]}


@pytest.mark.parametrize("bom", [True, False])
def test_utf8_with_and_without_bom(engine, tmp_path, bom):
    f = write_kind(tmp_path, "customers", bom=bom)
    assert f.read_bytes().startswith(b"\xef\xbb\xbf") is bom
    (report,) = load(engine, f)
    assert (report.rows_read, report.loaded) == (2, 2)
    with engine.connect() as conn:
        assert conn.execute(select(Customer.name).where(Customer.customer_ref == "C1")).scalar_one() == "张三"


# -- files rejected whole -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "column", "message"),
    [
        (["payment_id", "account_id", "amount_fen", "value_date"], "channel", "missing required column"),
        (["payment_id", "account_id", "amount_fen", "value_date", "channel", "memo"], "memo", "unknown column"),
        (["payment_id", "account_id", "amount_fen", "amount_fen", "value_date", "channel"], "amount_fen", "duplicate column"),
    ],
)
def test_wrong_header_rejects_the_file(engine, tmp_path, header, column, message):
    base(engine, tmp_path, "customers", "accounts")
    before = snapshot(engine)
    f = write_csv(tmp_path / "payments.csv", header, [["P9", "A1", "100", "2026-01-01", "wechat", "x"][: len(header)]])
    with pytest.raises(FileRejected, match=message) as info:
        load(engine, f, quarantine=tmp_path / "q")
    assert (info.value.file, info.value.row, info.value.column) == (str(f), 1, column)
    assert str(f) in str(info.value) and "row 1" in str(info.value) and column in str(info.value)
    after = snapshot(engine)
    # only the record of the rejection itself was added
    assert after["payments"] == before["payments"] == []
    new_runs = [r for r in after["ingest_runs"] if r not in before["ingest_runs"]]
    assert len(new_runs) == 1 and new_runs[0][4] == "rejected"
    assert not (tmp_path / "q").exists()


def test_bytes_that_are_not_utf8_reject_the_file(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    good = csv_bytes(HEADERS["payments"], [PAYMENTS[0]])
    bad = good + b"P7,A1,100,2026-01-02," + "微信".encode("gbk") + b"\r\n"
    f = tmp_path / "payments.csv"
    f.write_bytes(bad)
    with pytest.raises(FileRejected, match="not UTF-8") as info:
        load(engine, f)
    assert (info.value.row, info.value.column) == (3, "channel")
    assert counts(engine)["payments"] == 0


def test_a_rejected_file_stops_the_run_after_earlier_files_committed(engine, tmp_path):
    folder = write_portfolio(tmp_path / "in")
    write_csv(folder / "statements.csv", ["account_id", "statement_date"], [["A1", "2026-01-05"]])
    with pytest.raises(FileRejected, match="missing required column") as info:
        load(engine, folder)
    assert info.value.column == "due_date"
    c = counts(engine)
    assert (c["customers"], c["contact_points"], c["accounts"]) == (2, 4, 2)
    assert (c["statements"], c["payments"], c["holds"]) == (0, 0, 0)


def test_empty_file_is_rejected(engine, tmp_path):
    f = tmp_path / "customers.csv"
    f.write_bytes(b"")
    with pytest.raises(FileRejected, match="empty file"):
        load(engine, f)


# -- rows quarantined -----------------------------------------------------------------------------


def test_bad_payment_rows_are_quarantined_with_reasons(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    rows = [
        ["P1", "A1", "5000", "2026-01-20", "wechat"],  # 2 good
        ["P2", "A1", "-100", "2026-01-20", "wechat"],  # 3 negative
        ["P3", "A1", "0", "2026-01-20", "wechat"],  # 4 zero
        ["P4", "A1", "十元", "2026-01-20", "wechat"],  # 5 non-numeric
        ["P5", "A1", "12.50", "2026-01-20", "wechat"],  # 6 fractional
        ["P6", "A404", "100", "2026-01-20", "wechat"],  # 7 unknown account
        ["P7", "A1", "100", "2026-02-30", "wechat"],  # 8 impossible date
        ["P8", "A1", "100", "2026-01-20", "paypal"],  # 9 unknown enum
        ["P9", "", "100", "2026-01-20", "wechat"],  # 10 missing value
        ["P1", "A1", "5000", "2026-01-20", "wechat"],  # 11 duplicate key
        ["P10", "A2", "100", "2026-01-21", "counter"],  # 12 good
        ["P11", "A1", "100"],  # 13 wrong number of fields
    ]
    f = write_csv(tmp_path / "payments.csv", HEADERS["payments"], rows)
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert (r.rows_read, r.loaded, r.quarantined) == (12, 2, 10)
    assert r.quarantine_path == tmp_path / "q" / "payments.csv.quarantine.csv"
    got = {(int(x["row"]), x["field"]): x for x in read_report(r.quarantine_path)}
    expected = {
        (3, "amount_fen"): "negative amount",
        (4, "amount_fen"): "greater than zero",
        (5, "amount_fen"): "not a whole number",
        (6, "amount_fen"): "fractional amount",
        (7, "account_id"): "unknown account_id 'A404'",
        (8, "value_date"): "impossible date",
        (9, "channel"): "unknown value 'paypal'",
        (10, "account_id"): "missing required value",
        (11, "payment_id"): "duplicate key 'P1' inside the file (first at row 2)",
        (13, ""): "expected 5 fields, found 3",
    }
    assert set(got) == set(expected)
    for key, reason in expected.items():
        assert reason in got[key]["reason"]
    assert got[(5, "amount_fen")]["raw"] == "P4,A1,十元,2026-01-20,wechat"
    assert [int(x["row"]) for x in read_report(r.quarantine_path)] == sorted(int(x["row"]) for x in got.values())
    stored = issues(engine, "quarantine")
    assert {(i.row_number, i.field or "") for i in stored} == set(expected)
    assert all(i.ingest_run_id == r.run_id for i in stored)
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Payment.payment_ref)).scalars()) == ["P1", "P10"]
        run = conn.execute(select(IngestRun.__table__).where(IngestRun.id == r.run_id)).one()
    assert (run.rows_read, run.rows_loaded, run.rows_quarantined) == (12, 2, 10)


def test_bad_master_data_and_statement_rows(engine, tmp_path):
    bad_checksum = ID1[:-1] + ("0" if ID1[-1] != "0" else "1")
    customers = [
        *CUSTOMERS,
        ["C3", "王五", bad_checksum, "1985-06-15", "", ""],
        ["C4", "赵六", national_id(date(1970, 1, 1)), "1971-01-01", "", ""],
        ["C5", "钱七", national_id(date(1970, 1, 1), "777"), "1970-01-01", "Asia/Beijing", ""],
        ["C6", "孙八", national_id(date(1970, 1, 1), "778"), "1970-01-01", "", "fr"],
    ]
    contacts = [
        ["K1", "C1", "phone", "12345", "debtor", "", "true", "false"],
        ["K2", "C1", "email", "zhangsan.example.com", "debtor", "", "true", "false"],
        ["K3", "C1", "fax", "010-12345678", "debtor", "", "true", "false"],
        ["K4", "C1", "phone", "13800138000", "boss", "", "maybe", "false"],
        ["K5", "C1", "phone", "010-12345678", "other", "同事", "false", "false"],
    ]
    statements = [
        ["A1", "2026-01-05", "2026-01-05", "100", "10", "0"],  # due_date not after
        ["A1", "2026-02-05", "2026-02-25", "100", "10", "20"],  # past due > minimum
        ["A1", "2026-03-05", "2026-03-25", "100", "-1", "0"],  # negative minimum
        ["A1", "2026-04-05", "2026-04-25", "-100", "0", "0"],  # good: credit balance
    ]
    folder = tmp_path / "in"
    write_kind(folder, "customers", customers)
    write_kind(folder, "contact_points", contacts)
    write_kind(folder, "accounts")
    write_kind(folder, "statements", statements)
    reports = {r.kind: r for r in load(engine, folder, quarantine=tmp_path / "q")}

    def reasons(kind):
        return {(int(x["row"]), x["field"]): x["reason"] for x in read_report(reports[kind].quarantine_path)}

    c = reasons("customers")
    assert set(c) == {(4, "national_id"), (5, "birth_date"), (6, "time_zone"), (7, "language")}
    assert "checksum" in c[(4, "national_id")]
    assert "differs from the birth date in national_id" in c[(5, "birth_date")]
    k = reasons("contact_points")
    assert set(k) == {(2, "value"), (3, "value"), (4, "kind"), (5, "owner"), (5, "verified")}
    assert "not a CN mobile" in k[(2, "value")] and "not an e-mail" in k[(3, "value")]
    assert reports["contact_points"].quarantined == 4 and reports["contact_points"].loaded == 1
    s = reasons("statements")
    assert set(s) == {(2, "due_date"), (3, "past_due_included_fen"), (4, "minimum_due_fen")}
    assert "not after statement_date" in s[(2, "due_date")]
    assert reports["statements"].loaded == 1


def test_quoted_multiline_fields_keep_record_numbers(engine, tmp_path):
    base(engine, tmp_path, "customers")
    contacts = [
        ["K1", "C1", "address", "北京市\n朝阳区\n建国路 1 号", "debtor", "", "true", "false"],
        ["K2", "C1", "phone", "bad", "debtor", "", "true", "false"],
    ]
    f = write_kind(tmp_path, "contact_points", contacts)
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert (r.loaded, r.quarantined) == (1, 1)
    assert [x["row"] for x in read_report(r.quarantine_path)] == ["3"]  # record 3, although line 5


# -- Parquet -------------------------------------------------------------------------------------


def _payments_table(amount_type=pa.int64()) -> pa.Table:
    return pa.table({
        "payment_id": pa.array(["P1", "P2", "P3", "P1"]),
        "account_id": pa.array(["A1", "A1", "A2", "A1"]),
        "amount_fen": pa.array([5000, -1, 300, 5000], type=amount_type),
        "value_date": pa.array([date(2026, 1, 20), date(2026, 1, 21), None, date(2026, 1, 20)], type=pa.date32()),
        "channel": pa.array(["wechat", "alipay", "counter", "wechat"]),
    })


def test_parquet_happy_path_and_bad_records(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    f = tmp_path / "payments.parquet"
    pq.write_table(_payments_table(pa.int32()), f)
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert (r.rows_read, r.loaded, r.quarantined) == (4, 1, 3)
    got = {(int(x["row"]), x["field"]): x for x in read_report(r.quarantine_path)}
    assert set(got) == {(2, "amount_fen"), (3, "value_date"), (4, "payment_id")}
    assert '"payment_id": "P2"' in got[(2, "amount_fen")]["raw"]
    with engine.connect() as conn:
        p1 = conn.execute(select(Payment.__table__)).one()
    assert (p1.payment_ref, p1.amount, p1.value_date, p1.channel) == ("P1", 5000, date(2026, 1, 20), "wechat")
    (again,) = load(engine, f)
    assert (again.unchanged, again.quarantined, again.loaded) == (1, 3, 0)


def test_parquet_chinese_master_data(engine, tmp_path):
    f = tmp_path / "customers.parquet"
    pq.write_table(pa.table({
        "customer_id": ["C1"], "name": ["欧阳娜娜"], "national_id": [ID1],
        "birth_date": pa.array([date(1985, 6, 15)], type=pa.date32()),
    }), f)
    (r,) = load(engine, f)
    assert r.loaded == 1
    with engine.connect() as conn:
        assert conn.execute(select(Customer.name)).scalar_one() == "欧阳娜娜"


@pytest.mark.parametrize(
    ("column", "array"),
    [
        ("amount_fen", pa.array(["5000", "1", "300", "5000"])),
        ("amount_fen", pa.array([50.0, 1.0, 3.0, 50.0])),
        ("value_date", pa.array(["2026-01-20"] * 4)),
        ("payment_id", pa.array([1, 2, 3, 4])),
    ],
)
def test_parquet_column_of_the_wrong_type_rejects_the_file(engine, tmp_path, column, array):
    base(engine, tmp_path, "customers", "accounts")
    table = _payments_table()
    table = table.set_column(table.schema.get_field_index(column), column, array)
    f = tmp_path / "payments.parquet"
    pq.write_table(table, f)
    with pytest.raises(FileRejected, match="column has type") as info:
        load(engine, f)
    assert info.value.column == column
    assert counts(engine)["payments"] == 0


# -- idempotency, conflicts, updates ------------------------------------------------------------------


def test_same_files_twice_change_nothing(engine, tmp_path):
    folder = write_portfolio(tmp_path / "in")
    load(engine, folder)
    before = snapshot(engine)
    reports = load(engine, folder)
    assert all(r.unchanged == r.rows_read and r.rows_read > 0 for r in reports)
    assert all(r.loaded == r.updated == r.conflicting == r.quarantined == 0 for r in reports)
    after = snapshot(engine)
    for table in ("customers", "contact_points", "accounts", "statements", "payments", "holds", "ingest_issues"):
        assert after[table] == before[table], table
    assert len(after["ingest_runs"]) == 12


def test_ledger_conflicts_are_recorded_and_never_overwrite(engine, tmp_path):
    folder = write_portfolio(tmp_path / "in")
    load(engine, folder)
    before = snapshot(engine)
    payments = [["P1", "A1", "9999", "2026-01-20", "wechat"], PAYMENTS[1], ["P3", "A1", "100", "2026-02-01", "bank_transfer"],
                ["P4", "A2", "700", "2026-02-02", "auto_debit"]]
    statements = [["A1", "2026-01-05", "2026-01-26", "120000", "10000", "0"], *STATEMENTS[1:]]
    write_kind(tmp_path / "day2", "payments", payments)
    write_kind(tmp_path / "day2", "statements", statements)
    st, pay = load(engine, tmp_path / "day2", quarantine=tmp_path / "q")
    assert (st.conflicting, st.unchanged, st.loaded) == (1, 2, 0)
    assert (pay.conflicting, pay.unchanged, pay.loaded) == (2, 1, 1)
    after = snapshot(engine)
    assert after["statements"] == before["statements"]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Payment.payment_ref, Payment.amount)).all())
    assert stored == {"P1": 5000, "P2": 5000, "P3": 100, "P4": 700}
    found = issues(engine, "conflict")
    assert {(i.row_number, i.field) for i in found} == {(2, "due_date"), (2, "amount_fen"), (4, "account_id")}
    p1 = next(i for i in found if i.field == "amount_fen")
    assert "store 5000, file 9999" in p1.reason and p1.natural_key == "P1"
    moved = next(i for i in found if i.field == "account_id")
    assert "store A2, file A1" in moved.reason
    report = read_report(pay.conflicts_path)
    assert {x["field"] for x in report} == {"amount_fen", "account_id"}


def test_master_data_changes_are_updated_with_the_new_run_id(engine, tmp_path):
    folder = write_portfolio(tmp_path / "in")
    first = {r.kind: r for r in load(engine, folder)}
    customers = [["C1", "张三丰", ID1, "1985-06-15", "Asia/Shanghai", "en"], CUSTOMERS[1]]
    accounts = [["A1", "C2", "白金卡", "6000000", "", "5", "25", "frozen", "2020-01-01"], ACCOUNTS[1]]
    write_kind(tmp_path / "day2", "customers", customers)
    write_kind(tmp_path / "day2", "accounts", accounts)
    cust, acc = load(engine, tmp_path / "day2")
    assert (cust.updated, cust.unchanged, cust.loaded) == (1, 1, 0)
    assert (acc.updated, acc.unchanged) == (1, 1)
    with engine.connect() as conn:
        c1 = conn.execute(select(Customer.__table__).where(Customer.customer_ref == "C1")).one()
        c2 = conn.execute(select(Customer.__table__).where(Customer.customer_ref == "C2")).one()
        a1 = conn.execute(select(Account.__table__).where(Account.account_ref == "A1")).one()
        run = conn.execute(select(IngestRun.__table__).where(IngestRun.id == cust.run_id)).one()
    assert (c1.name, c1.language, c1.ingest_run_id) == ("张三丰", "en", cust.run_id)
    assert c2.ingest_run_id == first["customers"].run_id  # unchanged rows keep their run
    assert (a1.customer_id, a1.credit_limit, a1.status, a1.ingest_run_id) == (c2.id, 6_000_000, "frozen", acc.run_id)
    assert (run.rows_loaded, run.rows_updated, run.rows_unchanged) == (0, 1, 1)
    assert run.rows_read == run.rows_loaded + run.rows_updated + run.rows_unchanged + run.rows_conflicting + run.rows_quarantined


def test_hold_end_date_change_updates_and_bumps_run_id_other_changes_conflict(engine, tmp_path):
    folder = write_portfolio(tmp_path / "in")
    first = {r.kind: r for r in load(engine, folder)}
    holds = [
        ["H1", "A1", "dispute", "2026-01-10", "2026-03-31", "", "已补充材料", ""],  # end date + reason: update
        ["H2", "A2", "bankruptcy", "2026-01-01", "2026-06-30", "false", "", "agent-7"],  # kind changed: conflict
        ["H3", "A2", "legal", "2026-02-01", "", "", "", ""],  # new
    ]
    (r,) = load(engine, write_kind(tmp_path / "day2", "holds", holds))
    assert (r.updated, r.conflicting, r.loaded) == (1, 1, 1)
    with engine.connect() as conn:
        got = {h.hold_ref: h for h in conn.execute(select(Hold.__table__)).all()}
    assert (got["H1"].end_date, got["H1"].reason, got["H1"].ingest_run_id) == (date(2026, 3, 31), "已补充材料", r.run_id)
    assert first["holds"].run_id != r.run_id
    assert (got["H2"].kind, got["H2"].end_date, got["H2"].ingest_run_id) == ("hardship", None, first["holds"].run_id)
    assert got["H3"].pauses_ageing is False and got["H3"].ingest_run_id == r.run_id
    (conflict,) = issues(engine, "conflict")
    assert conflict.field == "kind" and conflict.row_number == 3
    # the cycle's watermark query: ledger rows changed since the first holds file
    with engine.connect() as conn:
        changed = set(conn.execute(select(Hold.hold_ref).where(Hold.ingest_run_id > first["holds"].run_id)).scalars())
    assert changed == {"H1", "H3"}


# -- atomicity ------------------------------------------------------------------------------------


def test_a_crash_part_way_leaves_the_store_exactly_as_it_was(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    rows = [[f"P{i}", "A1" if i % 2 else "A2", str(100 + i), "2026-01-20", "wechat"] for i in range(50)]
    rows[7][2] = "-1"  # a quarantined row in the first chunks, so issues were flushed too
    f = write_csv(tmp_path / "payments.csv", HEADERS["payments"], rows)
    before = snapshot(engine)
    seen = []

    def crash(update):
        seen.append(update.rows_read)
        if len(seen) == 3:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        load(engine, f, quarantine=tmp_path / "q", progress=crash, chunk_rows=10)
    assert seen == [10, 20, 30]
    assert snapshot(engine) == before
    assert not (tmp_path / "q").exists() or list((tmp_path / "q").iterdir()) == []
    (r,) = load(engine, f, quarantine=tmp_path / "q", chunk_rows=10)
    assert (r.loaded, r.quarantined) == (49, 1)


def test_a_database_error_part_way_rolls_back(engine, tmp_path, monkeypatch):
    base(engine, tmp_path, "customers", "accounts")
    rows = [[f"P{i}", "A1", "100", "2026-01-20", "wechat"] for i in range(30)]
    f = write_csv(tmp_path / "payments.csv", HEADERS["payments"], rows)
    before = snapshot(engine)
    calls = []
    original = ingest_module._Loader._insert

    def failing_insert(self, table, batch):
        calls.append(table.name)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(self, table, batch)

    monkeypatch.setattr(ingest_module._Loader, "_insert", failing_insert)
    with pytest.raises(OSError, match="disk full"):
        load(engine, f, chunk_rows=10)
    assert snapshot(engine) == before


def test_chunking_does_not_change_the_result(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    rows = [[f"P{i}", "A1", str(i), "2026-01-20", "wechat"] for i in range(1, 40)]
    rows.append(["P5", "A1", "5", "2026-01-20", "wechat"])  # duplicate across chunks
    f = write_csv(tmp_path / "payments.csv", HEADERS["payments"], rows)
    (r,) = load(engine, f, quarantine=tmp_path / "q", chunk_rows=7)
    assert (r.rows_read, r.loaded, r.quarantined) == (40, 39, 1)
    assert "first at row 6" in read_report(r.quarantine_path)[0]["reason"]


def test_stale_quarantine_report_is_removed_on_a_clean_load(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    f = write_csv(tmp_path / "payments.csv", HEADERS["payments"], [["P1", "A1", "-1", "2026-01-20", "wechat"]])
    (r,) = load(engine, f, quarantine=tmp_path / "q")
    assert r.quarantine_path is not None and r.quarantine_path.exists()
    write_csv(f, HEADERS["payments"], [["P1", "A1", "1", "2026-01-20", "wechat"]])
    (r2,) = load(engine, f, quarantine=tmp_path / "q")
    assert r2.quarantine_path is None and not r.quarantine_path.exists()


def test_holds_and_statements_reference_accounts(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    holds = [["H9", "A404", "fraud", "2026-01-01", "", "", "", ""], HOLDS[0]]
    (r,) = load(engine, write_kind(tmp_path / "x", "holds", holds), quarantine=tmp_path / "q")
    assert (r.loaded, r.quarantined) == (1, 1)
    assert "unknown account_id 'A404'" in read_report(r.quarantine_path)[0]["reason"]


# -- larger files: whole-chunk checks, chunk boundaries, the careful reader ---------------------------


def test_bad_rows_in_the_middle_of_a_larger_file_keep_their_row_numbers(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    rows = [[f"P{i}", "A1" if i % 3 else "A2", str(100 + i), "2026-01-20", "wechat"] for i in range(1, 2501)]
    rows[999] = ["P1000", "A1", "12.5", "2026-01-20", "wechat"]  # row 1001: fractional
    rows[1000] = ["P1001", "A1", "100", "2026-02-29", "wechat"]  # row 1002: impossible date
    rows[1499] = [" P1500 ", "A1", " 7 ", " 2026-01-21 ", " alipay "]  # row 1501: spaces are trimmed, loads
    rows[1999] = ["P2000", "A404", "100", "2026-01-20", "wechat"]  # row 2001: unknown account
    rows[2499] = ["P10", "A1", "110", "2026-01-20", "wechat"]  # row 2501: duplicate of row 11, other chunk
    f = write_csv(tmp_path / "payments.csv", HEADERS["payments"], rows)
    (r,) = load(engine, f, quarantine=tmp_path / "q", chunk_rows=1000)
    assert (r.rows_read, r.loaded, r.quarantined) == (2500, 2496, 4)
    got = {int(x["row"]): (x["field"], x["reason"]) for x in read_report(r.quarantine_path)}
    assert set(got) == {1001, 1002, 2001, 2501}
    assert got[1001][0] == "amount_fen" and "fractional amount" in got[1001][1]
    assert got[1002][0] == "value_date" and "impossible date" in got[1002][1]
    assert got[2001][0] == "account_id" and "unknown account_id 'A404'" in got[2001][1]
    assert got[2501] == ("payment_id", "duplicate key 'P10' inside the file (first at row 11)")
    with engine.connect() as conn:
        p1500 = conn.execute(select(Payment.__table__).where(Payment.payment_ref == "P1500")).one()
        refs = conn.execute(select(Payment.payment_ref).order_by(Payment.id)).scalars().all()
    assert (p1500.amount, p1500.value_date, p1500.channel) == (7, date(2026, 1, 21), "alipay")
    assert refs[:3] == ["P1", "P2", "P3"] and len(refs) == 2496  # stored in file order


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 100])
def test_duplicate_statement_keys_across_chunk_boundaries(engine, tmp_path, chunk_rows):
    base(engine, tmp_path, "customers", "accounts")
    statements = [
        ["A1", "2026-01-05", "2026-01-25", "100", "10", "0"],
        ["A2", "2026-01-05", "2026-01-25", "100", "10", "0"],
        ["A1", "2026-01-05", "2026-01-26", "100", "10", "0"],  # same key as row 2
        ["A1", "2026-1-5", "2026-01-26", "100", "10", "0"],  # bad date: takes no part in duplicates
        ["A1", "2026-02-05", "2026-02-25", "100", "10", "0"],
        ["A1", "2026-02-05", "2026-02-25", "100", "10", "0"],  # same key as row 6
    ]
    (r,) = load(engine, write_kind(tmp_path / "x", "statements", statements), quarantine=tmp_path / "q",
                chunk_rows=chunk_rows)
    assert (r.rows_read, r.loaded, r.quarantined) == (6, 3, 3)
    got = {int(x["row"]): x for x in read_report(r.quarantine_path)}
    assert got[4]["reason"] == "duplicate key 'A1|2026-01-05' inside the file (first at row 2)"
    assert got[7]["reason"] == "duplicate key 'A1|2026-02-05' inside the file (first at row 6)"
    assert got[5]["field"] == "statement_date"


def test_blank_lines_and_short_records_are_numbered_like_the_csv_module(engine, tmp_path):
    base(engine, tmp_path, "customers", "accounts")
    data = ("payment_id,account_id,amount_fen,value_date,channel\r\n"
            "P1,A1,100,2026-01-20,wechat\r\n"
            "\r\n"
            "P2,A1,-1,2026-01-20,wechat\r\n"
            "P3,A1\r\n"
            "P4,A2,300,2026-01-21,counter\r\n")
    f = tmp_path / "payments.csv"
    f.write_text(data, encoding="utf-8")
    (r,) = load(engine, f, quarantine=tmp_path / "q", chunk_rows=2)
    assert (r.rows_read, r.loaded, r.quarantined) == (4, 2, 2)
    got = {int(x["row"]): x for x in read_report(r.quarantine_path)}
    assert set(got) == {4, 5}  # the blank line 3 counts as a record number, as before
    assert "negative amount" in got[4]["reason"] and "expected 5 fields, found 2" in got[5]["reason"]
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Payment.payment_ref)).scalars()) == ["P1", "P4"]
        assert conn.execute(select(IngestRun.status).where(IngestRun.id == r.run_id)).scalar_one() == "loaded"
