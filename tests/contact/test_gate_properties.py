"""The gate against an independent oracle over 1,000,000 random candidate contacts.

The oracle below is written from the rule list in docs/compliance.md, plainly and separately from
``arrears.contact.policy``: it reads the pack numbers from the documentation (not from the pack object),
computes local time with ``zoneinfo`` directly and takes public holidays from ``holidays`` directly.

For every candidate: (a) the gate blocks exactly the rules the oracle finds violated (less those lifted by
a valid override) — so nothing it allows violates a rule; (b) every block names a rule, a source and a
message; (c) for a sample of blocked candidates, gating at ``next_allowed_at`` is allowed and satisfies the
oracle, the second before it and random earlier instants do not, and a ``None`` comes with a violation
that time cannot cure.
"""

from __future__ import annotations

import gc
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.contact import (
    Appointment,
    Attempt,
    ContactCandidate,
    Hold,
    Override,
    gate,
    load_default_pack,
)

PACKS = {name: load_default_pack(name) for name in ("cn", "us-reg-f")}

# -- the oracle (from docs/compliance.md) --------------------------------------------------------------

_zones: dict[str, ZoneInfo] = {}
_hols: dict[tuple[str, int], set[date]] = {}


def _z(name: str) -> ZoneInfo:
    if name not in _zones:
        _zones[name] = ZoneInfo(name)
    return _zones[name]


def _holiday(country: str, day: date) -> bool:
    key = (country, day.year)
    if key not in _hols:
        _hols[key] = set(holidays.country_holidays(country, years=day.year))
    return day in _hols[key]


HOLD_RULE = {"bankruptcy": "hold_protected", "deceased": "hold_protected", "dispute": "hold_dispute",
             "complaint": "hold_dispute", "fraud": "hold_dispute", "hardship": "hold_hardship", "legal": "hold_legal"}
OVERRIDABLE = {
    "cn": {"public_holiday": {"supervisor", "compliance"}, "hold_dispute": {"compliance"},
           "hold_hardship": {"supervisor", "compliance"}, "hold_legal": {"compliance"}},
    "us-reg-f": {"public_holiday": {"supervisor", "compliance"}, "location_contact_once": {"compliance"},
                 "hold_dispute": {"compliance"}, "hold_hardship": {"supervisor", "compliance"},
                 "hold_legal": {"compliance"}},
}
#: Rules that time alone never clears.
TIMELESS = {"third_party_only_when_unreachable", "third_party_refusal", "field_visit",
            "debtor_only", "no_third_party_disclosure", "call_recording", "medium_opt_out", "opt_out_notice",
            "limited_content_voicemail", "third_parties_location_only", "location_contact_once"}
#: Regulation F rules time alone never clears (a cease request and a time-barred debt block for good).
TIMELESS |= {"cease_communication", "place_of_employment", "collector_disclosure", "sealed_envelope",
             "time_barred_debt"}
WEEK = timedelta(days=7)


def _appointment_open(c: ContactCandidate, t: datetime) -> bool:
    a = c.appointment
    return a is not None and c.party == "debtor" and a.start <= t < a.end


def _same_debt(c: ContactCandidate, a: Attempt) -> bool:
    return a.account_id is None or a.account_id == c.account_id


def _unreachable(c: ContactCandidate, t: datetime, history: list[Attempt]) -> bool:
    """cn: 3 call attempts on every valid debtor number within 3 days and no conversation, or no valid number."""
    if c.debtor_numbers is None:
        return False
    recent = [a for a in history if a.party == "debtor" and a.at >= t - timedelta(days=3)]
    return not any(a.conversation for a in recent) and all(
        len([a for a in recent if a.channel == "call" and a.party_ref == n]) >= 3 for n in c.debtor_numbers)


