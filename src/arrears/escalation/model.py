"""Escalation and end states as pure rules: agencies, their commission tiers and recall rules, and
legal referral decisions. No database, no I/O.

Commission
==========

An agency earns a rate in basis points (1/10,000) of what it collects. The rate is fixed when the
account is placed, by the account's days past due (DPD) on that day: the first tier of the agency
whose ``[min_dpd, max_dpd]`` range holds the DPD. Commission on one collection::

    commission = (amount × rate_bp + 5,000) // 10,000        (integer fen, half-up)

which is the product's one rounding rule (half-up to the fen, :mod:`arrears.kit.money`): 0.5 fen and
above rounds up. As ``rate_bp`` is at most 10,000, the commission never exceeds the amount.

Recall
======

A live placement is recalled on a date when the agency's recall rules say so, checked in this
order (the first that applies is the reason recorded):

1. ``case_<state>``: the case has ended (cured or closed): there is nothing left to collect;
2. ``hold:<kind>``: a hold of a kind the agency's rules list is in force on the date
   (dispute, complaint, deceased, bankruptcy, fraud …);
3. ``paid_in_full``: payments valued from the placement day through the date plus the agency's
   collections reach the placement balance (when the rule is on);
4. ``term_expired``: the date is on or after the term end (placed_on + term_days; when the rule is on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from arrears.cases.model import HOLD_KINDS
from arrears.kit.errors import ArrearsError

PLACEMENT_STATUSES = ("placed", "recalled", "returned")
REFERRAL_STATUSES = ("pending", "proceed", "returned", "withdrawn")
#: A referral in one of these states is live: at most one per case.
LIVE_REFERRAL_STATUSES = ("pending", "proceed")
#: Decision word -> referral status it records.
DECISIONS = {"proceed": "proceed", "return": "returned", "withdraw": "withdrawn"}
#: Referral status -> decisions still allowed on it.
DECISIONS_ALLOWED = {"pending": ("proceed", "return", "withdraw"), "proceed": ("withdraw",),
                     "returned": (), "withdrawn": ()}
#: Decision -> the case state it moves the case to (None: the case stays in legal_review).
DECISION_MOVES: Mapping[str, str | None] = {"proceed": None, "return": "follow_up", "withdraw": "follow_up"}
#: Hold kinds an agency's recall rules may name.
RECALL_HOLD_KINDS = tuple(k for k in HOLD_KINDS if k in ("dispute", "complaint", "deceased", "bankruptcy", "fraud",
                                                         "legal", "hardship"))
RATE_MAX_BP = 10_000


class EscalationError(ArrearsError):
    """A refused escalation step (wrong state, a second charge-off …)."""

    status = 409


@dataclass(frozen=True)
class CommissionTier:
    """Rate ``rate_bp`` for accounts placed with ``min_dpd <= dpd <= max_dpd`` (None = no upper end)."""

    min_dpd: int
    max_dpd: int | None
    rate_bp: int

    def covers(self, dpd: int) -> bool:
        return dpd >= self.min_dpd and (self.max_dpd is None or dpd <= self.max_dpd)


@dataclass(frozen=True)
class RecallRules:
    term_expired: bool = True
    paid_in_full: bool = True
    #: hold kinds that recall the account at once
    holds: tuple[str, ...] = ("dispute", "complaint", "deceased", "bankruptcy", "fraud")


@dataclass(frozen=True)
class Agency:
    code: str
    name: str
    tiers: tuple[CommissionTier, ...]
    term_days: int
    recall: RecallRules = RecallRules()

    def tier_for(self, dpd: int) -> CommissionTier | None:
        """The first tier holding ``dpd`` (None: the agency takes no account at that DPD)."""
        return next((t for t in self.tiers if t.covers(dpd)), None)

    def terms_snapshot(self, dpd: int) -> dict[str, object]:
        """The commission terms as recorded on a placement (JSON-safe)."""
        tier = self.tier_for(dpd)
        return {
            "agency": self.code, "dpd_at_placement": dpd, "rate_bp": tier.rate_bp if tier else None,
            "term_days": self.term_days, "rounding": "half_up",
            "tiers": [{"min_dpd": t.min_dpd, "max_dpd": t.max_dpd, "rate_bp": t.rate_bp} for t in self.tiers],
        }


@dataclass(frozen=True)
class Agencies:
    file: str
    agencies: Mapping[str, Agency]

    def get(self, code: str) -> Agency:
        try:
            return self.agencies[code]
        except KeyError:
            known = ", ".join(self.agencies) or "none"
            raise ArrearsError(f"unknown agency {code!r} in {self.file} (agencies: {known})") from None


def commission(amount: int, rate_bp: int) -> int:
    """Commission in fen on ``amount`` fen at ``rate_bp``: half-up to the fen (see the module docstring)."""
    for name, value in (("amount", amount), ("rate_bp", rate_bp)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ArrearsError(f"{name} must be a whole number >= 0, got {value!r}")
    if rate_bp > RATE_MAX_BP:
        raise ArrearsError(f"rate_bp must be at most {RATE_MAX_BP}, got {rate_bp}")
    return (amount * rate_bp + RATE_MAX_BP // 2) // RATE_MAX_BP


def recall_reason(
    *, rules: RecallRules, on: date, term_end: date, case_status: str, hold_kinds: Iterable[str],
    placement_balance: int, paid_since_placement: int,
) -> str | None:
    """Why a live placement is recalled on ``on`` (None: it stays with the agency). Order: see the
    module docstring."""
    if case_status in ("cured", "closed"):
        return f"case_{case_status}"
    in_force = set(hold_kinds)
    for kind in rules.holds:
        if kind in in_force:
            return f"hold:{kind}"
    if rules.paid_in_full and paid_since_placement >= placement_balance:
        return "paid_in_full"
    if rules.term_expired and on >= term_end:
        return "term_expired"
    return None


def check_decision(referral_status: str, decision: str) -> str:
    """The referral status ``decision`` records, or :class:`EscalationError` if it is not allowed now."""
    if decision not in DECISIONS:
        raise EscalationError(f"unknown decision {decision!r} (decisions: {', '.join(DECISIONS)})")
    if decision not in DECISIONS_ALLOWED[referral_status]:
        allowed = ", ".join(DECISIONS_ALLOWED[referral_status]) or "none"
        raise EscalationError(f"a legal referral that is {referral_status!r} cannot be decided {decision!r} "
                              f"(allowed: {allowed})")
    return DECISIONS[decision]
