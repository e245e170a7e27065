"""The compliance gate: every outbound contact is checked against one policy pack before it happens.

Pure domain core: frozen dataclasses and functions, no database, no I/O (public holidays come from
the ``holidays`` package, an in-memory calendar). A pack is a versioned list of rules loaded from YAML
(:mod:`arrears.contact.config`); each rule is an independent predicate over one candidate contact at
one instant, so that tests can re-implement every rule plainly.

Time: the candidate's ``at`` and every timestamp are timezone-aware; rules that speak of hours or days
read the customer's local wall clock in the customer's IANA zone (``zoneinfo``), so daylight-saving
changes and customers in another zone than the bank are handled by construction.

``gate(candidate, pack, overrides)`` returns a :class:`Decision`: allowed or blocked, each block with
its rule, source, message and the earliest instant that rule would stop blocking, and the earliest
instant at which every rule passes (found by iterating to a fixpoint, see :func:`gate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as _holidays

CHANNELS: tuple[str, ...] = ("call", "sms", "email", "letter", "visit", "app")
PARTIES: tuple[str, ...] = ("debtor", "emergency_contact", "third_party")
#: ``reestablish_contact`` is 失联修复: finding a way to reach a debtor who can no longer be reached.
PURPOSES: tuple[str, ...] = ("collection", "reestablish_contact", "reminder", "service")
#: The same hold kinds as the case process (``arrears.cases.model.HOLD_KINDS``).
HOLD_KINDS: tuple[str, ...] = ("dispute", "complaint", "hardship", "bankruptcy", "deceased", "fraud", "legal")
#: Their names in the Chinese explanation of a block (a code never reaches a Chinese reader).
HOLD_KINDS_ZH: dict[str, str] = {"dispute": "异议", "complaint": "投诉", "hardship": "经济困难", "bankruptcy": "破产",
                                 "deceased": "身故", "fraud": "欺诈", "legal": "诉讼"}
#: Roles that may approve an override (``arrears.auth.model.Role`` values).
OVERRIDE_ROLES: tuple[str, ...] = ("team_lead", "supervisor", "compliance", "admin")

#: Upper bound on the rounds of the next-allowed fixpoint; a pack whose rules have not settled by then
#: yields ``next_allowed_at = None`` ("cannot be known") rather than a wrong time.
MAX_ROUNDS = 64
#: How far ahead a calendar rule looks for a permitted day before giving up (``None``).
MAX_DAYS_AHEAD = 400

_CHANNEL_SET = frozenset(CHANNELS)
_PARTY_SET = frozenset(PARTIES)
_PURPOSE_SET = frozenset(PURPOSES)
_HOLD_SET = frozenset(HOLD_KINDS)
_DAY = timedelta(days=1)
_NO_KINDS: frozenset[str] = frozenset()


# -- time helpers -------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (cached); ``ValueError`` for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def _aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")


def _utc(obj: object, name: str, what: str) -> None:
    """Store ``obj.name`` in UTC. Python compares and adds aware datetimes that share a tzinfo on the
    wall clock (ignoring ``fold``, adding 24 h across a DST change as one wall-clock day), so every
    instant is kept in UTC and local time is only ever derived from it."""
    value = getattr(obj, name)
    if isinstance(value, datetime) and value.tzinfo is UTC:
        return
    _aware(value, what)
    object.__setattr__(obj, name, value.astimezone(UTC))


def wall_seconds(local: datetime) -> int:
    """Seconds since local midnight on the wall clock (microseconds dropped: boundaries are whole seconds)."""
    return local.hour * 3600 + local.minute * 60 + local.second


@lru_cache(maxsize=1 << 16)
def local_instant(tz: ZoneInfo, day: date, seconds: int = 0) -> datetime:
    """The earliest UTC instant whose local wall-clock reading in ``tz`` is at or after ``day`` + ``seconds``.

    Ordinary times map one to one. A repeated wall time (clocks turned back) gives its first occurrence.
    A wall time that does not exist (clocks turned forward) gives the instant of the change, the first
    moment the wall clock shows a later time.
    """
    naive = datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)
    early = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if early.astimezone(tz).replace(tzinfo=None) == naive:
        return early
    late = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = min(early, late), max(early, late)  # wall(lo) < naive <= wall(hi)
    while (hi - lo) > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    return hi


@lru_cache(maxsize=4096)
def holiday_dates(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """Public holidays of ``country`` (ISO 3166-1 alpha-2, optional subdivision) in ``year``.

    From the ``holidays`` package (``holidays.country_holidays``), public category; for CN this includes
    the substituted days off announced by the State Council. Keep the package current every year.
    """
    try:
        calendar = _holidays.country_holidays(country, subdiv=subdiv, years=year)
    except NotImplementedError as exc:
        raise ValueError(f"no public-holiday calendar for country {country!r} subdivision {subdiv!r}") from exc
    return frozenset(calendar.keys())


def is_public_holiday(country: str, subdiv: str | None, day: date) -> bool:
    return day in holiday_dates(country, subdiv, day.year)


# -- the candidate and its history --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    """A contact attempt already made (answered or not).

    ``conversation``: a telephone conversation with the debtor about the debt took place.
    ``account_id``: the debt it was about; ``None`` = the candidate's own account.
    ``party_ref``: which person was contacted (e.g. the contact point id), for third-party limits.
    """

    at: datetime
    channel: str = "call"
    party: str = "debtor"
    conversation: bool = False
    account_id: str | None = None
    party_ref: str | None = None

    def __post_init__(self) -> None:
        _utc(self, "at", "attempt time")
        if self.channel not in _CHANNEL_SET:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.party not in _PARTY_SET:
            raise ValueError(f"unknown party {self.party!r}")


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold on the account from ``start`` (inclusive) to ``end`` (exclusive); ``end=None`` = open-ended."""

    kind: str
    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in _HOLD_SET:
            raise ValueError(f"unknown hold kind {self.kind!r}")
        _utc(self, "start", "hold start")
        if self.end is not None:
            _utc(self, "end", "hold end")
            if self.end < self.start:
                raise ValueError("hold end is before its start")

    def active(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True, slots=True)
class Appointment:
    """A window [start, end) in which the debtor explicitly asked to be contacted.

    ``agreed``: the debtor's agreement to be contacted in this window is on record (they booked it on
    their page, or an agent booked it at their request and recorded so); only such a window lifts
    quiet hours that need agreement (:class:`QuietHours` ``agreement_required``)."""

    start: datetime
    end: datetime
    agreed: bool = False

    def __post_init__(self) -> None:
        _utc(self, "start", "appointment start")
        _utc(self, "end", "appointment end")
        if self.end <= self.start:
            raise ValueError("appointment end must be after its start")