def oracle(pack: str, c: ContactCandidate, t: datetime) -> set[str]:
    """The rule ids violated by contact ``c`` if made at instant ``t`` (history: attempts before c.at)."""
    tz = _z(c.tz)
    local = t.astimezone(tz)
    hour = local.hour
    history = [a for a in c.attempts if a.at < c.at]
    bad: set[str] = set()
    for h in c.holds:
        if h.start <= t and (h.end is None or t < h.end):
            bad.add(HOLD_RULE[h.kind])
    not_letter = c.channel != "letter"
    if pack == "cn":
        if not_letter and not 8 <= hour < 22 and not (_appointment_open(c, t) and c.appointment.agreed):
            bad.add("quiet_hours")
        if (not_letter and c.purpose != "service" and _holiday(c.country or "CN", local.date())
                and not 9 <= hour < 20 and not _appointment_open(c, t)):
            bad.add("public_holiday")
        if c.channel == "call" and c.party == "debtor":
            today = [a for a in history if a.channel == "call" and a.party == "debtor"
                     and a.at.astimezone(tz).date() == local.date()]
            if len(today) >= 6:
                bad.add("daily_call_limit")
            if sum(1 for a in today if a.conversation) >= 3:
                bad.add("daily_connected_limit")
        if c.party == "emergency_contact" and c.purpose != "reestablish_contact" or c.party == "third_party":
            bad.add("debtor_only")
        if c.party != "debtor" and c.discloses_debt:
            bad.add("no_third_party_disclosure")
        if c.party != "debtor" and not _unreachable(c, t, history):
            bad.add("third_party_only_when_unreachable")
        if c.party != "debtor" and c.refused:
            bad.add("third_party_refusal")
        if c.channel == "visit" and (c.collectors < 2 or c.entered and not c.entry_consent):
            bad.add("field_visit")
        if c.channel == "call" and not c.recorded:
            bad.add("call_recording")
        return bad
    # us-reg-f
    if not_letter and not 8 <= hour < 21 and not _appointment_open(c, t):
        bad.add("inconvenient_time")

    def within_week(a: Attempt) -> bool:
        days = (local.date() - a.at.astimezone(tz).date()).days
        return days < 7 or t.astimezone(UTC) - a.at.astimezone(UTC) < WEEK

    if c.channel == "call" and c.party == "debtor":
        calls = [a for a in history if a.channel == "call" and a.party == "debtor" and _same_debt(c, a)
                 and within_week(a)]
        if len(calls) >= 7:
            bad.add("call_frequency")
        if any(a.conversation and a.party == "debtor" and _same_debt(c, a) and within_week(a) for a in history):
            bad.add("after_conversation")
    if c.opted_out:
        bad.add("medium_opt_out")
    if c.channel in ("email", "sms", "app") and not c.opt_out_notice:
        bad.add("opt_out_notice")
    if c.channel == "call" and not c.voicemail_limited:
        bad.add("limited_content_voicemail")
    if c.party != "debtor":
        if c.purpose != "reestablish_contact":
            bad.add("third_parties_location_only")
        if c.discloses_debt:
            bad.add("no_third_party_disclosure")
        same = [a for a in history if a.party != "debtor"
                and (c.party_ref is None or a.party_ref is None or a.party_ref == c.party_ref)]
        if same:
            bad.add("location_contact_once")
    bad |= regf_oracle(c, t, local)
    return bad


def regf_oracle(c: ContactCandidate, t: datetime, local: datetime) -> set[str]:
    """The Regulation F rules of us-reg-f, plainly (docs/compliance.md)."""
    bad: set[str] = set()
    if c.party == "debtor":
        if c.ceased_at is not None and c.ceased_at <= t and c.cease_exception is None:
            bad.add("cease_communication")
        if c.employer_forbids or (c.channel == "email" and c.employer_email):
            bad.add("place_of_employment")
        initial = c.first_communication_at is None or c.first_communication_at >= t
        enough = ("full",) if initial else ("full", "debt_collector")
        if not c.limited_content_only and c.collector_disclosure not in enough:
            bad.add("collector_disclosure")
    if c.channel == "letter" and (c.letter_format != "sealed" or c.envelope_text != "return_address"):
        bad.add("sealed_envelope")
    if c.threatens_suit and c.limitation_date is not None and local.date() >= c.limitation_date:
        bad.add("time_barred_debt")
    return bad


