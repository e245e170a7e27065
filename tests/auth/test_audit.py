"""The hash-chained audit log: appends, verification, tampering and the append-only triggers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from arrears.auth.model import GENESIS_HASH, canonical_record, chain_hash
from arrears.auth.service import record, verify
from arrears.auth.tables import AuditChainHead, AuditRecord
from arrears.kit.clock import frozen_at
from arrears.kit.db import is_sqlite, transaction

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def _append(engine, n: int) -> None:
    with frozen_at(T0), transaction(engine) as s:
        for i in range(n):
            record(s, actor=f"user{i % 3}", action="case.update", entity="case", entity_id=i,
                   detail={"i": i, "amount_fen": 12_345 + i, "rate": Decimal("0.1800"), "note": "客户承诺还款"})


def _problems(engine):
    with transaction(engine) as s:
        return [(p.seq, p.kind) for p in verify(s)]


def test_appends_chain_from_genesis_and_verify_clean(engine):
    _append(engine, 40)
    with transaction(engine) as s:
        rows = s.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        head = s.get(AuditChainHead, 1)
        assert [r.seq for r in rows] == list(range(1, 41))
        assert rows[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:]))
        assert (head.last_seq, head.last_hash) == (40, rows[-1].hash)
        r = rows[5]
        assert r.detail == {"i": 5, "amount_fen": 12_350, "rate": "0.1800", "note": "客户承诺还款"}
        assert r.entity_id == "5" and r.at == T0
        assert r.hash == chain_hash(canonical_record(seq=6, at=T0, actor=r.actor, action=r.action, entity="case",
                                                     entity_id="5", detail=r.detail), rows[4].hash)
        assert verify(s) == []


def test_a_rolled_back_append_leaves_no_gap(engine):
    _append(engine, 2)
    with pytest.raises(RuntimeError), transaction(engine) as s:
        record(s, actor="u", action="x", entity="e")
        raise RuntimeError("boom")
    _append(engine, 1)
    with transaction(engine) as s:
        assert s.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)).all() == [1, 2, 3]
    assert _problems(engine) == []


def test_floats_are_refused_in_details(engine):
    with pytest.raises(ValueError, match="floats"), transaction(engine) as s:
        record(s, actor="u", action="x", entity="e", detail={"amount": 1.5})


def test_the_database_refuses_update_and_delete(engine):
    _append(engine, 3)
    for sql in ("UPDATE audit_records SET actor = 'mallory' WHERE seq = 2", "DELETE FROM audit_records WHERE seq = 3"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with pytest.raises(DBAPIError, match="append-only"), transaction(engine) as s:
        s.get(AuditRecord, 1).actor = "mallory"
    assert _problems(engine) == []


def test_a_changed_detail_is_named(engine, drop_triggers):
    _append(engine, 10)
    with engine.begin() as conn:
        drop_triggers(conn)
        conn.execute(text("UPDATE audit_records SET detail = :d WHERE seq = 7"),
                     {"d": json.dumps({"i": 6, "amount_fen": 1, "rate": "0.1800", "note": "客户承诺还款"})})
    assert _problems(engine) == [(7, "changed")]


def test_a_changed_row_with_a_recomputed_hash_is_named_by_the_broken_link(engine, drop_triggers):
    _append(engine, 10)
    with transaction(engine) as s:
        r = s.get(AuditRecord, 4)
        forged = chain_hash(canonical_record(seq=4, at=r.at, actor="mallory", action=r.action, entity=r.entity,
                                             entity_id=r.entity_id, detail=r.detail), r.prev_hash)
    with engine.begin() as conn:
        drop_triggers(conn)
        conn.execute(text("UPDATE audit_records SET actor = 'mallory', hash = :h WHERE seq = 4"), {"h": forged})
    problems = _problems(engine)
    assert problems == [(4, "changed")]


def test_a_deleted_row_is_named(engine, drop_triggers):
    _append(engine, 10)
    with engine.begin() as conn:
        drop_triggers(conn)
        conn.execute(text("DELETE FROM audit_records WHERE seq = 5"))
    assert _problems(engine) == [(5, "deleted")]
    with transaction(engine) as s:
        assert "seq 5 missing" in str(verify(s)[0])


def test_deleted_rows_at_the_end_are_named_by_the_head(engine, drop_triggers):
    _append(engine, 10)
    with engine.begin() as conn:
        drop_triggers(conn)
        conn.execute(text("DELETE FROM audit_records WHERE seq >= 9"))
    with transaction(engine) as s:
        problems = verify(s)
    assert [(p.seq, p.kind) for p in problems] == [(9, "deleted")]
    assert "seq 9–10" in problems[0].message


def _forge(conn, *, seq: int, prev_hash: str) -> None:
    detail = {"note": "forged"}
    h = chain_hash(canonical_record(seq=seq, at=T0, actor="mallory", action="case.update", entity="case",
                                    entity_id="X", detail=detail), prev_hash)
    conn.execute(
        text("INSERT INTO audit_records (seq, at, actor, action, entity, entity_id, detail, prev_hash, hash) "
             "VALUES (:seq, :at, 'mallory', 'case.update', 'case', 'X', :detail, :prev, :hash)"),
        {"seq": seq, "at": T0.isoformat() if is_sqlite(conn.engine) else T0, "detail": json.dumps(detail),
         "prev": prev_hash, "hash": h},
    )


def test_a_forged_row_appended_with_a_valid_hash_is_named(engine):
    _append(engine, 6)
    with engine.begin() as conn:
        last = conn.execute(text("SELECT hash FROM audit_records WHERE seq = 6")).scalar_one()
        _forge(conn, seq=7, prev_hash=last)  # no trigger needed: INSERT is allowed
    assert _problems(engine) == [(7, "inserted")]


def test_a_forged_row_put_in_place_of_a_deleted_one_is_named(engine, drop_triggers):
    _append(engine, 6)
    with engine.begin() as conn:
        drop_triggers(conn)
        prev = conn.execute(text("SELECT hash FROM audit_records WHERE seq = 2")).scalar_one()
        conn.execute(text("DELETE FROM audit_records WHERE seq = 3"))
        _forge(conn, seq=3, prev_hash=prev)
    assert _problems(engine) == [(3, "changed")]


def test_verify_of_an_empty_log_is_clean_and_a_missing_head_is_reported(engine):
    assert _problems(engine) == []
    _append(engine, 2)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_chain_head"))
    assert _problems(engine) == [(2, "head")]


def test_appends_after_the_head_row_was_lost_start_a_new_head(engine):
    # The head is created on first use (a store emptied by TRUNCATE has none).
    _append(engine, 1)
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(AuditChainHead)) == 1