#: Channels a customer may ask us to stop (contact preferences): calls, SMS, e-mail.
STOPPABLE_CHANNELS: tuple[str, ...] = ("call", "sms", "email")


@dataclass(frozen=True, slots=True)
class Wishes:
    """The customer's own wishes for contact (``contact_preferences``), binding on every contact with
    the debtor whatever the pack: ``stopped`` channels are never used; outside the preferred local
    hours ``window`` ([from, until) in seconds since local midnight; from > until spans midnight) or
    on a day not in ``days`` (Monday = 0) the debtor is not contacted, except inside a window they
    booked themselves (an appointment)."""

    stopped: frozenset[str] = frozenset()
    window: tuple[int, int] | None = None
    days: frozenset[int] | None = None

    def __post_init__(self) -> None:
        unknown = set(self.stopped) - set(STOPPABLE_CHANNELS)
        if unknown:
            raise ValueError(f"cannot stop channel(s) {', '.join(sorted(unknown))}")
        if self.window is not None:
            lo, hi = self.window
            if not (0 <= lo < 86400 and 0 <= hi < 86400) or lo == hi:
                raise ValueError("preferred hours must be two different times of day")
        if self.days is not None and (not self.days or not set(self.days) <= set(range(7))):
            raise ValueError("preferred days must name at least one weekday (0 = Monday ... 6 = Sunday)")

    @property
    def empty(self) -> bool:
        return not self.stopped and self.window is None and self.days is None

    def in_hours(self, local: datetime) -> bool:
        """The local wall-clock moment is inside the preferred hours and days."""
        s = wall_seconds(local)
        if self.window is not None:
            lo, hi = self.window
            inside = lo <= s < hi if lo < hi else (s >= lo or s < hi)
            if not inside:
                return False
            # a window spanning midnight belongs to the day it starts on
            day = local.date() - _DAY if (lo > hi and s < hi) else local.date()
        else:
            day = local.date()
        return self.days is None or day.weekday() in self.days


#: Regulation F (``us-reg-f``): the communications still permitted after a written cease request or
#: refusal to pay (12 CFR 1006.6(c)(2)): that further efforts are being terminated; that the collector
#: or creditor may invoke specified remedies it ordinarily invokes; that it intends to invoke one.
CEASE_EXCEPTIONS: tuple[str, ...] = ("efforts_terminated", "may_invoke_remedy", "will_invoke_remedy")
#: The debt-collector disclosure a content carries (12 CFR 1006.18(e)), weakest first.
DISCLOSURES: tuple[str, ...] = ("none", "debt_collector", "full")
LETTER_FORMATS: tuple[str, ...] = ("sealed", "postcard")
ENVELOPE_TEXTS: tuple[str, ...] = ("return_address", "other")

@dataclass(frozen=True, slots=True)
class ContactCandidate:
    """One contact the platform or an agent wants to make, with the facts the rules need.

    Flags default to the cautious value, so a caller that forgets one is blocked rather than let through:
    ``recorded`` (a call will be recorded under a recording reference), ``voicemail_limited`` (any voicemail
    left is the limited-content message), ``opt_out_notice`` (an electronic message carries opt-out
    instructions), ``discloses_debt`` (the content mentions the debt; set False only for a script or
    template certified not to), ``opted_out`` (the person opted out of this channel at this contact point).

    ``attempts`` is the history of attempts before ``at`` (later entries are ignored); ``holds`` every
    hold on the account; ``country``/``subdiv`` choose the public-holiday calendar (``None`` = the pack's
    default country).
    """

    at: datetime
    channel: str
    party: str
    purpose: str
    tz: str
    account_id: str
    country: str | None = None
    subdiv: str | None = None
    party_ref: str | None = None
    opted_out: bool = False
    recorded: bool = False
    voicemail_limited: bool = False
    opt_out_notice: bool = False
    discloses_debt: bool = True
    attempts: tuple[Attempt, ...] = ()
    holds: tuple[Hold, ...] = ()
    appointment: Appointment | None = None
    #: the customer's own contact preferences (None: none recorded)
    wishes: Wishes | None = None
    #: the debtor's telephone contact points still thought valid (refs as in ``Attempt.party_ref``);
    #: () = none left (every number invalid); None = not known (the debtor is not taken as unreachable)
    debtor_numbers: tuple[str, ...] | None = None
    #: the person at this contact point refused further contact (recorded refusal)
    refused: bool = False
    #: a field visit: how many collectors go, whether they enter the home, and whether the occupant consented
    collectors: int = 0
    entered: bool = False
    entry_consent: bool = False

    #: -- Regulation F facts (``us-reg-f``); each defaults to the cautious value or to "not known" --
    #: when the consumer's written cease-communication request or refusal to pay was received (None: none)
    ceased_at: datetime | None = None
    #: which of the communications still permitted after a cease request this one is
    #: (:data:`CEASE_EXCEPTIONS`; None: none of them)
    cease_exception: str | None = None
    #: the contact point is at the consumer's place of employment and the employer prohibits such
    #: communications (the collector knows or has reason to know)
    employer_forbids: bool = False
    #: the e-mail address is one the collector knows was provided by the consumer's employer
    employer_email: bool = False
    #: the debt-collector disclosure the content carries (:data:`DISCLOSURES`): ``none``, ``debt_collector``
    #: (that it is from a debt collector) or ``full`` (also that it is an attempt to collect a debt and any
    #: information obtained will be used for that purpose)
    collector_disclosure: str = "none"
    #: the contact is only a limited-content message (12 CFR 1006.2(j)), nothing else
    limited_content_only: bool = False
    #: the first communication with the consumer about this debt (None: there was none; this is it)
    first_communication_at: datetime | None = None
    #: a letter's form (:data:`LETTER_FORMATS`: ``sealed`` or ``postcard``) and what its envelope shows
    #: (:data:`ENVELOPE_TEXTS`: ``return_address`` only, or ``other``); None: not known
    letter_format: str | None = None
    envelope_text: str | None = None
    #: the content threatens a suit or other legal action (a template or script so marked)
    threatens_suit: bool = False
    #: the first customer-local date on which the debt is time-barred (None: not known to be)
    limitation_date: date | None = None

    def __post_init__(self) -> None:
        _utc(self, "at", "candidate time")
        if self.channel not in _CHANNEL_SET:
            raise ValueError(f"unknown channel {self.channel!r}; channels are {', '.join(CHANNELS)}")
        if self.party not in _PARTY_SET:
            raise ValueError(f"unknown party {self.party!r}; parties are {', '.join(PARTIES)}")
        if self.purpose not in _PURPOSE_SET:
            raise ValueError(f"unknown purpose {self.purpose!r}; purposes are {', '.join(PURPOSES)}")
        zone(self.tz)
        if self.ceased_at is not None:
            _utc(self, "ceased_at", "cease request time")
        if self.first_communication_at is not None:
            _utc(self, "first_communication_at", "first communication time")
        if self.cease_exception is not None and self.cease_exception not in CEASE_EXCEPTIONS:
            raise ValueError(f"unknown cease exception {self.cease_exception!r}; they are {', '.join(CEASE_EXCEPTIONS)}")
        if self.collector_disclosure not in DISCLOSURES:
            raise ValueError(f"unknown disclosure {self.collector_disclosure!r}; they are {', '.join(DISCLOSURES)}")
        if self.letter_format is not None and self.letter_format not in LETTER_FORMATS:
            raise ValueError(f"unknown letter format {self.letter_format!r}; they are {', '.join(LETTER_FORMATS)}")
        if self.envelope_text is not None and self.envelope_text not in ENVELOPE_TEXTS:
            raise ValueError(f"unknown envelope text {self.envelope_text!r}; they are {', '.join(ENVELOPE_TEXTS)}")

    def at_time(self, at: datetime) -> ContactCandidate:
        """The same contact proposed at another instant (same history: attempts before the original time)."""
        return replace(self, at=at, attempts=tuple(a for a in self.attempts if a.at < self.at))


