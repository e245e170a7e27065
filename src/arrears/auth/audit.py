"""The audit chain in the store: appends (:func:`record`), verification (:func:`verify_report`) and
signed checkpoints kept outside the store (:func:`write_checkpoint`).

Services take the caller's session and ``flush()``; the entry point owns the transaction
(:func:`write_checkpoint` is an entry point: it commits, then appends to the checkpoint file).
The pure rules (canonical form, hashes, what counts as tampering) are in :mod:`arrears.auth.model`.
``record`` and ``verify`` are re-exported by :mod:`arrears.auth.service`, where most modules import them.

Threat model and the operator's part: docs/security.md, "Anchoring the chain outside the store".
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from arrears.auth.model import (
    GENESIS_HASH,
    MIN_KEY_LENGTH,
    ChainReport,
    ChainRow,
    Checkpoint,
    Keyring,
    Problem,
    canonical_record,
    chain_hash,
    check_chain,
    json_safe,
    keyed_hash,
    parse_checkpoints,
    sign_checkpoint,
)
from arrears.auth.tables import AuditChainHead, AuditRecord
from arrears.config import Settings, get_settings
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError


class AuditKeyError(ArrearsError):
    """The audit key is misconfigured (unreadable, too short, set twice): nothing is written."""

    status = 500


class AuditChainBroken(ArrearsError):
    """A checkpoint was refused: the chain since the last checkpoint is not intact."""

    status = 409

    def __init__(self, message: str, *, problems: list[Problem]) -> None:
        super().__init__(message)
        self.problems = problems


# --------------------------------------------------------------------------------------------
# Keys


_keyring_cache: dict[tuple[Any, ...], Keyring] = {}


def _key_file_lines(path: Path) -> list[bytes]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise AuditKeyError(f"audit key file {path}: cannot be read ({exc.strerror or exc})") from None
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith(b"#")]
    if not keys:
        raise AuditKeyError(f"audit key file {path}: holds no key")
    for number, key in enumerate(keys, start=1):
        if len(key) < MIN_KEY_LENGTH:
            raise AuditKeyError(f"audit key file {path}: key {number} is {len(key)} characters long; at least "
                                f"{MIN_KEY_LENGTH} are needed (arrears audit keygen writes one)")
    return keys


def keyring(settings: Settings | None = None) -> Keyring | None:
    """The configured audit keys (``ARREARS_AUDIT_KEY_FILE`` or ``ARREARS_AUDIT_KEY``), or None.

    Read once per file version (path and modification time), so appends cost no file read.
    """
    settings = settings or get_settings()
    path, secret = settings.audit_key_file, settings.audit_key
    if path is not None and secret is not None:
        raise AuditKeyError("set one of ARREARS_AUDIT_KEY_FILE and ARREARS_AUDIT_KEY, not both")
    if path is None and secret is None:
        return None
    if path is not None:
        try:
            stamp: Any = path.stat().st_mtime_ns
        except OSError as exc:
            raise AuditKeyError(f"audit key file {path}: cannot be read ({exc.strerror or exc})") from None
        cache_key: tuple[Any, ...] = ("file", str(path), stamp)
    else:
        cache_key = ("env", secret.get_secret_value())  # type: ignore[union-attr]
    ring = _keyring_cache.get(cache_key)
    if ring is None:
        if path is not None:
            ring = Keyring.of(*_key_file_lines(path))
        else:
            value = secret.get_secret_value().strip().encode()  # type: ignore[union-attr]
            if len(value) < MIN_KEY_LENGTH:
                raise AuditKeyError(f"ARREARS_AUDIT_KEY is {len(value)} characters long; at least {MIN_KEY_LENGTH} "
                                    "are needed")
            ring = Keyring.of(value)
        _keyring_cache.clear()
        _keyring_cache[cache_key] = ring
    return ring


def new_key() -> str:
    """A fresh random audit key: 256 bits as 64 hex digits."""
    return secrets.token_hex(32)


def write_key_file(path: Path, *, rotate: bool = False) -> str:
    """Create the key file ``path`` (mode 0600) with a new key and return the new key's id.

    ``rotate``: the file exists; the new key goes first (it signs from now on) and the old keys stay
    below it, so records and checkpoints they signed still verify.
    """
    from arrears.auth.model import key_id

    key = new_key()
    if rotate:
        old = _key_file_lines(path)
        content = "\n".join([key, *(k.decode() for k in old)]) + "\n"
        tmp = path.with_name(path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    else:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise AuditKeyError(f"audit key file {path} exists; --rotate adds a new key in front of the old ones") \
                from None
        except OSError as exc:
            raise AuditKeyError(f"audit key file {path}: cannot be created ({exc.strerror or exc})") from None
        with os.fdopen(fd, "w") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
    return key_id(key.encode())


# --------------------------------------------------------------------------------------------
# Appends


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
    """Append one record to the audit chain (flushed, not committed).

    With an audit key configured its hash is the HMAC of the key (``key_id`` names it); without
    one, plain sha256. A misconfigured key raises :class:`AuditKeyError` and nothing is written.
    """
    ring = keyring()
    head = _lock_head(session)
    at = utc_now()
    detail = json_safe(detail if detail is not None else {})
    entity_key = None if entity_id is None else str(entity_id)
    seq = head.last_seq + 1
    canonical = canonical_record(seq=seq, at=at, actor=actor, action=action, entity=entity, entity_id=entity_key,
                                 detail=detail)
    if ring is None:
        digest, kid = chain_hash(canonical, head.last_hash), None
    else:
        digest, kid = keyed_hash(ring.current_key, canonical, head.last_hash), ring.current
    row = AuditRecord(seq=seq, at=at, actor=actor, action=action, entity=entity, entity_id=entity_key, detail=detail,
                      prev_hash=head.last_hash, hash=digest, key_id=kid)
    session.add(row)
    head.last_seq, head.last_hash, head.updated_at = seq, digest, at
    session.flush()
    return row


# --------------------------------------------------------------------------------------------
# Verification


def _rows(session: Session, *, from_seq: int = 0) -> Iterator[ChainRow]:
    stmt = (select(AuditRecord).where(AuditRecord.seq >= from_seq).order_by(AuditRecord.seq)
            .execution_options(yield_per=1000))
    for r in session.scalars(stmt):
        yield ChainRow(seq=r.seq, at=r.at, actor=r.actor, action=r.action, entity=r.entity, entity_id=r.entity_id,
                       detail=r.detail, prev_hash=r.prev_hash, hash=r.hash, key_id=r.key_id)
        session.expunge(r)


def checkpoint_file(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.audit_checkpoint_file or settings.data_dir / "audit-checkpoints.jsonl"


def read_checkpoints(path: Path, ring: Keyring) -> tuple[list[Checkpoint], list[Problem]]:
    """The genuine checkpoints of the file and the lines that are not (a missing file has none)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            return parse_checkpoints(f, ring, source=str(path))
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [Problem(0, "bad_checkpoint", f"{path}: cannot be read ({exc.strerror or exc})")]


