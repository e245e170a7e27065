"""Retention settings, read from the environment (prefix ``ARREARS_RETENTION_``) or a ``.env`` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RetentionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARREARS_RETENTION_", env_file=".env", extra="ignore")

    #: The bank's retention schedule (YAML, docs/retention.md). Empty = the shipped
    #: ``arrears/retention/schedule.yaml``.
    file: Path | None = None
    #: Rows erased or anonymised per transaction (each batch commits with its audit record).
    batch_size: int = Field(default=1000, ge=1, le=100_000)