# -- rules ----------------------------------------------------------------------------------------


class _Ctx:
    """Per-candidate facts computed once and shared by every rule and every round of the fixpoint."""

    __slots__ = ("c", "tz", "attempts", "hold_kinds", "conversations", "_expiry")

    def __init__(self, c: ContactCandidate) -> None:
        self.c = c
        self.tz = zone(c.tz)
        at = c.at
        self.attempts = tuple([a for a in c.attempts if a.at < at])
        self.hold_kinds = frozenset([h.kind for h in c.holds]) if c.holds else _NO_KINDS
        self.conversations = any([a.conversation for a in self.attempts])
        self._expiry: dict[tuple[int, bool, int], datetime] = {}

    def expiry(self, index: int, days: int, rolling: bool) -> datetime:
        """When attempt ``index`` stops counting for a window of ``days`` days (see :class:`AttemptLimit`)."""
        key = (index, rolling, days)
        found = self._expiry.get(key)
        if found is None:
            at = self.attempts[index].at
            found = local_instant(self.tz, at.astimezone(self.tz).date() + timedelta(days=days))
            if rolling:
                found = max(found, at + timedelta(days=days))
            self._expiry[key] = found
        return found


@dataclass(frozen=True, slots=True)
class Rule:
    """Common part of every rule: identity, source, scope and who may override it.

    A rule applies only to candidates whose channel, party and purpose are in its scope; outside its
    scope it never blocks. ``overridable_by`` lists the roles that may approve an override (empty: never).
    """

    id: str
    kind: str
    title_en: str
    title_zh: str
    source: str
    channels: frozenset[str]
    parties: frozenset[str]
    purposes: frozenset[str]
    overridable_by: frozenset[str]
    #: True for rules whose answer does not depend on the time of the contact (waiting never clears them).
    TIMELESS: ClassVar[bool] = False

    def applies(self, c: ContactCandidate) -> bool:
        return c.channel in self.channels and c.party in self.parties and c.purpose in self.purposes

    def relevant(self, ctx: _Ctx) -> bool:
        """False when the rule cannot block this candidate at any time (a cheap test that saves work)."""
        return True

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def next_ok(self, ctx: _Ctx, t: datetime, local: datetime) -> datetime | None:
        """The earliest instant >= t at which this rule no longer blocks; None when time alone never clears it."""
        return None

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        return self.title_en, self.title_zh

    def params(self) -> dict[str, Any]:
        return {}


def _hhmm(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}"


def _appointment_open(c: ContactCandidate, t: datetime, agreed_only: bool = False) -> bool:
    a = c.appointment
    return a is not None and c.party == "debtor" and a.start <= t < a.end and (a.agreed or not agreed_only)


def _appointment_next(c: ContactCandidate, t: datetime, agreed_only: bool = False) -> datetime | None:
    a = c.appointment
    if a is None or c.party != "debtor" or a.end <= t or (agreed_only and not a.agreed):
        return None
    return t if a.start <= t else a.start


@dataclass(frozen=True, slots=True)
class QuietHours(Rule):
    """Contact only while the customer's local wall clock is in [allowed_from, allowed_until).

    ``customer_request_may_lift``: inside a window the debtor asked for (an appointment), the hours do
    not apply. False makes the hours absolute. ``agreement_required``: only an appointment whose
    agreement by the debtor is on record (``Appointment.agreed``) lifts them.
    """

    allowed_from: int = 8 * 3600
    allowed_until: int = 22 * 3600
    customer_request_may_lift: bool = False
    agreement_required: bool = False

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        s = wall_seconds(local)
        if self.allowed_from <= s < self.allowed_until:
            return False
        return not (self.customer_request_may_lift and _appointment_open(ctx.c, t, self.agreement_required))

    def next_ok(self, ctx: _Ctx, t: datetime, local: datetime) -> datetime | None:
        s = wall_seconds(local)
        if self.allowed_from <= s < self.allowed_until:
            return t
        day = local.date() if s < self.allowed_from else local.date() + _DAY
        best = local_instant(ctx.tz, day, self.allowed_from)
        if self.customer_request_may_lift:
            appt = _appointment_next(ctx.c, t, self.agreement_required)
            if appt is not None and appt < best:
                best = appt
        return best

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        window = f"{_hhmm(self.allowed_from)}–{_hhmm(self.allowed_until)}"
        now = f"{local.hour:02d}:{local.minute:02d}"
        return (
            f"contact only {window} customer-local time ({ctx.c.tz}); it is {now} there",
            f"仅可在客户当地时间 {window} 联系（{_zone_zh(ctx.c.tz)}），当地现在 {now}",
        )

    def params(self) -> dict[str, Any]:
        return {"allowed_from": _hhmm(self.allowed_from), "allowed_until": _hhmm(self.allowed_until),
                "customer_request_may_lift": self.customer_request_may_lift,
                **({"agreement_required": True} if self.agreement_required else {})}


HOLIDAY_MODES = ("block", "allow", "restrict_hours")


