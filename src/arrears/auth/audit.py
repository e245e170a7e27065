"""The audit chain in the store: appends (:func:`record`) and verification (:func:`verify`).

Services take the caller's session and ``flush()``; the entry point owns the transaction. The pure
rules (canonical form, hashes, what counts as tampering) are in :mod:`arrears.auth.model`.
``record`` and ``verify`` are re-exported by :mod:`arrears.auth.service`, where most modules import them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from arrears.auth.model import GENESIS_HASH, ChainRow, Problem, canonical_record, chain_hash, json_safe, verify_rows
from arrears.auth.tables import AuditChainHead, AuditRecord
from arrears.kit.clock import utc_now


def _lock_head(session: Session) -> AuditChainHead:
    """The chain head, locked for this transaction (created on first use)."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialises appends even while the head row does not exist yet.
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('arrears.audit_chain'))"))
    head = session.scalars(select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()).one_or_none()
    if head is None:
        head = AuditChainHead(id=1, last_seq=0, last_hash=GENESIS_HASH, updated_at=utc_now())
        session.add(head)
        session.flush()
    return head


def record(
    session: Session, *, actor: str, action: str, entity: str, entity_id: str | int | None = None,
    detail: Any = None,
) -> AuditRecord:
    """Append one record to the audit chain (flushed, not committed)."""
    head = _lock_head(session)
    at = utc_now()
    detail = json_safe(detail if detail is not None else {})
    entity_key = None if entity_id is None else str(entity_id)
    seq = head.last_seq + 1
    canonical = canonical_record(seq=seq, at=at, actor=actor, action=action, entity=entity, entity_id=entity_key,
                                 detail=detail)
    digest = chain_hash(canonical, head.last_hash)
    row = AuditRecord(seq=seq, at=at, actor=actor, action=action, entity=entity, entity_id=entity_key, detail=detail,
                      prev_hash=head.last_hash, hash=digest)
    session.add(row)
    head.last_seq, head.last_hash, head.updated_at = seq, digest, at
    session.flush()
    return row


def _rows(session: Session) -> Iterator[ChainRow]:
    stmt = select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=1000)
    for r in session.scalars(stmt):
        yield ChainRow(seq=r.seq, at=r.at, actor=r.actor, action=r.action, entity=r.entity, entity_id=r.entity_id,
                       detail=r.detail, prev_hash=r.prev_hash, hash=r.hash)
        session.expunge(r)


def verify(session: Session) -> list[Problem]:
    """Walk the whole chain; an empty list means it is intact."""
    head = session.get(AuditChainHead, 1)
    return verify_rows(_rows(session), head_seq=head.last_seq if head else None,
                       head_hash=head.last_hash if head else None)
