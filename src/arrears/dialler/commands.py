"""``arrears dialler simulate``: the local dialler of docs/dialler.md, for trying the desk without one."""

from __future__ import annotations

from typing import Annotated

import typer

dialler_app = typer.Typer(help="Dialling from the case (docs/dialler.md).", no_args_is_help=True)


@dialler_app.command("simulate")
def simulate_command(
    api_key: Annotated[str, typer.Option(help="The bearer token call requests must carry "
                                              "(ARREARS_DIALLER_API_KEY).")],
    secret: Annotated[str, typer.Option(help="The HMAC secret events are signed with "
                                             "(ARREARS_DIALLER_EVENTS_SECRET).")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8765,
    disposition: Annotated[str, typer.Option(help="How every call ends: answered, no_answer, busy, failed or "
                                                  "voicemail.")] = "answered",
) -> None:
    """Serve a local dialler: it accepts call requests and posts each call's signed events back to arrears.
    Nothing is dialled. Point arrears at it with ARREARS_DIALLER_URL=http://127.0.0.1:<port>."""
    from arrears.dialler.simulate import main

    main(["--port", str(port), "--api-key", api_key, "--secret", secret, "--disposition", disposition])
