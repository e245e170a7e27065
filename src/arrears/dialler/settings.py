"""Dialler settings, read from the environment (prefix ``ARREARS_DIALLER_``) or a ``.env`` file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from arrears.dialler.provider import Dialler, HttpDialler


class DiallerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARREARS_DIALLER_", env_file=".env", extra="ignore")

    #: The dialler's API (``POST {url}/calls``). Empty = no dialler: the case page offers a ``tel:``
    #: link instead, behind the same gate.
    url: str | None = None
    #: The bearer token the adapter sends with each call request.
    api_key: str = ""
    #: The shared secret the dialler signs its events with (HMAC-SHA256). Empty = events are refused.
    events_secret: str = ""
    #: Where the dialler POSTs its events (must reach this server).
    events_url: str = "http://127.0.0.1:8000/dialler/events"
    #: An event signed further than this from our clock is refused (a replay, or a clock adrift).
    replay_window_seconds: int = Field(default=300, ge=10, le=3600)
    #: How long to wait for the dialler's answer to a call request.
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


@dataclass(frozen=True)
class Dialling:
    """What the application dials with: the adapter (None: ``tel:`` links) and the settings."""

    dialler: Dialler | None
    settings: DiallerSettings


def dialling_of(state: Any) -> Dialling:
    """The application's dialling (``app.state.dialling``), built from the settings on first use."""
    found = getattr(state, "dialling", None)
    if isinstance(found, Dialling):
        return found
    settings = DiallerSettings()
    dialler = (HttpDialler(settings.url, api_key=settings.api_key, timeout=settings.timeout_seconds)
               if settings.url else None)
    made = Dialling(dialler, settings)
    state.dialling = made
    return made
