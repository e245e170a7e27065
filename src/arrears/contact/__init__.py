"""Contact: the compliance gate every outbound contact passes, and the policy packs it applies.

``from arrears.contact import gate, load_default_pack, ContactCandidate``; see ``docs/compliance.md``.
"""

from arrears.contact.config import DEFAULT_PACK, PACK_NAMES, default_pack_path, load_default_pack, load_pack
from arrears.contact.policy import (
    CHANNELS,
    HOLD_KINDS,
    PARTIES,
    PURPOSES,
    Appointment,
    Attempt,
    Block,
    ContactCandidate,
    Decision,
    Hold,
    Override,
    PolicyPack,
    Rule,
    gate,
)

__all__ = [
    "CHANNELS", "DEFAULT_PACK", "HOLD_KINDS", "PACK_NAMES", "PARTIES", "PURPOSES", "Appointment", "Attempt",
    "Block", "ContactCandidate", "Decision", "Hold", "Override", "PolicyPack", "Rule", "default_pack_path",
    "gate", "load_default_pack", "load_pack",
]