@dataclass(frozen=True, slots=True)
class PublicHoliday(Rule):
    """On a public holiday of the customer's country (local date): ``block`` all day, ``allow``, or
    ``restrict_hours`` to [allowed_from, allowed_until) local. ``default_country`` is used when the
    candidate names none; with neither, the rule does not apply."""

    mode: str = "allow"
    allowed_from: int = 9 * 3600
    allowed_until: int = 20 * 3600
    default_country: str | None = None
    customer_request_may_lift: bool = False

    def _country(self, c: ContactCandidate) -> str | None:
        return c.country or self.default_country

    def relevant(self, ctx: _Ctx) -> bool:
        return self.mode != "allow" and self._country(ctx.c) is not None

    def _ok_on(self, holiday: bool, s: int) -> bool:
        if not holiday or self.mode == "allow":
            return True
        if self.mode == "block":
            return False
        return self.allowed_from <= s < self.allowed_until

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        country = self._country(ctx.c)
        if country is None or self.mode == "allow":
            return False
        if self._ok_on(is_public_holiday(country, ctx.c.subdiv, local.date()), wall_seconds(local)):
            return False
        return not (self.customer_request_may_lift and _appointment_open(ctx.c, t))

    def next_ok(self, ctx: _Ctx, t: datetime, local: datetime) -> datetime | None:
        if not self.blocks(ctx, t, local):
            return t
        country = self._country(ctx.c)
        assert country is not None
        best: datetime | None = None
        today = local.date()
        s = wall_seconds(local)
        for n in range(MAX_DAYS_AHEAD):
            day = today + timedelta(days=n)
            if not is_public_holiday(country, ctx.c.subdiv, day):
                best = local_instant(ctx.tz, day)  # n >= 1 here: today is a holiday (we are blocked)
                break
            if self.mode == "restrict_hours" and (n > 0 or s < self.allowed_from):
                best = local_instant(ctx.tz, day, self.allowed_from)
                break
        if self.customer_request_may_lift:
            appt = _appointment_next(ctx.c, t)
            if appt is not None and (best is None or appt < best):
                best = appt
        return best

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        day = local.date().isoformat()
        country = self._country(ctx.c)
        if self.mode == "block":
            return (f"{day} is a public holiday in {country}; no contact that day",
                    f"{day} 为法定节假日（{country}），当日不联系")
        window = f"{_hhmm(self.allowed_from)}–{_hhmm(self.allowed_until)}"
        return (f"{day} is a public holiday in {country}; contact only {window} customer-local time",
                f"{day} 为法定节假日（{country}），仅可在当地时间 {window} 联系")

    def params(self) -> dict[str, Any]:
        return {"mode": self.mode, "allowed_from": _hhmm(self.allowed_from),
                "allowed_until": _hhmm(self.allowed_until), "default_country": self.default_country,
                "customer_request_may_lift": self.customer_request_may_lift}


@dataclass(frozen=True, slots=True)
class AttemptLimit(Rule):
    """At most ``max_attempts`` earlier attempts on ``count_channels`` to the debtor within the window.

    The window is ``window_days`` calendar days in the customer's zone ending with the candidate's local
    date (1 = the same local day). With ``rolling``, an attempt also counts while less than
    ``window_days`` x 24 h have passed since it — the stricter of the two readings of "N consecutive days".
    ``scope``: ``debtor`` counts attempts about any account of the person, ``debt`` only this account.
    The candidate is blocked when the count already equals the maximum (the next attempt would exceed it).
    """

    max_attempts: int = 6
    window_days: int = 1
    rolling: bool = False
    scope: str = "debtor"
    count_channels: frozenset[str] = frozenset({"call"})

    def _counted(self, ctx: _Ctx, t: datetime) -> list[int]:
        # An attempt more than window_days + 2 days before t cannot count on any reading (a local
        # calendar day is at most 25 h; this only saves work).
        horizon = t - timedelta(days=self.window_days + 2)
        own = ctx.c.account_id
        return [i for i, a in enumerate(ctx.attempts)
                if a.at > horizon and a.party == "debtor" and a.channel in self.count_channels
                and (self.scope == "debtor" or a.account_id is None or a.account_id == own)]

    def _live(self, ctx: _Ctx, t: datetime) -> list[datetime]:
        expiries = (ctx.expiry(i, self.window_days, self.rolling) for i in self._counted(ctx, t))
        return [e for e in expiries if t < e]

    def relevant(self, ctx: _Ctx) -> bool:
        return len(ctx.attempts) >= self.max_attempts

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        counted = self._counted(ctx, t)
        if len(counted) < self.max_attempts:
            return False
        return sum(1 for i in counted if t < ctx.expiry(i, self.window_days, self.rolling)) >= self.max_attempts

    def next_ok(self, ctx: _Ctx, t: datetime, local: datetime) -> datetime | None:
        live = sorted(self._live(ctx, t))
        excess = len(live) - self.max_attempts + 1
        return t if excess <= 0 else live[excess - 1]

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        n = len(self._live(ctx, t))
        span = "today (customer-local)" if self.window_days == 1 else f"in {self.window_days} consecutive days"
        span_zh = "当日（客户当地）" if self.window_days == 1 else f"连续 {self.window_days} 日内"
        return (f"{n} call attempts already made {span}; at most {self.max_attempts}",
                f"{span_zh}已拨打 {n} 次，上限 {self.max_attempts} 次")

    def params(self) -> dict[str, Any]:
        return {"max_attempts": self.max_attempts, "window_days": self.window_days, "rolling": self.rolling,
                "scope": self.scope, "count_channels": sorted(self.count_channels)}

    def counted(self, candidate: ContactCandidate) -> int:
        """How many of the candidate's earlier attempts count against this limit at its time (the
        figure a page shows as "attempts: n of ``max_attempts``")."""
        ctx = _Ctx(candidate)
        return len(self._live(ctx, candidate.at))


@lru_cache(maxsize=64)
def _zone_zh(tz: str) -> str:
    """The customer's time zone as a Chinese reader names it ("中国（上海）时间"); the IANA name if unknown."""
    from babel.dates import get_timezone, get_timezone_location

    try:
        return get_timezone_location(get_timezone(tz), locale="zh_CN")
    except LookupError:
        return tz


@dataclass(frozen=True, slots=True)
class ConversationPause(Rule):
    """No contact for ``days`` days after a telephone conversation with the debtor about the debt.

    The day of the conversation is day 1 (customer-local calendar); with ``rolling`` the pause also lasts
    at least ``days`` x 24 h from the conversation. ``scope`` as for :class:`AttemptLimit`.
    """

    days: int = 7
    rolling: bool = True
    scope: str = "debt"

    def _expiries(self, ctx: _Ctx) -> list[datetime]:
        own = ctx.c.account_id
        return [ctx.expiry(i, self.days, self.rolling) for i, a in enumerate(ctx.attempts)
                if a.conversation and a.party == "debtor"
                and (self.scope == "debtor" or a.account_id is None or a.account_id == own)]

    def _horizon_clear(self, ctx: _Ctx, t: datetime) -> bool:
        """No conversation recent enough to matter (cheap test before computing local dates)."""
        horizon = t - timedelta(days=self.days + 2)
        return not any(a.conversation and a.at > horizon for a in ctx.attempts)

    def relevant(self, ctx: _Ctx) -> bool:
        return ctx.conversations

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        if self._horizon_clear(ctx, t):
            return False
        return any(t < e for e in self._expiries(ctx))

    def next_ok(self, ctx: _Ctx, t: datetime, local: datetime) -> datetime | None:
        return max([t, *self._expiries(ctx)])

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        return (f"a telephone conversation about this debt took place within the last {self.days} days",
                f"{self.days} 日内已与债务人就该笔欠款通话")

    def params(self) -> dict[str, Any]:
        return {"days": self.days, "rolling": self.rolling, "scope": self.scope}