def regf_starts(pack: str, c: ContactCandidate) -> list[datetime]:
    """Instants from which a Regulation F rule blocks the contact for good (a cease request not yet
    received, a limitation date not yet reached)."""
    if pack != "us-reg-f":
        return []
    out = []
    if c.party == "debtor" and c.ceased_at is not None and c.cease_exception is None:
        out.append(c.ceased_at)
    if c.threatens_suit and c.limitation_date is not None:
        out.append(datetime.combine(c.limitation_date, datetime.min.time(), tzinfo=_z(c.tz)))
    return out


def regf_facts(r: random.Random, at: datetime) -> dict:
    """Regulation F facts of a random contact: mostly those of a compliant one, sometimes not."""
    return {
        "collector_disclosure": "full" if r.random() < 0.85 else r.choice(("none", "debt_collector")),
        "first_communication_at": None if r.random() < 0.3 else at - timedelta(seconds=r.randint(-3600, 30 * 86400)),
        "ceased_at": None if r.random() < 0.95 else at + timedelta(seconds=r.randint(-5 * 86400, 2 * 86400)),
        "cease_exception": None if r.random() < 0.8 else "efforts_terminated",
        "employer_forbids": r.random() < 0.03, "employer_email": r.random() < 0.05,
        "limited_content_only": r.random() < 0.05,
        "letter_format": "sealed" if r.random() < 0.9 else r.choice((None, "postcard")),
        "envelope_text": "return_address" if r.random() < 0.9 else r.choice((None, "other")),
        "threatens_suit": r.random() < 0.2,
        "limitation_date": None if r.random() < 0.7 else (at + timedelta(days=r.randint(-3, 3))).date(),
    }


def lifted(pack: str, overrides: tuple[Override, ...]) -> set[str]:
    """Rules a valid override lifts (the approver's role may override the rule; reason and approver given)."""
    table = OVERRIDABLE[pack]
    return {o.rule_id for o in overrides
            if o.approver_role in table.get(o.rule_id, ()) and o.reason.strip() and o.approver.strip()}


def never_allowed(pack: str, c: ContactCandidate, violated: set[str], lift: set[str], rng: random.Random) -> bool:
    """Is a ``None`` next-allowed time justified? Either a violation that waiting cannot cure (a timeless
    rule), or an open-ended hold that is not overridden and, until it starts, no sampled instant passes."""
    if violated & TIMELESS:
        return True
    starts = [h.start for h in c.holds if h.end is None and HOLD_RULE[h.kind] not in lift]
    starts += regf_starts(pack, c)
    if not starts:
        return False
    until = max(min(starts), c.at)
    span = int((until - c.at).total_seconds())
    samples = [c.at + timedelta(seconds=rng.randrange(span)) for _ in range(40)] if span > 0 else []
    samples += [h.end for h in c.holds if h.end is not None and c.at <= h.end < until]
    return all(oracle(pack, c, t) - lift for t in samples)


def check(pack_name: str, c: ContactCandidate, overrides: tuple[Override, ...], deep: bool,
          rng: random.Random) -> tuple[bool, bool]:
    pack = PACKS[pack_name]
    d = gate(c, pack, overrides)
    lift = lifted(pack_name, overrides)
    violated = oracle(pack_name, c, c.at)
    expected = violated - lift
    got = {b.rule_id for b in d.blocks}
    assert got == expected, (c, overrides, got, expected)
    assert d.allowed == (not expected)
    assert {b.rule_id for b in d.overridden} == violated & lift
    for b in d.blocks:
        assert b.rule_id and b.source.strip() and b.message.strip() and b.message_zh.strip()
        assert b.next_allowed_at is None or b.next_allowed_at >= c.at
    if d.allowed:
        assert d.next_allowed_at == c.at
        return True, False
    if not deep:
        return False, False
    nxt = d.next_allowed_at
    if nxt is None:
        assert never_allowed(pack_name, c, expected, lift, rng), (c, expected)
        return False, True
    assert nxt > c.at
    assert not (oracle(pack_name, c, nxt) - lift), (c, nxt)
    assert gate(c.at_time(nxt), pack, overrides).allowed
    for b in d.blocks:  # each rule's own next time: that rule no longer blocks there
        if b.next_allowed_at is not None:
            assert b.rule_id not in oracle(pack_name, c, b.next_allowed_at), (c, b)
    earlier = [nxt - timedelta(seconds=1)]
    span = int((nxt - c.at).total_seconds())
    earlier += [c.at + timedelta(seconds=rng.randrange(span)) for _ in range(3)]
    for e in earlier:
        if e >= c.at:
            assert oracle(pack_name, c, e) - lift, (c, nxt, e)
    return False, True


