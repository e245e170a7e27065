"""What every command of the command line needs: the store (migrated to head) and who is acting."""

from __future__ import annotations

import getpass

from sqlalchemy import Engine

from arrears.config import get_settings
from arrears.kit.db import make_engine
from arrears.kit.migrate import upgrade


def store_engine(url: str | None = None) -> Engine:
    """The store named by ``url`` or ``ARREARS_DATABASE_URL``, upgraded to the latest migration."""
    engine = make_engine(url or get_settings().database_url)
    upgrade(engine)
    return engine


def cli_actor() -> str:
    """The audit actor of a command: ``cli:<login name>``."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:  # no login name in some containers
        return "cli"