@dataclass(frozen=True, slots=True)
class HoldRule(Rule):
    """No contact while a hold of one of ``kinds`` is active on the account."""

    kinds: frozenset[str] = frozenset()

    def _active(self, c: ContactCandidate, t: datetime) -> list[Hold]:
        return [h for h in c.holds if h.kind in self.kinds and h.start <= t and (h.end is None or t < h.end)]

    def relevant(self, ctx: _Ctx) -> bool:
        return not self.kinds.isdisjoint(ctx.hold_kinds)

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        return bool(self._active(ctx.c, t))

    def next_ok(self, ctx: _Ctx, t: datetime, local: datetime) -> datetime | None:
        for _ in range(len(ctx.c.holds) + 1):
            active = self._active(ctx.c, t)
            if not active:
                return t
            if any(h.end is None for h in active):
                return None
            t = max(h.end for h in active if h.end is not None)
        return t if not self._active(ctx.c, t) else None

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        active = sorted({h.kind for h in self._active(ctx.c, t)})
        zh = "、".join(HOLD_KINDS_ZH.get(k, k) for k in active)
        return (f"the account is on hold ({', '.join(active)}); no contact", f"账户处于停催状态（{zh}），不得联系")

    def params(self) -> dict[str, Any]:
        return {"kinds": sorted(self.kinds)}


@dataclass(frozen=True, slots=True)
class PartyPurpose(Rule):
    """Which purposes each party may be contacted for; anything else is never allowed."""

    TIMELESS: ClassVar[bool] = True

    allowed: tuple[tuple[str, frozenset[str]], ...] = ()

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        for party, purposes in self.allowed:
            if party == ctx.c.party:
                return ctx.c.purpose not in purposes
        return True

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        return (f"a {ctx.c.party.replace('_', ' ')} may not be contacted for {ctx.c.purpose.replace('_', ' ')}",
                f"不得以“{ctx.c.purpose}”目的联系 {ctx.c.party}")

    def params(self) -> dict[str, Any]:
        return {"allowed": {p: sorted(ps) for p, ps in self.allowed}}


@dataclass(frozen=True, slots=True)
class NoDisclosure(Rule):
    """Nobody but the debtor may be told of the debt: the content must not disclose it."""

    TIMELESS: ClassVar[bool] = True

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        return ctx.c.discloses_debt


@dataclass(frozen=True, slots=True)
class PerPersonLimit(Rule):
    """At most ``max_contacts`` attempts ever to the same person (same ``party_ref``) in the rule's parties.

    An earlier attempt without a ``party_ref`` (or a candidate without one) may have been the same person,
    so it counts — the cautious reading.
    """

    TIMELESS: ClassVar[bool] = True

    max_contacts: int = 1

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        ref = ctx.c.party_ref
        n = sum(1 for a in ctx.attempts
                if a.party in self.parties and (ref is None or a.party_ref is None or a.party_ref == ref))
        return n >= self.max_contacts

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        return (f"this person has already been contacted {self.max_contacts} time(s) for location information",
                f"已就查找债务人联系方式联系该第三人 {self.max_contacts} 次")

    def params(self) -> dict[str, Any]:
        return {"max_contacts": self.max_contacts}


@dataclass(frozen=True, slots=True)
class FlagRule(Rule):
    """A fact about the contact that must hold (``required``) or must not hold (``forbidden``)."""

    TIMELESS: ClassVar[bool] = True

    flag: str = "recorded"
    must_be: bool = True
    extra: tuple[tuple[str, Any], ...] = ()

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        return bool(getattr(ctx.c, self.flag)) != self.must_be

    def params(self) -> dict[str, Any]:
        return dict(self.extra)


# -- China: GB/T 45251—2025 and the China Banking Association's guideline (2026) -----------------------


@dataclass(frozen=True, slots=True)
class ConnectedLimit(Rule):
    """At most ``max_attempts`` connected calls with the debtor (call attempts with
    ``conversation``) within the window, counted per person across numbers and accounts
    (``scope: debtor``) or per debt; alongside :class:`AttemptLimit`, which counts every attempt.
    The window is read as :class:`AttemptLimit` reads it (not a subclass: pages that show "attempts
    n of max" look for attempt limits only)."""

    max_attempts: int = 3
    window_days: int = 1
    rolling: bool = False
    scope: str = "debtor"

    _live = AttemptLimit._live
    blocks = AttemptLimit.blocks
    next_ok = AttemptLimit.next_ok
    counted = AttemptLimit.counted

    def _counted(self, ctx: _Ctx, t: datetime) -> list[int]:
        horizon = t - timedelta(days=self.window_days + 2)
        own = ctx.c.account_id
        return [i for i, a in enumerate(ctx.attempts)
                if a.at > horizon and a.party == "debtor" and a.conversation and a.channel == "call"
                and (self.scope == "debtor" or a.account_id is None or a.account_id == own)]

    def relevant(self, ctx: _Ctx) -> bool:
        return ctx.conversations and len(ctx.attempts) >= self.max_attempts

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        n = len(self._live(ctx, t))
        span = "today (customer-local)" if self.window_days == 1 else f"in {self.window_days} consecutive days"
        span_zh = "当日（客户当地）" if self.window_days == 1 else f"连续 {self.window_days} 日内"
        return (f"{n} connected conversations with the debtor already {span}; at most {self.max_attempts}",
                f"{span_zh}已与债务人接通 {n} 次，上限 {self.max_attempts} 次")

    def params(self) -> dict[str, Any]:
        return {"max_conversations": self.max_attempts, "window_days": self.window_days, "rolling": self.rolling,
                "scope": self.scope}


