"""A hold's block is explained in Chinese with the hold's name in Chinese, never its code."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from arrears.contact import ContactCandidate, Hold, gate, load_default_pack
from arrears.contact.policy import HOLD_KINDS


@pytest.mark.parametrize("kind", HOLD_KINDS)
def test_a_holds_block_names_the_hold_in_chinese(kind: str) -> None:
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, inside every pack's hours
    c = ContactCandidate(at=at, channel="call", party="debtor", purpose="collection", tz="Asia/Shanghai",
                         account_id="A1", country="CN", holds=(Hold(kind, at.replace(hour=0), None),), recorded=True)
    decision = gate(c, load_default_pack("cn"))
    (block,) = [b for b in decision.blocks if kind in b.message]
    assert "停催" in block.message_zh and not re.search(r"[A-Za-z]", block.message_zh), block.message_zh
