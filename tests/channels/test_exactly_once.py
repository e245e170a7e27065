"""Acceptance: killing the worker mid-batch and starting it again sends every message exactly once.

The worker runs as a subprocess (``python -m arrears.channels.commands``) against a store with 200
SMS messages and a local SMS gateway. The gateway kills the worker with SIGKILL from inside a request,
after it has accepted that message and before it answers: the worst moment (delivered, not recorded).
A second worker takes over once the first one's lease has run out, and is stopped with SIGTERM when
everything is sent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arrears.cases.tables import Interaction
from arrears.channels.tables import MessageDelivery, OutboxMessage
from tests.channels.support import Gateway, add_messages, case_with_point, wait_for

MESSAGES = 200
KILL_AT_REQUEST = 75
LEASE_SECONDS = 4


def daytime_zone() -> str:
    """A zone where it is now about 14:00, so the compliance gate's quiet hours never block the test."""
    offset = (14 - datetime.now(UTC).hour + 12) % 24 - 12  # -12..+11
    return "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def statuses(engine) -> dict[str, int]:  # noqa: ANN001
    with Session(engine) as s:
        return dict(s.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())


def start_worker(store_url: str, gateway: Gateway, folder: Path, name: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARREARS_")}
    env |= {
        "ARREARS_DATABASE_URL": store_url, "ARREARS_SMS_GATEWAY_URL": gateway.url,
        "ARREARS_WORKER_LEASE_SECONDS": str(LEASE_SECONDS), "ARREARS_WORKER_BACKOFF_SECONDS": "0.05",
        "ARREARS_WORKER_BACKOFF_MAX_SECONDS": "0.2", "ARREARS_WORKER_MAX_ATTEMPTS": "10",
    }
    out = open(folder / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "arrears.channels.commands", "--batch", "50", "--poll", "0.1"],
                            env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT)


def test_killed_worker_restarted_sends_every_message_exactly_once(engine, store_url: str, tmp_path: Path) -> None:
    case_id, point_id = case_with_point(engine, "ACC-EXACT-1", tz=daytime_zone())
    keys = add_messages(engine, case_id, point_id, MESSAGES, enqueued=datetime.now(UTC))
    gateway = Gateway(delay=0.005, fail_first={k for i, k in enumerate(keys) if i % 17 == 3}).start()
    killed: list[str] = []
    first = start_worker(store_url, gateway, tmp_path, "first")

    def kill_mid_batch(requests: int) -> None:
        if requests == KILL_AT_REQUEST and not killed:
            killed.append(gateway.requests[-1]["key"])
            os.kill(first.pid, signal.SIGKILL)

    gateway.on_request = kill_mid_batch
    try:
        assert first.wait(timeout=120) == -signal.SIGKILL, (tmp_path / "first.log").read_text()
        after_kill = statuses(engine)
        delivered_before = len(gateway.per_key())
        assert 0 < delivered_before < MESSAGES
        assert after_kill.get("sending", 0) > 0  # the batch it was working on
        assert after_kill.get("sent", 0) < delivered_before  # at least the message it died on is not recorded

        second = start_worker(store_url, gateway, tmp_path, "second")
        try:
            assert wait_for(lambda: statuses(engine) == {"sent": MESSAGES}, timeout=120), (
                statuses(engine), (tmp_path / "second.log").read_text())
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0, (tmp_path / "second.log").read_text()
    finally:
        gateway.stop()
        if first.poll() is None:
            first.kill()

    per_key = gateway.per_key()
    assert set(per_key) == set(keys)
    assert set(per_key.values()) == {1}  # delivered exactly once each
    requests = [r["key"] for r in gateway.requests]
    assert requests.count(killed[0]) == 2  # sent again after the crash, deduplicated by its key
    with Session(engine) as s:
        sent_records = dict(s.execute(select(MessageDelivery.message_id, func.count())
                                      .where(MessageDelivery.status == "sent")
                                      .group_by(MessageDelivery.message_id)).all())
        logged = s.execute(select(func.count()).select_from(Interaction)
                           .where(Interaction.outcome == "left_message")).scalar_one()
    assert len(sent_records) == MESSAGES and set(sent_records.values()) == {1}
    assert logged == MESSAGES
    assert "worker stopped" in (tmp_path / "second.log").read_text()