@dataclass(frozen=True, slots=True)
class DebtorUnreachable(Rule):
    """Anyone but the debtor only once the debtor cannot be reached: every debtor telephone number still
    thought valid (``ContactCandidate.debtor_numbers``) had at least ``min_attempts`` call attempts in
    the last ``days`` x 24 h and no conversation with the debtor took place in that time — or no valid
    number is left. Unknown numbers (``None``) never count as unreachable. Waiting never clears it:
    more attempts on the debtor's numbers do (``next_ok`` is None)."""

    min_attempts: int = 3
    days: int = 3

    def unreachable(self, ctx: _Ctx, t: datetime) -> bool:
        numbers = ctx.c.debtor_numbers
        if numbers is None:
            return False
        if not numbers:
            return True
        since = t - timedelta(days=self.days)
        recent = [a for a in ctx.attempts if a.party == "debtor" and a.at >= since]
        if any(a.conversation for a in recent):
            return False
        return all(sum(1 for a in recent if a.channel == "call" and a.party_ref == n) >= self.min_attempts
                   for n in numbers)

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        return not self.unreachable(ctx, t)

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        return (f"the debtor can still be reached: contact others only after {self.min_attempts} unanswered call "
                f"attempts on every debtor number within {self.days} days, or when no debtor number is valid",
                f"债务人尚未失联：须在 {self.days} 日内对债务人每个号码拨打 {self.min_attempts} 次均未接通，"
                "或债务人号码均已失效，方可联系他人")

    def params(self) -> dict[str, Any]:
        return {"min_attempts": self.min_attempts, "days": self.days}


@dataclass(frozen=True, slots=True)
class FieldVisit(Rule):
    """A field visit by at least ``min_collectors`` collectors, who enter a home only with consent."""

    TIMELESS: ClassVar[bool] = True

    min_collectors: int = 2

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        c = ctx.c
        return c.collectors < self.min_collectors or (c.entered and not c.entry_consent)

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        c = ctx.c
        if c.collectors < self.min_collectors:
            return (f"a field visit needs at least {self.min_collectors} collectors; {c.collectors} planned",
                    f"外访须至少 {self.min_collectors} 名催收人员，现为 {c.collectors} 名")
        return ("no entry into the home without the occupant's consent", "未经同意不得进入住所")

    def params(self) -> dict[str, Any]:
        return {"min_collectors": self.min_collectors}


@dataclass(frozen=True, slots=True)
class AgencyNotice(Rule):
    """Placement with an outside agency waits ``notice_days`` days after the notice to the debtor has
    been sent (:mod:`arrears.escalation.service`). Not a rule on a contact: it never blocks one."""

    TIMELESS: ClassVar[bool] = True

    notice_days: int = 7

    def relevant(self, ctx: _Ctx) -> bool:
        return False

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        return False

    def params(self) -> dict[str, Any]:
        return {"notice_days": self.notice_days}


@dataclass(frozen=True, slots=True)
class CustomerStop(Rule):
    """The debtor asked us to stop this channel (their contact preferences): never by waiting."""

    TIMELESS: ClassVar[bool] = True

    def relevant(self, ctx: _Ctx) -> bool:
        w = ctx.c.wishes
        return w is not None and ctx.c.channel in w.stopped

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        w = ctx.c.wishes
        return w is not None and ctx.c.channel in w.stopped

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        return (f"the customer asked us to stop contacting them by {ctx.c.channel}",
                f"客户已要求停止以 {ctx.c.channel} 方式联系")


@dataclass(frozen=True, slots=True)
class CustomerHours(Rule):
    """Only inside the debtor's preferred local hours and days (their contact preferences), unless
    inside a window the debtor booked (an appointment)."""

    def relevant(self, ctx: _Ctx) -> bool:
        w = ctx.c.wishes
        return w is not None and (w.window is not None or w.days is not None)

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        w = ctx.c.wishes
        if w is None or w.in_hours(local):
            return False
        return not _appointment_open(ctx.c, t)

    def next_ok(self, ctx: _Ctx, t: datetime, local: datetime) -> datetime | None:
        w = ctx.c.wishes
        if w is None or not self.blocks(ctx, t, local):
            return t
        best: datetime | None = None
        lo = w.window[0] if w.window is not None else 0
        for n in range(9):  # the preferred hours open again within a week
            start = local_instant(ctx.tz, local.date() + timedelta(days=n), lo)
            if start >= t and w.in_hours(start.astimezone(ctx.tz)):
                best = start
                break
        appt = _appointment_next(ctx.c, t)
        if appt is not None and (best is None or appt < best):
            best = appt
        return best

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        w = ctx.c.wishes
        hours = f"{_hhmm(w.window[0])}–{_hhmm(w.window[1])}" if w is not None and w.window is not None else ""
        return (f"outside the customer's preferred hours and days {hours}".rstrip(),
                f"不在客户希望的联系时间内 {hours}".rstrip())


#: The customer's wishes bind every contact about the debt; a ``service`` message (a one-time code
#: the customer has just asked for on their page) is theirs to receive.
_WISHES_PURPOSES = frozenset(p for p in PURPOSES if p != "service")
_SOURCE_WISHES = "the customer's own contact preferences (set on their page or by an agent)"
#: Rules every pack is held to, whatever its file says: the debtor's own wishes. Neither can be
#: overridden (a customer who wants a call books one, which lifts the hours).
CUSTOMER_RULES: tuple[Rule, ...] = (
    CustomerStop(id="customer_stop", kind="customer_stop", title_en="A channel the customer asked us to stop",
                 title_zh="客户要求停止的联系方式", source=_SOURCE_WISHES, channels=frozenset(STOPPABLE_CHANNELS),
                 parties=frozenset({"debtor"}), purposes=_WISHES_PURPOSES, overridable_by=frozenset()),
    CustomerHours(id="customer_hours", kind="customer_hours", title_en="Outside the customer's preferred hours",
                  title_zh="不在客户希望的联系时间内", source=_SOURCE_WISHES, channels=_CHANNEL_SET,
                  parties=frozenset({"debtor"}), purposes=_WISHES_PURPOSES, overridable_by=frozenset()),
)


#: Flag rules by kind: (candidate attribute, value it must have).
FLAG_KINDS: dict[str, tuple[str, bool]] = {
    "recording": ("recorded", True),
    "opt_out": ("opted_out", False),
    "opt_out_notice": ("opt_out_notice", True),
    "limited_content_voicemail": ("voicemail_limited", True),
}

#: Every rule kind a pack may use.
RULE_KINDS: tuple[str, ...] = ("quiet_hours", "public_holiday", "attempt_limit", "conversation_pause", "hold",
                               "party_purpose", "no_disclosure", "per_person_limit", *FLAG_KINDS)
#: Kinds of GB/T 45251—2025 and the China Banking Association's guideline (2026); ``refused_contact``
#: is a flag rule: the person at the contact point refused further contact.
FLAG_KINDS["refused_contact"] = ("refused", False)
RULE_KINDS += ("connected_limit", "debtor_unreachable", "field_visit", "agency_notice", "refused_contact")


