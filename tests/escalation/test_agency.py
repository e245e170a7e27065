"""Agency placement, recall and collections in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arrears.cases import service as case_service
from arrears.escalation import service
from arrears.escalation.tables import AgencyCollection, AgencyPlacement
from arrears.kit.db import transaction
from arrears.kit.errors import FileRejected
from tests.escalation.support import agencies, audits, escalated, hold, pay, ready_to_place, status

PLACED_ON = date(2026, 3, 1)


def _place(engine, code: str = "huaxia", on: date = PLACED_ON) -> service.FileOut:
    ready_to_place(engine, code, on)  # registered, and the debtors told (tests/escalation/test_agency_notice.py)
    with transaction(engine) as session:
        return service.place_accounts(session, agency=agencies().get(code), on=on, actor="cli:tester", role="admin",
                                      reason="monthly placement")


def _recall(engine, on: date) -> service.FileOut:
    with transaction(engine) as session:
        return service.recall_placements(session, agencies=agencies(), on=on, actor="cli:tester")


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8"))))


def _placements(engine) -> dict[int, AgencyPlacement]:
    with Session(engine) as session:
        return {p.case_id: p for p in session.scalars(select(AgencyPlacement))}


def test_placement_file_contents_manifest_and_audit(engine):
    a = escalated(engine, "ACC-A", "agency_placement", dpd=120, balance=1_000_000, address="上海市浦东新区世纪大道100号")
    b = escalated(engine, "ACC-B", "agency_placement", dpd=400, balance=500_000, phone=None)
    c = escalated(engine, "ACC-C", "agency_placement", dpd=60)
    d = escalated(engine, "ACC-D", "agency_placement", dpd=150)
    escalated(engine, "ACC-E", "follow_up", dpd=200)
    hold(engine, "ACC-D", "dispute", date(2026, 2, 20))
    out = _place(engine)

    rows = _rows(out.content)
    placements = _placements(engine)
    assert set(placements) == {a, b}
    assert rows == [
        {"placement_id": str(placements[a].id), "account_ref": "ACC-A", "customer_name": "测试客户",
         "phone": "13912345678", "address": "上海市浦东新区世纪大道100号", "balance_fen": "1000000", "dpd": "120",
         "commission_rate_bp": "1500", "placed_on": "2026-03-01", "term_end": "2026-05-30"},
        {"placement_id": str(placements[b].id), "account_ref": "ACC-B", "customer_name": "测试客户", "phone": "",
         "address": "", "balance_fen": "500000", "dpd": "400", "commission_rate_bp": "2800",
         "placed_on": "2026-03-01", "term_end": "2026-05-30"},
    ]
    digest = hashlib.sha256(out.content).hexdigest()
    assert out.manifest == {"kind": "agency_placement", "agency": "huaxia", "business_date": "2026-03-01", "rows": 2,
                            "total_balance_fen": 1_500_000, "sha256": digest}
    assert {case for case, _ in out.skipped} == {c, d}
    assert dict(out.skipped)[c] == "DPD 60 is outside agency huaxia's commission tiers"
    assert dict(out.skipped)[d] == "hold dispute in force"
    p = placements[a]
    assert (p.agency, p.status, p.rate_bp, p.balance, p.file_sha256) == ("huaxia", "placed", 1500, 1_000_000, digest)
    assert p.terms["rate_bp"] == 1500 and p.terms["tiers"][2] == {"min_dpd": 361, "max_dpd": None, "rate_bp": 2800}
    [audit] = audits(engine, "agency.placement_file")
    assert audit.actor == "cli:tester" and audit.entity_id == "huaxia"
    assert audit.detail["accounts"] == 2 and audit.detail["sha256"] == digest
    assert audit.detail["personal_data"] == "unmasked"
    assert "13912345678" not in str(audit.detail)

    again = _place(engine)          # live placements are not placed twice
    assert again.rows == 0 and _rows(again.content) == []
    assert len(_placements(engine)) == 2


def test_recall_rules_each_and_the_case_goes_back_to_follow_up(engine):
    disputed = escalated(engine, "ACC-H", "agency_placement", balance=1_000_000)
    paid = escalated(engine, "ACC-P", "agency_placement", balance=1_000_000)
    waiting = escalated(engine, "ACC-W", "agency_placement", balance=1_000_000)
    cured = escalated(engine, "ACC-K", "agency_placement", balance=1_000_000)
    hardship = escalated(engine, "ACC-S", "agency_placement", balance=1_000_000)
    _place(engine)
    placements = _placements(engine)
    hold(engine, "ACC-H", "dispute", date(2026, 3, 10))
    hold(engine, "ACC-S", "hardship", date(2026, 3, 10))        # not a recall hold for huaxia
    hold(engine, "ACC-W", "fraud", date(2026, 3, 1), date(2026, 3, 5))   # ended before the recall date
    pay(engine, "ACC-P", (date(2026, 2, 27), 900_000),            # before placement: does not count
        (date(2026, 3, 5), 600_000))
    pay(engine, "ACC-W", (date(2026, 3, 5), 999_999))            # one fen short
    with transaction(engine) as session:
        case_service.transition(session, case_id=cured, to_state="cured", actor="cycle", reason="paid up")
    _collect(engine, [("R1", placements[paid].id, "ACC-P", "2026-03-12", "400000")])

    out = _recall(engine, date(2026, 3, 15))
    rows = {r["account_ref"]: r for r in _rows(out.content)}
    assert {ref: r["reason"] for ref, r in rows.items()} == {
        "ACC-H": "hold:dispute", "ACC-P": "paid_in_full", "ACC-K": "case_cured"}
    assert rows["ACC-H"] == {"placement_id": str(placements[disputed].id), "agency": "huaxia", "account_ref": "ACC-H",
                             "placed_on": "2026-03-01", "recalled_on": "2026-03-15", "reason": "hold:dispute"}
    assert out.manifest["rows"] == 3 and out.manifest["sha256"] == hashlib.sha256(out.content).hexdigest()
    assert (status(engine, disputed), status(engine, paid), status(engine, cured)) == ("follow_up", "follow_up", "cured")
    assert status(engine, waiting) == status(engine, hardship) == "agency_placement"
    now = _placements(engine)
    assert (now[disputed].status, now[disputed].recalled_on) == ("recalled", date(2026, 3, 15))
    assert now[waiting].status == "placed"

    assert _recall(engine, date(2026, 5, 29)).rows == 0          # the day before the term ends
    last = _recall(engine, date(2026, 5, 30))
    assert {r["account_ref"]: r["reason"] for r in _rows(last.content)} == {
        "ACC-W": "term_expired", "ACC-S": "term_expired"}
    assert status(engine, waiting) == "follow_up"
    assert len(audits(engine, "agency.recall_file")) == 3
    # the case may be placed again once recalled
    with transaction(engine) as session:
        case_service.transition(session, case_id=waiting, to_state="agency_placement", actor="user:1", reason="again")
    assert _place(engine, on=date(2026, 6, 1)).rows == 1


# -- collections ------------------------------------------------------------------------------------

HEADER = "collection_ref,placement_id,account_ref,value_date,amount_fen\n"


def _file(tmp_path: Path, rows: list[tuple[str, ...]], name: str = "huaxia-2026-03.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _collect(engine, rows, *, code: str = "huaxia", path: Path | None = None) -> service.CollectionsLoaded:
    if path is None:
        import tempfile

        path = _file(Path(tempfile.mkdtemp()), rows)
    with transaction(engine) as session:
        return service.load_collections(session, agency=agencies().get(code), path=path, actor="cli:tester")


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(AgencyCollection)).scalar_one()


@pytest.fixture
def placed(engine):  # type: ignore[no-untyped-def]
    """ACC-1 (DPD 120, 15 %) and ACC-2 (DPD 200, 20 %) with huaxia; ACC-3 (DPD 200) with jinan_recovery."""
    one = escalated(engine, "ACC-1", "agency_placement", dpd=120)
    two = escalated(engine, "ACC-2", "agency_placement", dpd=200)
    _place(engine)
    three = escalated(engine, "ACC-3", "agency_placement", dpd=200)
    _place(engine, "jinan_recovery")
    p = _placements(engine)
    return {"ACC-1": p[one].id, "ACC-2": p[two].id, "ACC-3": p[three].id}


def test_collections_commission_and_idempotent_reload(engine, placed, tmp_path):
    path = _file(tmp_path, [("HX-1", placed["ACC-1"], "ACC-1", "2026-03-05", "100001"),
                            ("HX-2", placed["ACC-1"], "ACC-1", "2026-03-06", "10"),
                            ("HX-3", placed["ACC-2"], "ACC-2", "2026-03-06", "12345")])
    first = _collect(engine, None, path=path)
    assert (first.rows, first.loaded, first.already) == (3, 3, 0)
    # 15 % of 1,000.01 = 150.0015 -> 15,000 fen; of 0.10 -> 1.5 fen -> 2 (half up); 20 % of 123.45 -> 2,469 fen
    assert first.amount == 112_356 and first.commission == 15_000 + 2 + 2_469
    with Session(engine) as session:
        got = {c.collection_ref: (c.amount, c.rate_bp, c.commission, c.source_file, c.source_row)
               for c in session.scalars(select(AgencyCollection))}
    assert got == {"HX-1": (100_001, 1500, 15_000, "huaxia-2026-03.csv", 2),
                   "HX-2": (10, 1500, 2, "huaxia-2026-03.csv", 3),
                   "HX-3": (12_345, 2000, 2_469, "huaxia-2026-03.csv", 4)}
    again = _collect(engine, None, path=path)
    assert (again.loaded, again.already, again.amount, again.commission) == (0, 3, 0, 0)
    assert _count(engine) == 3
    # a later file repeating one row and adding one adds only the new one
    more = _collect(engine, [("HX-3", placed["ACC-2"], "ACC-2", "2026-03-06", "12345"),
                             ("HX-4", placed["ACC-2"], "ACC-2", "2026-03-20", "500")])
    assert (more.loaded, more.already) == (1, 1)
    assert _count(engine) == 4
    assert [a.detail["loaded"] for a in audits(engine, "agency.collections_loaded")] == [3, 0, 1]


BAD_ROWS = [
    (("X", "{p1}", "ACC-1", "2026-13-01", "100"), "value_date", "is not a date"),
    (("X", "{p1}", "ACC-1", "2026-03-05", "-5"), "amount_fen", "is not a whole number"),
    (("X", "{p1}", "ACC-1", "2026-03-05", "12.50"), "amount_fen", "is not a whole number"),
    (("X", "{p1}", "ACC-1", "2026-03-05", "0"), "amount_fen", "must be >= 1"),
    (("X", "abc", "ACC-1", "2026-03-05", "100"), "placement_id", "is not a whole number"),
    (("X", "999999", "ACC-1", "2026-03-05", "100"), "placement_id", "is not a placement with agency huaxia"),
    (("X", "{p3}", "ACC-3", "2026-03-05", "100"), "placement_id", "is not a placement with agency huaxia"),
    (("X", "{p1}", "ACC-2", "2026-03-05", "100"), "account_ref", "is account ACC-1, not 'ACC-2'"),
    (("X", "{p1}", "ACC-1", "2026-02-28", "100"), "value_date", "before the account was placed"),
    (("", "{p1}", "ACC-1", "2026-03-05", "100"), "collection_ref", "must be 1 to 64 characters"),
    (("OK-1", "{p1}", "ACC-1", "2026-03-05", "100"), "collection_ref", "already on row 2"),
]


@pytest.mark.parametrize(("row", "column", "message"), BAD_ROWS)
def test_a_bad_row_rejects_the_whole_file_naming_file_row_and_column(engine, placed, tmp_path, row, column, message):
    ids = {"p1": placed["ACC-1"], "p3": placed["ACC-3"]}
    bad = tuple(v.format(**ids) for v in row)
    path = _file(tmp_path, [("OK-1", placed["ACC-1"], "ACC-1", "2026-03-05", "100"), bad])
    with pytest.raises(FileRejected) as caught:
        _collect(engine, None, path=path)
    err = caught.value
    assert (err.file, err.row, err.column) == (str(path), 3, column)
    assert message in str(err)
    assert str(err).startswith(f"{path}, row 3, column '{column}': ")
    assert _count(engine) == 0          # the good row 2 was not written either
    assert audits(engine, "agency.collections_loaded") == []


@pytest.mark.parametrize(("header", "column", "message"), [
    ("collection_ref,placement_id,account_ref,value_date\n", "amount_fen", "missing column"),
    ("collection_ref,placement_id,account_ref,value_date,amount_fen,note\n", "note", "unknown column"),
])
def test_a_wrong_header_is_refused(engine, placed, tmp_path, header, column, message):
    path = _file(tmp_path, [], header=header)
    with pytest.raises(FileRejected) as caught:
        _collect(engine, None, path=path)
    assert (caught.value.row, caught.value.column) == (1, column)
    assert message in str(caught.value)


def test_a_reported_row_changed_later_is_refused(engine, placed, tmp_path):
    _collect(engine, [("HX-1", placed["ACC-1"], "ACC-1", "2026-03-05", "100")])
    path = _file(tmp_path, [("HX-2", placed["ACC-1"], "ACC-1", "2026-03-06", "50"),
                            ("HX-1", placed["ACC-1"], "ACC-1", "2026-03-05", "101")], name="again.csv")
    with pytest.raises(FileRejected, match="row 3, column 'collection_ref': collection_ref 'HX-1' was loaded before"):
        _collect(engine, None, path=path)
    assert _count(engine) == 1


def test_collections_after_recall_are_refused(engine, placed, tmp_path):
    hold(engine, "ACC-1", "deceased", date(2026, 3, 10))
    _recall(engine, date(2026, 3, 10))
    path = _file(tmp_path, [("HX-9", placed["ACC-1"], "ACC-1", "2026-03-11", "100")])
    with pytest.raises(FileRejected, match="after the account was recalled"):
        _collect(engine, None, path=path)
    ok = _collect(engine, [("HX-8", placed["ACC-1"], "ACC-1", "2026-03-10", "100")])
    assert ok.loaded == 1
