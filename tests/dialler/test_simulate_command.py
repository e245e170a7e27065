"""``arrears dialler simulate`` serves the local dialler as its own process: call requests need the token,
and one is answered with the dialler's id of the call (its events are posted back by the tests that dial)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_command_serves_the_dialler() -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "arrears.cli", "dialler", "simulate", "--port", str(port),
                             "--api-key", "k", "--secret", "s", "--disposition", "busy"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        url = f"http://127.0.0.1:{port}/calls"
        request = {"call_id": "c" * 32, "agent": "agent1", "destination": "13800000000", "case_ref": "1",
                   "callback_url": "http://127.0.0.1:9/dialler/events"}
        deadline = time.monotonic() + 30
        while True:
            try:
                refused = httpx.post(url, json=request, timeout=5)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and proc.poll() is None, "the simulator did not start"
                time.sleep(0.1)
        assert refused.status_code == 401
        taken = httpx.post(url, json=request, headers={"Authorization": "Bearer k"}, timeout=5)
        again = httpx.post(url, json=request, headers={"Authorization": "Bearer k"}, timeout=5)
        assert taken.status_code == 201 and taken.json()["provider_call_id"].startswith("SIM-")
        assert again.json() == taken.json()  # the same call_id does not dial twice
    finally:
        proc.terminate()
        proc.wait(timeout=10)
