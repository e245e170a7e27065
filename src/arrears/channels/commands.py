"""``arrears worker``: deliver the outbox through the adapters the settings configure.

Also runnable as ``python -m arrears.channels.commands`` (the same options).
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

from arrears.channels.adapters import Adapter, HttpSmsAdapter, PdfLetterAdapter, PrintFileAdapter, SmtpAdapter
from arrears.config import Settings, get_settings

console = Console()


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    """channel → adapter, for each channel the settings configure (others wait in the outbox)."""
    adapters: dict[str, Adapter] = {}
    if settings.smtp_host:
        adapters["email"] = SmtpAdapter(
            settings.smtp_host, settings.smtp_port, sender=settings.smtp_from, starttls=settings.smtp_starttls,
            username=settings.smtp_username, password=settings.smtp_password,
            timeout=settings.channel_timeout_seconds)
    if settings.sms_gateway_url:
        adapters["sms"] = HttpSmsAdapter(settings.sms_gateway_url, token=settings.sms_gateway_token,
                                         timeout=settings.channel_timeout_seconds)
    if settings.print_dir is not None:
        adapters["letter"] = (PdfLetterAdapter(settings.print_dir, font=settings.pdf_font) if settings.letter_pdf
                              else PrintFileAdapter(settings.print_dir))
    return adapters


def worker(
    once: Annotated[bool, typer.Option("--once", help="Deliver what is due now, then stop.")] = False,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Messages claimed at a time.")] = 100,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between looks at the outbox when idle.")] = 5.0,
) -> None:
    """Deliver outbox messages (SMS, e-mail, letters) with retries; SIGTERM or Ctrl-C finishes the
    current message and stops."""
    from arrears.channels.worker import run_worker
    from arrears.kit.db import make_engine
    from arrears.kit.migrate import upgrade

    settings = get_settings()
    adapters = build_adapters(settings)
    if not adapters:
        console.print("[red]error:[/red] no channel is configured: set ARREARS_SMS_GATEWAY_URL, "
                      "ARREARS_SMTP_HOST or ARREARS_PRINT_DIR")
        raise typer.Exit(1)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        stats = run_worker(engine, adapters=adapters, batch=batch, once=once, poll=poll, settings=settings,
                           stop=stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
    console.print(f"worker stopped ({', '.join(sorted(adapters))}): {stats.sent} sent, {stats.failed} to retry, "
                  f"{stats.dead} dead, {stats.blocked} held back by the gate, {stats.released} given back")


app = typer.Typer(add_completion=False)
app.command()(worker)

if __name__ == "__main__":  # pragma: no cover
    app()
