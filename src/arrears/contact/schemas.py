"""Request and response bodies of the compliance gate's endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from arrears.cases.schemas import MAX_INT, Moment, Reason, Text, _In
from arrears.contact.policy import CHANNELS, PARTIES, PURPOSES

Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Party = Literal[PARTIES]  # type: ignore[valid-type]
Purpose = Literal[PURPOSES]  # type: ignore[valid-type]
RuleId = Text(64, 1)


class BlockOut(BaseModel):
    rule_id: str
    kind: str
    source: str = Field(description="the law, regulation or bank policy the rule comes from")
    message: str = Field(description="why, in English")
    message_zh: str = Field(description="why, in Chinese (zh_CN)")
    next_allowed_at: datetime | None = Field(description="when this rule alone stops blocking; null: not by waiting")
    fact: str | None = Field(None, description="the check's parameter stating the content fact this rule needs "
                                               "(e.g. voicemail_limited, collector_disclosure); null: not a content fact")


#: The content fact (the check's parameter) each content rule kind reads: a block of that kind names it.
CONTENT_FACT_OF_KIND: dict[str, str] = {
    "recording": "has_recording", "limited_content_voicemail": "voicemail_limited",
    "opt_out_notice": "opt_out_notice", "collector_disclosure": "collector_disclosure",
    "cease_communication": "cease_exception", "envelope": "letter_format, envelope_text",
    "time_barred": "threatens_suit",
}


class OverrideOut(BaseModel):
    rule_id: str
    reason: str
    approver: str
    approver_role: str
    applied: bool
    refused_because: str | None = None


class LayerOut(BaseModel):
    """A state or city layer merged into the pack (docs/compliance.md, "Which pack applies")."""

    pack: str
    version: str


class Verdict(BaseModel):
    """The gate's answer for one proposed contact."""

    decision_id: int | None = Field(description="the compliance-log row (null: allowed and not logged)")
    case_id: int
    at: datetime
    channel: str
    party: str
    purpose: str
    pack: str
    pack_version: str
    layers: list[LayerOut] = Field(default_factory=list,
                                   description="the state/city layers on top of the pack (strictest wins)")
    allowed: bool
    blocks: list[BlockOut] = Field(description="rules still blocking (empty when allowed)")
    overridden: list[BlockOut] = Field(description="blocks lifted by an approved override")
    overrides: list[OverrideOut]
    next_allowed_at: datetime | None = Field(
        description="the contact's own time when allowed; else the earliest time every rule passes; "
                    "null when waiting never clears it")


class OverrideCreate(_In):
    rule_id: RuleId = Field(description="the pack's rule to lift, e.g. hold_hardship")  # type: ignore[valid-type]
    reason: Reason = Field(description="why the exception is justified")  # type: ignore[valid-type]
    channel: Channel
    party: Party
    purpose: Purpose
    at: Moment | None = Field(None, description="the contact's time (default: now)")
    contact_point_id: int | None = Field(None, ge=1, le=MAX_INT, strict=True)
    requested_by: Text(64, 1) | None = Field(  # type: ignore[valid-type]
        None, description="username of the person who will make the contact; must not be the approver")


class DecisionOut(BaseModel):
    id: int
    at: datetime
    case_id: int | None
    account_id: int | None
    channel: str
    party: str
    purpose: str
    pack: str
    pack_version: str
    allowed: bool
    blocks: list[dict[str, object]]
    next_allowed_at: datetime | None
    overrides: list[dict[str, object]]
    actor: str
    source: str
    created_at: datetime
    layers: list[dict[str, object]] = Field(default_factory=list)


class DecisionPage(BaseModel):
    items: list[DecisionOut]
    total: int
    limit: int
    offset: int
