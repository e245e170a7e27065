"""A local dialler that speaks the HTTP contract of docs/dialler.md: the test double of a real one.

It accepts ``POST /calls`` (bearer token required), answers a provider call id, and then posts the
call's signed events to the request's ``callback_url``, as a contact centre would: ``ringing``, then
``answered`` and ``ended`` — or ``ended`` with ``no_answer``, ``busy``, ``failed`` or ``voicemail``,
as :attr:`DiallerSimulator.disposition` says. Nothing is dialled. Run it on its own::

    python -m arrears.dialler.simulate --port 8765 --api-key KEY --secret SECRET

and point arrears at it (``ARREARS_DIALLER_URL=http://127.0.0.1:8765``, the same key and secret).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from arrears.dialler.model import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


class DiallerSimulator:
    """The simulator, served on ``127.0.0.1:port`` (0: any free port) from :meth:`start` to :meth:`stop`.

    ``requests``: every call request accepted (its JSON), ``delivered``: (event, HTTP status) of every
    event posted back. With ``auto`` off, events are posted only by :meth:`post_event`."""

    def __init__(self, *, api_key: str, secret: str, port: int = 0, disposition: str = "answered",
                 duration_seconds: int = 42, auto: bool = True) -> None:
        self.api_key, self.secret, self.disposition = api_key, secret, disposition
        self.duration_seconds, self.auto = duration_seconds, auto
        self.requests: list[dict[str, Any]] = []
        self.delivered: list[tuple[dict[str, Any], int]] = []
        self._calls: dict[str, str] = {}  # our call id → provider call id (idempotency)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> DiallerSimulator:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.wait()

    def wait(self, timeout: float = 10.0) -> None:
        """Until every event posted so far has been delivered."""
        for thread in list(self._threads):
            thread.join(timeout)

    def signed(self, event: dict[str, Any], *, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers of ``event`` signed with the simulator's secret (now, or at ``timestamp``)."""
        body = json.dumps(event).encode()
        stamp = int(time.time()) if timestamp is None else timestamp
        return body, {"Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp),
                      SIGNATURE_HEADER: sign(self.secret, stamp, body)}

    def post_event(self, callback_url: str, event: dict[str, Any]) -> int:
        body, headers = self.signed(event)
        status = httpx.post(callback_url, content=body, headers=headers, timeout=10.0).status_code
        with self._lock:
            self.delivered.append((event, status))
        return status

    def events_for(self, call_id: str, provider_call_id: str, disposition: str) -> list[dict[str, Any]]:
        """The events of one call ending with ``disposition``."""
        def event(kind: str, **more: Any) -> dict[str, Any]:
            return {"event_id": uuid.uuid4().hex, "call_id": call_id, "provider_call_id": provider_call_id,
                    "type": kind, "occurred_at": datetime.now(UTC).isoformat(), **more}

        talked = disposition in ("answered", "voicemail")
        out = [event("ringing")]
        if talked:
            out.append(event("answered"))
        out.append(event("ended", disposition=disposition, duration_seconds=self.duration_seconds if talked else 0,
                         recording_ref=f"REC-{provider_call_id}" if talked else None))
        return out

    def _play(self, callback_url: str, events: list[dict[str, Any]]) -> None:
        for event in events:
            # retried as a dialler does, until a 2xx: the first event may come before the request that
            # originated the call has committed it (404), as with a real dialler
            for attempt in range(8):
                try:
                    if self.post_event(callback_url, event) < 300:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1 * 2**attempt)

    def _originate(self, request: dict[str, Any]) -> str:
        with self._lock:
            known = self._calls.get(request["call_id"])
            if known is not None:
                return known
            provider_call_id = f"SIM-{uuid.uuid4().hex[:12]}"
            self._calls[request["call_id"]] = provider_call_id
            self.requests.append(request)
        if self.auto:
            events = self.events_for(request["call_id"], provider_call_id, self.disposition)
            thread = threading.Thread(target=self._play, args=(request["callback_url"], events), daemon=True)
            self._threads.append(thread)
            thread.start()
        return provider_call_id

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                if self.path.rstrip("/") != "/calls":
                    return self._answer(404, {"error": "no such path"})
                if self.headers.get("Authorization") != f"Bearer {sim.api_key}":
                    return self._answer(401, {"error": "bad token"})
                try:
                    request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                    needed = ("call_id", "agent", "destination", "case_ref", "callback_url")
                    if not all(isinstance(request.get(k), str) and request[k] for k in needed):
                        raise ValueError("missing field")
                except ValueError:
                    return self._answer(400, {"error": "call_id, agent, destination, case_ref, callback_url"})
                self._answer(201, {"provider_call_id": sim._originate(request)})

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m arrears.dialler.simulate",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--disposition", default="answered",
                        choices=("answered", "no_answer", "busy", "failed", "voicemail"))
    args = parser.parse_args(argv)
    sim = DiallerSimulator(api_key=args.api_key, secret=args.secret, port=args.port,
                           disposition=args.disposition).start()
    print(f"dialler simulator on {sim.url} (every call ends: {args.disposition}); Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