# -- the random candidates ---------------------------------------------------------------------------

ZONES = ("Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "America/New_York", "America/Los_Angeles",
         "America/Chicago", "America/Phoenix", "Europe/London", "Europe/Berlin", "Australia/Sydney",
         "Australia/Lord_Howe", "Pacific/Auckland", "America/Havana", "America/Santiago", "Asia/Kolkata")
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2027, 12, 31, tzinfo=UTC)
SPAN = int((END - START).total_seconds())
CHANNELS = ("call", "call", "call", "call", "call", "sms", "sms", "email", "app", "letter", "visit")
PARTIES = ("debtor",) * 17 + ("emergency_contact", "emergency_contact", "third_party")
PURPOSES = ("collection",) * 6 + ("reestablish_contact",) * 2 + ("reminder", "service")
KINDS = ("dispute", "complaint", "hardship", "bankruptcy", "deceased", "fraud", "legal")
COUNTRIES = (None,) * 6 + ("CN", "US", "GB", "HK")
RULE_IDS = ("public_holiday", "hold_dispute", "hold_hardship", "hold_legal", "hold_protected", "quiet_hours",
            "location_contact_once", "call_frequency", "nope")
ROLES = ("agent", "team_lead", "supervisor", "compliance")
BOUNDARIES = tuple(h * 3600 + d for h in (0, 8, 9, 20, 21, 22) for d in (-1, 0, 1))


def _transitions(name: str) -> list[datetime]:
    """UTC instants at which the zone's offset changes, 2025-2027 (daily scan, then to the second)."""
    tz = _z(name)
    out = []
    t = START
    prev = t.astimezone(tz).utcoffset()
    while t < END:
        nxt = t + timedelta(days=1)
        off = nxt.astimezone(tz).utcoffset()
        if off != prev:
            lo, hi = t, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi.replace(microsecond=0))
            prev = off
        t = nxt
    return out


TRANSITIONS = {z: _transitions(z) for z in ZONES}
HOLIDAY_DAYS = sorted({d for y in (2025, 2026, 2027) for c in ("CN", "US") for d in holidays.country_holidays(c, years=y)})


