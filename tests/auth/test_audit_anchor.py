"""The audit chain anchored outside the store: HMAC key and signed checkpoints (docs/security.md).

Each attack is done with the application's own database rights (triggers bypassed where it needs
UPDATE or DELETE), and ``arrears audit verify`` must name it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner

from arrears.auth.audit import record
from arrears.auth.commands import audit_app
from arrears.auth.model import (
    GENESIS_HASH,
    ChainRow,
    Keyring,
    canonical_record,
    chain_hash,
    check_chain,
    keyed_hash,
    sign_checkpoint,
)
from arrears.config import get_settings
from arrears.kit.clock import frozen_at
from arrears.kit.db import is_sqlite, transaction

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
KEY = "k" * 16 + "0123456789abcdef0123456789abcdef"


@pytest.fixture
def cli(store_url, tmp_path, monkeypatch):
    """Run ``arrears audit …`` on the test store with a key file and a checkpoint file in tmp_path."""
    key_file = tmp_path / "audit.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    monkeypatch.setenv("ARREARS_AUDIT_KEY_FILE", str(key_file))
    monkeypatch.setenv("ARREARS_AUDIT_CHECKPOINT_FILE", str(tmp_path / "checkpoints.jsonl"))
    get_settings.cache_clear()
    app = typer.Typer()
    app.add_typer(audit_app, name="audit")
    runner = CliRunner()
    _CLOCK[0] = 0

    def invoke(*args: str):
        with frozen_at(_tick()):  # the commands' own audit records follow the test's in time
            return runner.invoke(app, list(args))

    yield invoke
    get_settings.cache_clear()


_CLOCK = [0]


def _tick() -> datetime:
    """The test's clock: one hour later at each call (more than the allowed clock skew)."""
    _CLOCK[0] += 1
    return T0 + timedelta(hours=_CLOCK[0])


def _append(engine, n: int, *, start: int = 0) -> None:
    """n records, one minute apart on the test's clock."""
    for i in range(start, start + n):
        with frozen_at(_tick()), transaction(engine) as s:
            record(s, actor=f"user{i % 3}", action="case.update", entity="case", entity_id=i, detail={"i": i})


def _rows(conn) -> list[SimpleNamespace]:
    """The records as the attacker reads them (SQLite returns times and JSON as text)."""
    out = []
    for r in conn.execute(text("SELECT seq, at, actor, entity_id, detail, prev_hash, hash, key_id "
                               "FROM audit_records ORDER BY seq")).mappings():
        r = dict(r)
        if isinstance(r["at"], str):
            r["at"] = datetime.fromisoformat(r["at"])
        r["at"] = r["at"].replace(tzinfo=UTC) if r["at"].tzinfo is None else r["at"]
        if isinstance(r["detail"], str):
            r["detail"] = json.loads(r["detail"])
        out.append(SimpleNamespace(**r))
    return out


def _plain(seq, at, actor, prev, *, detail=None, key_id=None):
    detail = detail if detail is not None else {"note": "forged"}
    h = chain_hash(canonical_record(seq=seq, at=at, actor=actor, action="case.update", entity="case",
                                    entity_id="X", detail=detail), prev)
    return {"seq": seq, "at": at, "actor": actor, "detail": detail, "prev": prev, "hash": h, "key_id": key_id}


def _insert(conn, row) -> None:
    conn.execute(
        text("INSERT INTO audit_records (seq, at, actor, action, entity, entity_id, detail, prev_hash, hash, key_id) "
             "VALUES (:seq, :at, :actor, 'case.update', 'case', 'X', :detail, :prev, :hash, :key_id)"),
        {**row, "at": row["at"].isoformat() if is_sqlite(conn.engine) else row["at"],
         "detail": json.dumps(row["detail"])})


def _move_head(conn, seq: int, h: str) -> None:
    conn.execute(text("UPDATE audit_chain_head SET last_seq = :s, last_hash = :h"), {"s": seq, "h": h})


