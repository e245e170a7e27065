"""Settings, read from the environment (prefix ``ARREARS_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARREARS_", env_file=".env", extra="ignore")

    #: Operational store. SQLite file by default; ``postgresql+psycopg://...`` for PostgreSQL.
    database_url: str = "sqlite:///var/arrears.sqlite"
    #: Working folder for generated portfolios, quarantine reports and exports.
    data_dir: Path = Path("var")
    #: The bank's own time zone: business dates are dates in this zone.
    timezone: str = "Asia/Shanghai"
    locale: str = "zh_CN"
    #: Delinquency rules (tolerance, grace, charge-off, buckets). Empty = the packaged defaults.
    rules_file: Path | None = None
    #: Delinquency engine of the cycle: "arrays" (sorted-array scan, the fast default) or "sql"
    #: (the same closed form as DuckDB SQL, the portable formulation).
    batch_engine: Literal["arrays", "sql"] = "arrays"
    #: Threads for the batch engine (0 = all cores).
    batch_threads: int = 0
    #: DuckDB memory limit for the batch engine, e.g. "3GB".
    batch_memory_limit: str = "3GB"
    #: CJK TrueType font for PDF copies (agreements, letters): Debian's fonts-droid-fallback.
    pdf_font: Path = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
