"""Users, teams, login tokens, login attempts and the hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arrears.auth.model import ROLES
from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime, in_check

TOKEN_KINDS = ("session", "api")
#: ``pending``: reserved, its password being checked (arrears.auth.service.login); ``locked``: refused by the throttle.
LOGIN_OUTCOMES = ("ok", "bad_password", "unknown_user", "locked", "inactive", "pending")


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    users: Mapped[list[User]] = relationship(back_populates="team", lazy="raise")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(in_check("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    #: argon2id, PHC string format
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    #: most cases the user may hold from the work queue at once
    capacity: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: set when too many logins failed; the account refuses logins until then
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    team: Mapped[Team | None] = relationship(back_populates="users", lazy="raise")
    tokens: Mapped[list[AuthToken]] = relationship(back_populates="user", lazy="raise")


class AuthToken(Base):
    """A web session or an API bearer token. Only the sha256 of the token is stored."""

    __tablename__ = "auth_tokens"
    __table_args__ = (CheckConstraint(in_check("kind", TOKEN_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    #: sha256 hex of the token; the token itself is shown once and never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens", lazy="raise")


class LoginAttempt(Base):
    """Every login attempt, kept for throttling and for the record."""

    __tablename__ = "login_attempts"
    __table_args__ = (CheckConstraint(in_check("outcome", LOGIN_OUTCOMES), name="outcome"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    outcome: Mapped[str] = mapped_column(String(16))
    remote: Mapped[str | None] = mapped_column(String(64))


Index("ix_login_attempts_username_at", LoginAttempt.username, LoginAttempt.at)
Index("ix_login_attempts_remote_at", LoginAttempt.remote, LoginAttempt.at)


class AuditRecord(Base):
    """One entry of the append-only audit log.

    ``hash`` = HMAC-SHA256 with the audit key named by ``key_id`` (plain sha256 when ``key_id`` is NULL)
    over prev_hash + canonical form of the other fields; see :func:`arrears.auth.model.canonical_record`.
    The database refuses UPDATE and DELETE.
    """

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[Any] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: id of the audit key whose HMAC ``hash`` is (:func:`arrears.auth.model.key_id`); NULL: plain sha256,
    #: written without a key (docs/security.md, "Anchoring the chain")
    key_id: Mapped[str | None] = mapped_column(String(16))


Index("ix_audit_records_entity", AuditRecord.entity, AuditRecord.entity_id)
#: A user's recent records of one action (the per-user reveal limit counts ``pii.reveal``).
Index("ix_audit_records_actor_action_at", AuditRecord.actor, AuditRecord.action, AuditRecord.at)


class AuditChainHead(Base):
    """The single row saying where the chain ends. Appends lock it, so the chain never forks."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