def _broken(result, *kinds: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Audit chain broken" in result.output
    for kind in kinds:
        assert f": {kind}:" in result.output, (kind, result.output)
    return result.output


def test_a_keyed_chain_with_checkpoints_is_intact(cli, engine):
    _append(engine, 5)
    assert cli("audit", "checkpoint").exit_code == 0
    _append(engine, 3, start=10)
    result = cli("audit", "checkpoint")
    assert result.exit_code == 0, result.output
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "Audit chain intact: 10 records (10 signed with the audit key, 0 without a key; last checkpoint seq 10" \
        in result.output
    with engine.connect() as conn:
        assert {r.key_id for r in _rows(conn)} == {Keyring.of(KEY.encode()).current}


def test_a_backdated_record_inserted_with_the_head_moved_is_inserted_and_reordered(cli, engine):
    _append(engine, 6)
    assert cli("audit", "checkpoint").exit_code == 0  # seq 7
    with engine.begin() as conn:
        last = _rows(conn)[-1]
        forged = _plain(8, T0 - timedelta(days=3), "mallory", last.hash)  # INSERT needs no trigger bypass
        _insert(conn, forged)
        _move_head(conn, 8, forged["hash"])
    output = _broken(cli("audit", "verify"), "inserted", "reordered")
    assert "seq 8: inserted" in output


def test_a_forged_record_claiming_the_key_is_named(cli, engine):
    _append(engine, 3)
    with engine.begin() as conn:
        last = _rows(conn)[-1]
        forged = _plain(4, _tick(), "mallory", last.hash, key_id=last.key_id)
        _insert(conn, forged)
        _move_head(conn, 4, forged["hash"])
    _broken(cli("audit", "verify"), "inserted")


def test_deleting_every_record_and_the_head_is_truncated(cli, engine, drop_triggers):
    _append(engine, 4)
    assert cli("audit", "checkpoint").exit_code == 0
    with engine.begin() as conn:
        drop_triggers(conn)
        conn.execute(text("DELETE FROM audit_records"))
        conn.execute(text("DELETE FROM audit_chain_head"))
    output = _broken(cli("audit", "verify"), "truncated")
    assert "the chain ends at seq 0 but the checkpoint" in output and "recorded seq 5" in output


def test_deleting_the_last_records_and_rewinding_the_head_is_truncated(cli, engine, drop_triggers):
    _append(engine, 8)
    assert cli("audit", "checkpoint").exit_code == 0
    with engine.begin() as conn:
        drop_triggers(conn)
        keep = _rows(conn)[5]
        conn.execute(text("DELETE FROM audit_records WHERE seq > 6"))
        _move_head(conn, 6, keep.hash)
    output = _broken(cli("audit", "verify"), "truncated")
    assert "head rewound" in output
    # and a checkpoint refuses to sign over it
    result = cli("audit", "checkpoint")
    assert result.exit_code == 1 and "no checkpoint written" in result.output


def test_a_rewind_written_again_by_the_application_is_rewound(cli, engine, drop_triggers):
    _append(engine, 8)
    assert cli("audit", "checkpoint").exit_code == 0  # seq 9
    with engine.begin() as conn:
        drop_triggers(conn)
        keep = _rows(conn)[4]
        conn.execute(text("DELETE FROM audit_records WHERE seq > 5"))
        _move_head(conn, 5, keep.hash)
    _append(engine, 6, start=20)  # new, correctly signed history in place of seq 6–9
    output = _broken(cli("audit", "verify"), "rewound")
    assert "seq 9: rewound" in output


def test_reordered_records_are_named(cli, engine, drop_triggers):
    _append(engine, 6)
    assert cli("audit", "checkpoint").exit_code == 0
    with engine.begin() as conn:
        drop_triggers(conn)
        rows = _rows(conn)
        a, b = rows[2], rows[3]  # swap records 3 and 4 whole, keeping the seq numbers
        for target, src in ((a.seq, b), (b.seq, a)):
            conn.execute(text("UPDATE audit_records SET at = :at, actor = :actor, entity_id = :eid, detail = :d, "
                              "prev_hash = :p, hash = :h WHERE seq = :seq"),
                         {"at": src.at.isoformat() if is_sqlite(engine) else src.at, "actor": src.actor,
                          "eid": src.entity_id, "d": json.dumps(src.detail), "p": src.prev_hash,
                          "h": "x" + src.hash[1:] if target == a.seq else src.hash, "seq": target})
    _broken(cli("audit", "verify"), "reordered", "rewritten")


@pytest.mark.parametrize("claim_key", [False, True])
def test_a_full_rewrite_without_the_key_is_rewritten(cli, engine, drop_triggers, claim_key):
    _append(engine, 5)
    assert cli("audit", "checkpoint").exit_code == 0
    with engine.begin() as conn:
        drop_triggers(conn)
        old = _rows(conn)
        conn.execute(text("DELETE FROM audit_records"))
        prev = GENESIS_HASH
        for r in old:  # the same history, whitewashed, consistently re-hashed without the key
            row = _plain(r.seq, r.at, "someone.else", prev, detail=r.detail,
                         key_id=r.key_id if claim_key else None)
            _insert(conn, row)
            prev = row["hash"]
        _move_head(conn, old[-1].seq, prev)
    output = _broken(cli("audit", "verify"), "rewritten")
    assert "seq 1–6: 6 record(s)" in output


def test_legacy_records_before_the_key_stay_verifiable_and_are_anchored(cli, engine, monkeypatch, tmp_path,
                                                                        drop_triggers):
    monkeypatch.delenv("ARREARS_AUDIT_KEY_FILE")
    get_settings.cache_clear()
    _append(engine, 4)  # written before a key was configured: plain sha256
    result = cli("audit", "verify")
    assert result.exit_code == 0 and "No audit key is configured" in result.output
    monkeypatch.setenv("ARREARS_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
    get_settings.cache_clear()
    assert cli("audit", "checkpoint").exit_code == 0  # seq 5, the first signed record: keyed_from 5
    _append(engine, 2, start=10)
    result = cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "7 records (3 signed with the audit key, 4 without a key" in result.output
    # downgrading the signed records to plain sha256 (no key needed) is a rewrite
    with engine.begin() as conn:
        drop_triggers(conn)
        old = _rows(conn)
        conn.execute(text("DELETE FROM audit_records WHERE seq >= 5"))
        prev = old[3].hash
        for r in old[4:]:
            row = _plain(r.seq, r.at, r.actor, prev, detail=r.detail)
            _insert(conn, row)
            prev = row["hash"]
        _move_head(conn, old[-1].seq, prev)
    _broken(cli("audit", "verify"), "rewritten")


def test_keyed_records_without_the_key_are_unverifiable_not_intact(cli, engine, monkeypatch):
    _append(engine, 2)
    monkeypatch.delenv("ARREARS_AUDIT_KEY_FILE")
    get_settings.cache_clear()
    output = _broken(cli("audit", "verify"), "unverifiable")
    assert "No audit key is configured" in output


def test_a_forged_or_removed_checkpoint_line_is_named(cli, engine, tmp_path):
    _append(engine, 2)
    for _ in range(3):
        assert cli("audit", "checkpoint").exit_code == 0
    path = tmp_path / "checkpoints.jsonl"
    lines = path.read_text().splitlines()
    doc = json.loads(lines[2])
    doc["seq"] = 99
    path.write_text("\n".join([lines[0], lines[2], json.dumps(doc)]) + "\n")
    output = _broken(cli("audit", "verify"), "bad_checkpoint")
    assert f"{path}:2: does not follow" in output and f"{path}:3: signature does not verify" in output
    assert cli("audit", "checkpoint").exit_code == 1


def test_a_short_key_is_refused_naming_the_file(cli, engine, tmp_path):
    (tmp_path / "audit.key").write_text("too short\n")
    result = cli("audit", "verify")
    assert result.exit_code == 1 and f"audit key file {tmp_path / 'audit.key'}: key 1 is 9 characters" in result.output


def test_keygen_writes_a_private_key_file_and_rotates(cli, tmp_path):
    path = tmp_path / "new.key"
    assert cli("audit", "keygen", str(path)).exit_code == 0
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_text().split()) == 1
    assert cli("audit", "keygen", str(path)).exit_code == 1
    assert cli("audit", "keygen", str(path), "--rotate").exit_code == 0
    first, second = path.read_text().split()
    assert len(first) == 64 and first != second


# -- the pure check: every cut of a checkpointed chain is named --------------------------------

RING = Keyring.of(KEY.encode())


def _chain(n: int) -> list[ChainRow]:
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        at = T0 + timedelta(seconds=seq)
        h = keyed_hash(RING.current_key, canonical_record(seq=seq, at=at, actor="u", action="a", entity="e",
                                                          entity_id=None, detail={}), prev)
        rows.append(ChainRow(seq, at, "u", "a", "e", None, {}, prev, h, RING.current))
        prev = h
    return rows


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 30), data=st.data())
def test_any_cut_back_of_a_checkpointed_chain_is_truncated_or_rewound(n, data):
    rows = _chain(n)
    at_cp = data.draw(st.integers(1, n))
    cp = sign_checkpoint(RING, seq=at_cp, hash=rows[at_cp - 1].hash, at=T0, keyed_from=1, prev="")
    assert check_chain(rows, head_seq=n, head_hash=rows[-1].hash, keyring=RING, checkpoints=[cp]).intact
    keep = data.draw(st.integers(0, at_cp - 1))
    cut = rows[:keep]
    head = (keep, cut[-1].hash) if cut else (None, None)
    kinds = {p.kind for p in check_chain(cut, head_seq=head[0], head_hash=head[1], keyring=RING,
                                         checkpoints=[cp]).problems}
    assert "truncated" in kinds