def verify_report(session: Session, *, settings: Settings | None = None) -> ChainReport:
    """Walk the whole chain against the audit key and the signed checkpoints; see :func:`check_chain`.

    ``notes`` say plainly what could not be checked (no key, no checkpoint yet, records after the
    last checkpoint).
    """
    settings = settings or get_settings()
    ring = keyring(settings)
    path = checkpoint_file(settings)
    cps: list[Checkpoint] = []
    file_problems: list[Problem] = []
    if ring is not None:
        cps, file_problems = read_checkpoints(path, ring)
    head = session.get(AuditChainHead, 1)
    report = check_chain(_rows(session), head_seq=head.last_seq if head else None,
                         head_hash=head.last_hash if head else None, keyring=ring, checkpoints=cps,
                         clock_skew=timedelta(seconds=settings.audit_clock_skew_seconds))
    report.problems[:0] = file_problems
    if ring is None:
        report.notes.append(
            "No audit key is configured (ARREARS_AUDIT_KEY_FILE or ARREARS_AUDIT_KEY): the chain was checked "
            "against itself only. Someone with write access to the store can rewrite it whole, or cut its end, "
            "without this check noticing.")
        if path.exists():
            report.notes.append(f"The checkpoints in {path} cannot be checked without the key.")
        return report
    latest = report.latest_checkpoint
    if latest is None:
        report.notes.append(
            f"No signed checkpoint in {path} yet: records deleted from the end of the chain, or the whole chain, "
            "cannot be noticed. Run `arrears audit checkpoint` (and from cron).")
        if report.unsigned:
            report.notes.append(f"{report.unsigned:,} record(s) written before the audit key (plain sha256) are not "
                                "anchored by a checkpoint yet.")
    elif report.last_seq > latest.seq:
        report.notes.append(
            f"Records after the last checkpoint (seq {latest.seq + 1}–{report.last_seq}) are protected by the key "
            "but not anchored: deleting them from the end would not be noticed until they are checkpointed.")
    return report