class Generator:
    """Seeded bulk generator: numpy draws the numbers for a chunk, Python assembles the candidates."""

    def __init__(self, seed: int) -> None:
        self.np = np.random.default_rng(seed)
        self.rng = random.Random(seed)

    def instant(self, tz_name: str, kind: int, u: float, r: random.Random) -> datetime:
        if kind == 0:  # anywhere in three years
            return START + timedelta(seconds=int(u * SPAN))
        if kind == 1:  # near a daylight-saving change
            trans = TRANSITIONS[tz_name]
            if trans:
                return r.choice(trans) + timedelta(seconds=r.randint(-36 * 3600, 36 * 3600))
        tz = _z(tz_name)
        if kind == 2:  # a holiday at a boundary time
            day = r.choice(HOLIDAY_DAYS) + timedelta(days=r.choice((-1, 0, 0, 0, 1)))
        else:  # any day at a boundary time
            day = (START + timedelta(seconds=int(u * SPAN))).date()
        seconds = max(0, r.choice(BOUNDARIES) + r.randint(-2, 2) * r.choice((1, 60, 1800)))
        naive = datetime(day.year, day.month, day.day) + timedelta(seconds=seconds)
        return naive.replace(tzinfo=tz, fold=r.randint(0, 1)).astimezone(UTC)

    def batch(self, n: int) -> list[tuple[str, ContactCandidate, tuple[Override, ...]]]:
        """``n`` candidates in families of FAMILY: one random history (zone, time, attempts, holds) shared by
        candidates that differ in pack, time (shifted forward by whole hours or random seconds, so the
        history stays in the past and boundary-aligned times stay aligned), channel, party, purpose,
        country, flags, appointment and overrides."""
        g, r = self.np, self.rng
        m = n // FAMILY
        kinds = g.choice(4, size=m, p=[0.3, 0.25, 0.25, 0.2]).tolist()
        us = g.random(m).tolist()
        n_att = g.choice([0, 1, 3, 5, 6, 7, 8, 10, 14], size=m, p=[.15, .1, .1, .1, .15, .15, .1, .1, .05])
        recent = g.random(m) < 0.5
        # every attempt's fields, drawn at once for the whole batch
        total = int(n_att.sum())
        owner = np.repeat(np.arange(m), n_att)
        span = np.where(recent[owner], 20 * 3600, 9 * 86400)
        a_off = (1 + (g.random(total) * span).astype(np.int64)).tolist()
        a_chan = np.where(g.random(total) < 0.8, 0, g.integers(0, len(CHANNELS), total)).tolist()
        a_party = np.where(g.random(total) < 0.85, 0, g.integers(1, 3, total)).tolist()
        a_conv = (g.random(total) < 0.08).tolist()
        a_acct = g.integers(0, 5, total).tolist()
        a_ref = g.integers(0, 4, total).tolist()
        n_att = n_att.tolist()
        f = g.random((n, 16)).tolist()
        shift = np.where(g.random(n) < 0.6, g.integers(0, 31, n) * 3600, g.integers(0, 36 * 3600, n)).tolist()
        accounts = (None, None, None, "A1", "A2")
        refs = (None, "P1", "P2", "P3")
        parties = ("debtor", "emergency_contact", "third_party")
        out = []
        k = 0
        for i in range(m):
            tz = r.choice(ZONES[:3]) if kinds[i] == 2 and r.random() < 0.5 else r.choice(ZONES)  # CN holidays
            base = self.instant(tz, kinds[i], us[i], r)
            attempts = tuple(Attempt(at=base - timedelta(seconds=a_off[j]), channel=CHANNELS[a_chan[j]],
                                     party=parties[a_party[j]], conversation=a_conv[j],
                                     account_id=accounts[a_acct[j]], party_ref=refs[a_ref[j]])
                             for j in range(k, k + n_att[i]))
            k += n_att[i]
            holds = []
            for _ in range(r.choice((0, 0, 0, 0, 0, 0, 1, 1, 2))):
                start = base + timedelta(seconds=r.randint(-5 * 86400, 2 * 86400))
                end = None if r.random() < 0.2 else start + timedelta(seconds=r.randint(3600, 6 * 86400))
                holds.append(Hold(r.choice(KINDS), start, end))
            hold_tuple = tuple(holds)
            for v in range(i * FAMILY, (i + 1) * FAMILY):
                fi = f[v]
                at = base + timedelta(seconds=shift[v]) if v % FAMILY else base
                party = PARTIES[int(fi[3] * len(PARTIES))]
                appointment = None
                if fi[5] < 0.12:
                    s = at + timedelta(seconds=r.randint(-3 * 3600, 12 * 3600))
                    appointment = Appointment(s, s + timedelta(seconds=r.randint(900, 7200)))
                overrides: tuple[Override, ...] = ()
                if fi[6] < 0.08:
                    overrides = (Override(r.choice(RULE_IDS), r.choice(("customer asked", " ")), "approver",
                                          r.choice(ROLES)),)
                c = ContactCandidate(
                    at=at, channel=CHANNELS[int(fi[7] * len(CHANNELS))], party=party,
                    purpose=PURPOSES[int(fi[8] * len(PURPOSES))], tz=tz, account_id="A1",
                    country=COUNTRIES[int(fi[9] * len(COUNTRIES))],
                    party_ref=(None, "P1", "P2", "P4")[int(fi[10] * 4)],
                    opted_out=fi[11] < 0.04, recorded=fi[12] < 0.95, voicemail_limited=fi[13] < 0.95,
                    opt_out_notice=fi[14] < 0.95,
                    discloses_debt=(fi[15] < 0.9) if party == "debtor" else (fi[15] < 0.4),
                    attempts=attempts, holds=hold_tuple, appointment=appointment, **regf_facts(r, at),
                )
                out.append(("cn" if fi[0] < 0.5 else "us-reg-f", c, overrides))
        return out