# -- United States: Regulation F (12 CFR part 1006) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class CeaseCommunication(Rule):
    """After the consumer's written cease-communication request or refusal to pay is received
    (``ceased_at``), only the communications of :data:`CEASE_EXCEPTIONS` (``cease_exception``).
    Waiting never clears it (``next_ok`` None)."""

    def relevant(self, ctx: _Ctx) -> bool:
        return ctx.c.ceased_at is not None and ctx.c.cease_exception is None

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        c = ctx.c
        return c.ceased_at is not None and c.ceased_at <= t and c.cease_exception is None

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        day = ctx.c.ceased_at.astimezone(ctx.tz).date().isoformat() if ctx.c.ceased_at else ""
        return (f"the consumer asked in writing on {day} that communication cease (or refused to pay): only a "
                "notice that efforts are terminated or of a specified remedy may be sent",
                f"客户已于 {day} 书面要求停止联系（或拒绝还款）：仅可告知停止催收或将采取的特定救济措施")


@dataclass(frozen=True, slots=True)
class PlaceOfEmployment(Rule):
    """No communication at a place of employment whose employer prohibits it (``employer_forbids``),
    and no e-mail to an address the employer provided (``employer_email``)."""

    TIMELESS: ClassVar[bool] = True

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        c = ctx.c
        return c.employer_forbids or (c.channel == "email" and c.employer_email)

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        if ctx.c.employer_forbids:
            return ("the employer prohibits such communications at the consumer's place of employment",
                    "客户雇主禁止在其工作场所接收此类联系")
        return ("this e-mail address was provided by the consumer's employer", "该电子邮箱由客户雇主提供")


@dataclass(frozen=True, slots=True)
class CollectorDisclosure(Rule):
    """The initial communication (no ``first_communication_at`` before it) discloses that the debt
    collector is attempting to collect a debt and that information obtained will be used for that
    purpose (``full``); every later one that it is from a debt collector. A limited-content message
    (``limited_content_only``) is not a communication and needs neither."""

    TIMELESS: ClassVar[bool] = True

    def _initial(self, c: ContactCandidate, t: datetime) -> bool:
        return c.first_communication_at is None or c.first_communication_at >= t

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        c = ctx.c
        if c.limited_content_only:
            return False
        need = "full" if self._initial(c, t) else "debt_collector"
        return DISCLOSURES.index(c.collector_disclosure) < DISCLOSURES.index(need)

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        if self._initial(ctx.c, t):
            return ("the initial communication must disclose that the debt collector is attempting to collect a "
                    "debt and that any information obtained will be used for that purpose",
                    "首次联系须声明系债务催收方为催收债务而联系，所获信息将用于该目的")
        return ("the communication must disclose that it is from a debt collector", "联系内容须声明来自债务催收方")


@dataclass(frozen=True, slots=True)
class Envelope(Rule):
    """A letter goes in a sealed envelope (never a postcard) that shows nothing but the return address."""

    TIMELESS: ClassVar[bool] = True

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        c = ctx.c
        return c.letter_format != "sealed" or c.envelope_text != "return_address"

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        if ctx.c.letter_format != "sealed":
            return ("a letter must go in a sealed envelope, never on a postcard", "信函须装入密封信封，不得使用明信片")
        return ("the envelope may show nothing but the return address", "信封上除回邮地址外不得有其他内容")


@dataclass(frozen=True, slots=True)
class TimeBarred(Rule):
    """From the account's limitation date (``limitation_date``, customer-local) on, no content that
    threatens a suit (``threatens_suit``). Waiting never clears it."""

    def relevant(self, ctx: _Ctx) -> bool:
        return ctx.c.limitation_date is not None and ctx.c.threatens_suit

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        c = ctx.c
        return c.threatens_suit and c.limitation_date is not None and local.date() >= c.limitation_date

    def explain(self, ctx: _Ctx, t: datetime, local: datetime) -> tuple[str, str]:
        day = ctx.c.limitation_date.isoformat() if ctx.c.limitation_date else ""
        return (f"the debt is time-barred since {day}: no suit and no threat of suit",
                f"该债务自 {day} 起已过诉讼时效：不得起诉或以起诉相威胁")


@dataclass(frozen=True, slots=True)
class Duty(Rule):
    """A duty of the collector that is not a rule on one contact (the validation notice, credit
    reporting, records): it never blocks a contact; the services that do the work read its numbers."""

    TIMELESS: ClassVar[bool] = True

    #: the duty's numbers, e.g. (("within_days", 5),)
    extra: tuple[tuple[str, Any], ...] = ()

    def relevant(self, ctx: _Ctx) -> bool:
        return False

    def blocks(self, ctx: _Ctx, t: datetime, local: datetime) -> bool:
        return False

    def value(self, name: str) -> Any:
        """One of the duty's numbers (``KeyError`` naming it when the pack lacks it)."""
        return dict(self.extra)[name]

    def params(self) -> dict[str, Any]:
        return dict(self.extra)


#: Regulation F kinds (``us-reg-f``); the last three are duties (:class:`Duty`).
RULE_KINDS += ("cease_communication", "place_of_employment", "collector_disclosure", "envelope", "time_barred",
               "validation_notice", "credit_reporting", "record_retention")


