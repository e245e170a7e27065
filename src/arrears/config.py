"""Settings, read from the environment (prefix ``ARREARS_``) or a ``.env`` file."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
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
    #: Strategy files (YAML) the administration page lists, validates and activates.
    strategy_dir: Path = Path("strategies")
    #: The champion/challenger experiments file the cycle runs with (``--experiments``): the dashboards'
    #: experiment read-out takes each experiment's champion and arm order from it. Empty = the champion is
    #: the arm with the most accounts (docs/experiments.md).
    experiments_file: Path | None = None
    #: Largest amount (absolute value, in fen) a bank file may carry in any ``_fen`` column: 10^10 fen
    #: (¥100,000,000). A larger cell is quarantined with file, row and field (docs/file-formats.md);
    #: with it the delinquency engines' 64-bit sums cannot overflow (docs/security.md).
    max_amount_fen: int = Field(default=10_000_000_000, gt=0, le=10**15)
    #: Refuse a bank file that comes without a control-total manifest (``<file>.ctl``, docs/file-formats.md).
    ingest_control_required: bool = False
    # -- the cardholder's pages (docs/self-service.md) --
    #: Where customers open their personal links: ``<portal_base_url>/p/<token>`` (keep it short: one SMS).
    portal_base_url: str = "http://127.0.0.1:8000"
    #: The key that signs personal links (hex); empty = ``<data_dir>/portal.key``, made on first use.
    portal_key_file: Path | None = None
    #: The furthest day (from today, in days) a cardholder may promise to pay by on their page.
    portal_promise_max_days: int = Field(default=30, ge=1, le=90)
    #: Call-backs a cardholder books: the length of a window (30 or 60 minutes), how many days ahead
    #: windows are offered, and how many call-backs one owner takes per window (the team's capacity).
    portal_callback_slot_minutes: Literal[30, 60] = 30
    portal_callback_days: int = Field(default=7, ge=1, le=14)
    portal_callbacks_per_slot: int = Field(default=2, ge=1, le=50)
    #: The largest settlement discount (percent of the balance) a cardholder may agree alone on their
    #: page; an option beyond it goes to a team lead's approval. 0: none.
    portal_plan_max_discount: Decimal = Field(default=Decimal(0), ge=0, le=100)
    #: Working days within which a plan the cardholder asked for is approved or refused.
    portal_approval_working_days: int = Field(default=1, ge=0, le=10)
    # -- sign-in (docs/security.md, "Logins, sessions and tokens") --
    #: Reverse proxies whose ``X-Forwarded-For`` is believed: addresses or CIDR blocks, e.g.
    #: ``["10.0.0.5", "10.8.0.0/16"]`` (JSON in the environment). Empty = none: the TCP peer is the client.
    trusted_proxies: list[str] = []
    #: Failed sign-ins allowed within ``login_window_minutes``: per username from one address, per
    #: address over all usernames, and per username over all addresses (that one locks the account).
    login_max_failures_per_pair: int = Field(default=5, ge=1, le=1000)
    login_max_failures_per_address: int = Field(default=30, ge=1, le=100_000)
    login_max_failures_per_username: int = Field(default=50, ge=1, le=100_000)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: argon2id cost of a password hash: passes, memory (KiB) and lanes. The default is RFC 9106's
    #: second recommendation (3 passes, 64 MiB, 4 lanes). The floor is OWASP's lowest listed
    #: configuration (m=7 MiB with t=5; any lower memory is refused). A hash made with other numbers is
    #: re-hashed at the user's next sign-in.
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=65_536, ge=7_168, le=4_194_304)
    password_hash_parallelism: int = Field(default=4, ge=1, le=16)
    #: Delinquency engine of the cycle: "arrays" (sorted-array scan, the fast default) or "sql"
    #: (the same closed form as DuckDB SQL, the portable formulation).
    batch_engine: Literal["arrays", "sql"] = "arrays"
    #: Threads for the batch engine (0 = all cores).
    batch_threads: int = 0
    #: DuckDB memory limit for the batch engine, e.g. "3GB".
    batch_memory_limit: str = "3GB"
    #: CJK TrueType font for PDF copies (agreements, letters): Debian's fonts-droid-fallback.
    pdf_font: Path = Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")

    # -- channels: the outbox worker and its adapters (docs/channels.md) --
    #: SMTP relay for e-mail; empty host = no e-mail adapter (e-mails wait in the outbox).
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "collections@bank.example"
    #: HTTP SMS gateway (POST JSON); empty = no SMS adapter.
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    #: Seconds an SMTP or HTTP call may take before it counts as a transient failure.
    channel_timeout_seconds: float = 10.0
    #: Print-house folder: JSONL batch files and PDF letters; empty = no letter adapter.
    print_dir: Path | None = None
    #: Letters as PDF (CJK font ``pdf_font``) referenced from the print file; False = text in the file.
    letter_pdf: bool = True
    #: Shown in messages: the bank's name (Chinese, English) and the number customers call.
    bank_name: str = "示例银行"
    bank_name_en: str = "Example Bank"
    bank_service_phone: str = "400-000-0000"
    #: A message is dead after this many attempts.
    worker_max_attempts: int = 5
    #: Backoff before retry n: base * 2**(n-1) seconds with jitter, capped at the maximum.
    worker_backoff_seconds: float = 30.0
    worker_backoff_max_seconds: float = 3600.0
    #: How long a claimed message stays ``sending`` before another worker may retry it (same key).
    worker_lease_seconds: float = 300.0

    # -- personal data and compliance overrides (docs/security.md, docs/compliance.md) --
    #: Minutes an approved compliance override may be used (once) to record the contact it approved.
    override_valid_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    #: The compliance pack per product (``accounts.product`` -> pack name, e.g. ``{"card-us": "us-reg-f"}``;
    #: as JSON in ``ARREARS_PRODUCT_PACKS``). A product not listed takes its customer's country's pack
    #: (CN -> ``cn``, US -> ``us-reg-f``); state and city layers follow the customer's jurisdiction
    #: (docs/compliance.md, "Which pack applies").
    product_packs: dict[str, str] = Field(default_factory=dict)

    @field_validator("product_packs")
    @classmethod
    def _shipped_packs(cls, value: dict[str, str]) -> dict[str, str]:
        from arrears.contact.config import PACK_NAMES  # late: the contact package reads these settings

        unknown = sorted(f"{product!r} -> {name!r}" for product, name in value.items() if name not in PACK_NAMES)
        if unknown:
            raise ValueError(f"unknown policy pack for product {', '.join(unknown)}; packs are {', '.join(PACK_NAMES)}")
        return value
    #: Days within which a complaint or dispute is to be dealt with (the regulator's 15 days); older ones
    #: are flagged on the compliance page.
    complaint_sla_days: int = Field(15, ge=1, le=90)
    #: Hours within which a second person reviews a hold an outcome placed; older reviews are flagged.
    hold_review_sla_hours: int = Field(24, ge=1, le=720)
    #: Reveals of personal data (view and dial) one user may make within the window; 0 = no limit.
    reveal_limit: int = Field(60, ge=0)
    #: The window of ``reveal_limit``, in seconds.
    reveal_window_seconds: int = Field(60, ge=1, le=86_400)

    # -- the audit chain's anchor outside the store (docs/security.md, "Anchoring the chain") --
    #: File of audit keys (``arrears audit keygen``), one a line: the first signs new records and
    #: checkpoints (HMAC-SHA256), the others are retired keys that only verify. Keep it off the database
    #: server, readable by the application only. Empty, and no ``audit_key``: records are hashed without
    #: a key and verify says it cannot detect a whole rewrite.
    audit_key_file: Path | None = None
    #: The audit key itself (at least 32 characters), for secret stores that hand out environment
    #: variables; ``audit_key_file`` is preferred. Setting both is refused.
    audit_key: SecretStr | None = None
    #: Append-only file of signed checkpoints (``arrears audit checkpoint``), outside the store;
    #: empty = ``<data_dir>/audit-checkpoints.jsonl``. One file per store.
    audit_checkpoint_file: Path | None = None
    #: How many seconds an audit record's time may lie before its predecessor's (the clocks of several
    #: application hosts) before verify names it ``reordered``.
    audit_clock_skew_seconds: int = 300


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