TOTAL = 1_000_000
FAMILY = 8
CHUNKS = 8
BATCH = 5_000


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_gate_agrees_with_the_oracle_on_a_million_candidates(chunk: int) -> None:
    gen = Generator(seed=20_260_000 + chunk)
    rng = random.Random(chunk)
    allowed = blocked = deep = 0
    # Nothing here makes reference cycles; without the cyclic collector's full sweeps over the batch
    # the run is about a third faster.
    gc.disable()
    try:
        for _ in range(TOTAL // CHUNKS // BATCH):
            for i, (pack, c, overrides) in enumerate(gen.batch(BATCH)):
                ok, checked = check(pack, c, overrides, deep=i % 25 == 0, rng=rng)
                allowed += ok
                blocked += not ok
                deep += checked
    finally:
        gc.enable()
    # the distribution must exercise both outcomes, not just one
    assert allowed > TOTAL // CHUNKS // 10 and blocked > TOTAL // CHUNKS // 10
    assert deep > 1000


def test_transition_scan_finds_the_known_changes() -> None:
    assert datetime(2026, 3, 8, 7, 0, tzinfo=UTC) in TRANSITIONS["America/New_York"]
    assert datetime(2026, 11, 1, 6, 0, tzinfo=UTC) in TRANSITIONS["America/New_York"]
    assert TRANSITIONS["Asia/Shanghai"] == []


# -- the same properties, driven by hypothesis -------------------------------------------------------

aware = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=0))


@st.composite
def candidates(draw) -> tuple[str, ContactCandidate, tuple[Override, ...]]:
    at = draw(aware)
    offsets = st.integers(min_value=1, max_value=10 * 86400)
    attempts = draw(st.lists(st.builds(
        Attempt, at=offsets.map(lambda s: at - timedelta(seconds=s)), channel=st.sampled_from(CHANNELS),
        party=st.sampled_from(PARTIES), conversation=st.booleans(), account_id=st.sampled_from((None, "A1", "A2")),
        party_ref=st.sampled_from((None, "P1", "P2"))), max_size=12))
    holds = draw(st.lists(st.builds(
        lambda kind, s, length: Hold(kind, at + timedelta(seconds=s), None if length is None
                                     else at + timedelta(seconds=s + length)),
        st.sampled_from(KINDS), st.integers(-5 * 86400, 2 * 86400),
        st.none() | st.integers(1, 6 * 86400)), max_size=2))
    appointment = draw(st.none() | st.builds(
        lambda s, length: Appointment(at + timedelta(seconds=s), at + timedelta(seconds=s + length)),
        st.integers(-3 * 3600, 12 * 3600), st.integers(60, 7200)))
    party = draw(st.sampled_from(("debtor", "emergency_contact", "third_party")))
    c = ContactCandidate(
        at=at, channel=draw(st.sampled_from(CHANNELS)), party=party, purpose=draw(st.sampled_from(PURPOSES)),
        tz=draw(st.sampled_from(ZONES)), account_id="A1", country=draw(st.sampled_from(COUNTRIES)),
        party_ref=draw(st.sampled_from((None, "P1", "P3"))), opted_out=draw(st.booleans()),
        recorded=draw(st.booleans()), voicemail_limited=draw(st.booleans()), opt_out_notice=draw(st.booleans()),
        discloses_debt=draw(st.booleans()), attempts=tuple(attempts), holds=tuple(holds), appointment=appointment,
        **regf_facts(random.Random(draw(st.integers(0, 2**32))), at))
    overrides = tuple(draw(st.lists(st.builds(Override, st.sampled_from(RULE_IDS), st.sampled_from(("why", ""))
                                              , st.just("boss"), st.sampled_from(ROLES)), max_size=2)))
    return draw(st.sampled_from(("cn", "us-reg-f"))), c, overrides


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidates(), st.integers(0, 2**32))
def test_gate_properties_hypothesis(case, seed) -> None:
    pack, c, overrides = case
    check(pack, c, overrides, deep=True, rng=random.Random(seed))
