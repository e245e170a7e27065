"""Which strategy versions are active: one row per strategy name (``active_strategies``).

Strategy files live in a folder (``ARREARS_STRATEGY_DIR``, default ``strategies/``). Activating a
file validates it whole (:func:`arrears.strategy.config.load_strategy`) and records its name,
version, file name and SHA-256 as the strategy's active version, replacing the version that was
active before; deactivating removes the row. Both are audited (``strategy.activate``,
``strategy.deactivate``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from arrears.auth.service import record
from arrears.kit.clock import utc_now
from arrears.kit.db import Base, BigId, UTCDateTime
from arrears.kit.errors import NotFound
from arrears.strategy.config import load_strategy
from arrears.strategy.model import Strategy


class ActiveStrategy(Base):
    """The active version of one strategy, and the file it was read from."""

    __tablename__ = "active_strategies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    strategy: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    #: the file's name within the strategy folder, and the SHA-256 of its bytes when activated
    file: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    activated_by: Mapped[str] = mapped_column(String(64))
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


@dataclass(frozen=True)
class StrategyFile:
    name: str
    path: Path
    sha256: str


def strategy_files(folder: Path) -> list[StrategyFile]:
    """The ``*.yaml`` / ``*.yml`` files of the folder, by name (none when the folder does not exist)."""
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    return [StrategyFile(p.name, p, hashlib.sha256(p.read_bytes()).hexdigest()) for p in files]


def strategy_file(folder: Path, name: str) -> StrategyFile:
    """One file of the folder by its name (never a path outside it)."""
    for f in strategy_files(folder):
        if f.name == name:
            return f
    raise NotFound(f"no strategy file {name!r}")


def active(session: Session) -> list[ActiveStrategy]:
    return list(session.scalars(select(ActiveStrategy).order_by(ActiveStrategy.strategy)))


def activate(session: Session, *, folder: Path, name: str, actor: str) -> tuple[ActiveStrategy, Strategy]:
    """Validate the file and make its version the strategy's active one (audited)."""
    found = strategy_file(folder, name)
    strategy = load_strategy(found.path)  # ConfigError naming line and field when invalid
    row = session.scalars(select(ActiveStrategy).where(ActiveStrategy.strategy == strategy.name)).one_or_none()
    before = None if row is None else {"version": row.version, "file": row.file}
    if row is None:
        row = ActiveStrategy(strategy=strategy.name)
        session.add(row)
    row.version, row.file, row.sha256 = strategy.version, found.name, found.sha256
    row.activated_by, row.activated_at = actor[:64], utc_now()
    session.flush()
    record(session, actor=actor, action="strategy.activate", entity="strategy", entity_id=strategy.name,
           detail={"version": strategy.version, "file": found.name, "sha256": found.sha256, "before": before})
    return row, strategy


def deactivate(session: Session, *, strategy: str, actor: str) -> None:
    row = session.scalars(select(ActiveStrategy).where(ActiveStrategy.strategy == strategy)).one_or_none()
    if row is None:
        raise NotFound(f"strategy {strategy!r} is not active")
    record(session, actor=actor, action="strategy.deactivate", entity="strategy", entity_id=strategy,
           detail={"version": row.version, "file": row.file})
    session.delete(row)
    session.flush()


__all__ = ["ActiveStrategy", "StrategyFile", "activate", "active", "deactivate", "strategy_file", "strategy_files"]