def verify(session: Session) -> list[Problem]:
    """Walk the whole chain; an empty list means it is intact (see :func:`verify_report`)."""
    return verify_report(session).problems


# --------------------------------------------------------------------------------------------
# Checkpoints


def write_checkpoint(engine: Engine, *, actor: str, settings: Settings | None = None) -> Checkpoint:
    """Sign the chain's current end and append it to the checkpoint file. Entry point: commits.

    Appends an ``audit.checkpoint`` record (holding the chain's lock), checks the chain from the
    last checkpoint to that record (links, keys, times, the last checkpoint's hash), commits, then
    appends the signed line and syncs the file. Refuses (:class:`AuditChainBroken`, nothing written)
    when the chain since the last checkpoint, or the checkpoint file, is not intact. One checkpoint
    at a time: the file is locked throughout.
    """
    settings = settings or get_settings()
    ring = keyring(settings)
    if ring is None:
        raise AuditKeyError("a checkpoint must be signed: configure ARREARS_AUDIT_KEY_FILE (arrears audit keygen) "
                            "or ARREARS_AUDIT_KEY")
    path = checkpoint_file(settings)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    except OSError as exc:
        raise AuditKeyError(f"checkpoint file {path}: cannot be opened ({exc.strerror or exc})") from None
    with os.fdopen(fd, "r+", encoding="utf-8") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        f.seek(0)
        cps, problems = parse_checkpoints(f, ring, source=str(path))
        if problems:
            raise AuditChainBroken(f"checkpoint file {path} is not intact: nothing written", problems=problems)
        latest = max(cps, key=lambda c: c.seq) if cps else None
        last_line = cps[-1] if cps else None
        with transaction(engine) as session:
            row = record(session, actor=actor, action="audit.checkpoint", entity="audit_chain", entity_id=None,
                         detail={"file": str(path), "after_seq": latest.seq if latest else None})
            report = check_chain(_rows(session, from_seq=latest.seq if latest else 0), head_seq=row.seq,
                                 head_hash=row.hash, keyring=ring, checkpoints=[latest] if latest else [],
                                 clock_skew=timedelta(seconds=settings.audit_clock_skew_seconds), start=latest)
            if report.problems:
                raise AuditChainBroken(
                    f"the audit chain since {'seq ' + str(latest.seq) if latest else 'its start'} is not intact: "
                    "no checkpoint written", problems=report.problems)
            keyed_from = latest.keyed_from if latest and latest.keyed_from is not None else report.first_signed_seq
            cp = sign_checkpoint(ring, seq=row.seq, hash=row.hash, at=utc_now(), keyed_from=keyed_from,
                                 prev=last_line.mac if last_line else "")
        f.seek(0, os.SEEK_END)
        f.write(cp.line() + "\n")
        f.flush()
        os.fsync(f.fileno())
    return cp


def checkpoint_if_configured(engine: Engine, *, actor: str) -> Checkpoint | None:
    """A checkpoint when an audit key is configured (the end of the daily cycle); None otherwise."""
    if keyring() is None:
        return None
    return write_checkpoint(engine, actor=actor)