# -- packs, overrides, decisions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyPack:
    """A named, versioned set of rules. Every rule must pass for a contact to be allowed."""

    name: str
    version: str
    title_en: str
    title_zh: str
    rules: tuple[Rule, ...]
    file: str | None = None
    #: state/city layers merged into this pack, (name, version) each (:mod:`arrears.contact.packchoice`)
    layers: tuple[tuple[str, str], ...] = ()
    _scoped: dict[tuple[str, str, str], tuple[Rule, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique in a pack")
        # which rules are in scope for each (channel, party, purpose): computed once per pack
        object.__setattr__(self, "_scoped", {
            (ch, pa, pu): tuple(r for r in self.rules if ch in r.channels and pa in r.parties and pu in r.purposes)
            for ch in CHANNELS for pa in PARTIES for pu in PURPOSES})

    def in_scope(self, c: ContactCandidate) -> tuple[Rule, ...]:
        """The rules that apply to this candidate's channel, party and purpose."""
        return self._scoped[(c.channel, c.party, c.purpose)]

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


@dataclass(frozen=True, slots=True)
class Override:
    """An approved exception to one rule for one contact: who approved it, in which role, and why."""

    rule_id: str
    reason: str
    approver: str
    approver_role: str


@dataclass(frozen=True, slots=True)
class Block:
    """One rule that blocks the contact.

    ``next_allowed_at``: the earliest instant >= the candidate's time at which this rule alone would no
    longer block, or None when that cannot be known (an open-ended hold, a party never to be contacted for
    this purpose, a missing recording...).
    """

    rule_id: str
    kind: str
    source: str
    message: str
    message_zh: str
    next_allowed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "kind": self.kind, "source": self.source, "message": self.message,
                "message_zh": self.message_zh,
                "next_allowed_at": self.next_allowed_at.isoformat() if self.next_allowed_at else None}


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's answer for one candidate contact.

    ``blocks``: rules still blocking (empty when allowed). ``overridden``: blocks lifted by an approved
    override, listed in ``overrides``. ``refused_overrides``: overrides offered but not applied, with why.
    ``next_allowed_at``: the candidate's own time when allowed; otherwise the earliest instant at which
    every rule passes (given the same overrides), or None when it cannot be known.
    """

    pack: str
    version: str
    account_id: str
    channel: str
    party: str
    purpose: str
    at: datetime
    allowed: bool
    blocks: tuple[Block, ...]
    next_allowed_at: datetime | None
    overridden: tuple[Block, ...] = ()
    overrides: tuple[Override, ...] = ()
    refused_overrides: tuple[tuple[Override, str], ...] = field(default=())
    #: the layers of the pack that judged it, (name, version) each
    layers: tuple[tuple[str, str], ...] = ()

    def to_log_record(self) -> dict[str, Any]:
        """A JSON-ready record of the decision for the compliance log (every block and every override)."""
        return {
            "pack": self.pack,
            "pack_version": self.version,
            "layers": [{"pack": n, "version": v} for n, v in self.layers],
            "account_id": self.account_id,
            "channel": self.channel,
            "party": self.party,
            "purpose": self.purpose,
            "at": self.at.astimezone(UTC).isoformat(),
            "allowed": self.allowed,
            "next_allowed_at": self.next_allowed_at.astimezone(UTC).isoformat() if self.next_allowed_at else None,
            "blocks": [b.to_dict() for b in self.blocks],
            "overridden": [b.to_dict() for b in self.overridden],
            "overrides": [{"rule_id": o.rule_id, "reason": o.reason, "approver": o.approver,
                           "approver_role": o.approver_role} for o in self.overrides],
            "refused_overrides": [{"rule_id": o.rule_id, "reason": o.reason, "approver": o.approver,
                                   "approver_role": o.approver_role, "refused_because": why}
                                  for o, why in self.refused_overrides],
        }


def _check_overrides(pack: PolicyPack, overrides: Iterable[Override]
                     ) -> tuple[dict[str, Override], list[tuple[Override, str]]]:
    valid: dict[str, Override] = {}
    refused: list[tuple[Override, str]] = []
    ids = {r.id: r for r in pack.rules}
    for o in overrides:
        rule = ids.get(o.rule_id)
        if rule is None:
            refused.append((o, f"no rule {o.rule_id!r} in pack {pack.name} {pack.version}"))
        elif not rule.overridable_by:
            refused.append((o, "this rule may never be overridden"))
        elif o.approver_role not in rule.overridable_by:
            refused.append((o, f"role {o.approver_role!r} may not override it "
                               f"(allowed: {', '.join(sorted(rule.overridable_by))})"))
        elif not o.reason.strip() or not o.approver.strip():
            refused.append((o, "an override needs a reason and an approver"))
        elif o.rule_id in valid:
            refused.append((o, "duplicate override for the same rule"))
        else:
            valid[o.rule_id] = o
    return valid, refused


def _blocking(rules: tuple[Rule, ...], ctx: _Ctx, t: datetime) -> tuple[list[Rule], datetime]:
    local = t.astimezone(ctx.tz)
    return [r for r in rules if r.blocks(ctx, t, local)], local


def gate(candidate: ContactCandidate, pack: PolicyPack, overrides: Iterable[Override] = ()) -> Decision:
    """Check one candidate contact against every rule of ``pack``.

    A rule blocks only when the candidate is in its scope and its predicate fails. An override lifts one
    rule's block if the rule is overridable by the approver's role and the override names a reason and an
    approver; other overrides are refused and recorded.

    Next-allowed time: each blocking rule gives the earliest instant it would stop blocking. Starting from
    the candidate's time, move to the latest of those instants and re-check every rule there, until no
    rule blocks (that instant is the answer), some rule cannot say (None), or MAX_ROUNDS is reached
    (None). Each rule's instant is exact, so no earlier instant can pass every rule and the fixpoint is
    the earliest time the contact would be allowed, assuming no new attempts, holds or appointments.
    """
    valid, refused = _check_overrides(pack, overrides) if overrides else ({}, [])
    ctx = _Ctx(candidate)
    in_scope = tuple([r for r in pack.in_scope(candidate) if r.relevant(ctx)])
    if candidate.wishes is not None:
        in_scope += tuple(r for r in CUSTOMER_RULES if r.applies(candidate) and r.relevant(ctx))
    failing, local = _blocking(in_scope, ctx, candidate.at)
    blocks: list[Block] = []
    overridden: list[Block] = []
    for rule in failing:
        message, message_zh = rule.explain(ctx, candidate.at, local)
        block = Block(rule.id, rule.kind, rule.source, message, message_zh,
                      rule.next_ok(ctx, candidate.at, local))
        (overridden if rule.id in valid else blocks).append(block)
    used: tuple[Override, ...] = ()
    if valid:
        used = tuple(valid[b.rule_id] for b in overridden)
        lifted = {b.rule_id for b in overridden}
        refused += [(o, "the rule did not block this contact") for rid, o in valid.items() if rid not in lifted]
    if not blocks:
        nxt: datetime | None = candidate.at
    else:
        active = tuple(r for r in in_scope if r.id not in valid) if valid else in_scope
        nxt = _next_allowed(active, ctx, candidate.at, [b.next_allowed_at for b in blocks])
    return Decision(
        pack=pack.name, version=pack.version, account_id=candidate.account_id, channel=candidate.channel,
        party=candidate.party, purpose=candidate.purpose, at=candidate.at, allowed=not blocks,
        blocks=tuple(blocks), next_allowed_at=nxt, overridden=tuple(overridden), overrides=used,
        refused_overrides=tuple(refused), layers=pack.layers,
    )


def _next_allowed(rules: tuple[Rule, ...], ctx: _Ctx, start: datetime,
                  first: list[datetime | None]) -> datetime | None:
    nexts = first
    t = start
    rules = tuple(r for r in rules if not r.TIMELESS)  # they passed at `start`, so they pass at any time
    for _ in range(MAX_ROUNDS):
        if any(n is None for n in nexts):
            return None
        t = max([t, *nexts])  # type: ignore[list-item]
        failing, local = _blocking(rules, ctx, t)
        if not failing:
            return t
        nexts = [r.next_ok(ctx, t, local) for r in failing]
    return None
