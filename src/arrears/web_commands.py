"""``arrears serve``: the REST API (and later the web UI) under uvicorn."""

from __future__ import annotations

import typer


def serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=1, max=65535, help="port to listen on"),
) -> None:
    """Serve the REST API over the store configured by ARREARS_DATABASE_URL."""
    import uvicorn

    from arrears.app import create_app

    # The client address is read by the application from trusted proxies only (ARREARS_TRUSTED_PROXIES).
    uvicorn.run(create_app(), host=host, port=port, proxy_headers=False)
