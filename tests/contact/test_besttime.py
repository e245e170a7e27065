"""The best-time model: Beta updates by hand, the prior's shape, Thompson sampling, appointments, words, DST."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from arrears.contact.besttime import (
    DEFAULT_PRIOR,
    SLOTS,
    SlotCounts,
    best_hours,
    explain,
    fit,
    local_slots,
    moment_strength,
    quiet_mask,
    segment_key,
    slot,
    slot_label,
    slot_of,
)

SAT_10 = slot(5, 10)
SAT_11 = slot(5, 11)


def counts(rows: dict[int, dict[int, tuple[int, int]]]) -> SlotCounts:
    """{customer: {slot: (attempts, rpc)}} as SlotCounts."""
    ids = sorted(rows)
    n = np.zeros((len(ids), SLOTS), np.int32)
    y = np.zeros((len(ids), SLOTS), np.int32)
    for i, c in enumerate(ids):
        for s, (a, r) in rows[c].items():
            n[i, s], y[i, s] = a, r
    return SlotCounts(np.array(ids), n, y)


def test_posterior_is_the_hand_computed_beta_update() -> None:
    data = counts({1: {SAT_10: (4, 3)}, 2: {SAT_10: (6, 1)}, 3: {SAT_10: (2, 0)}})
    model = fit(data, ["A", "A", "B"], customer_strength=10.0)
    m0 = Fraction(28, 100)  # the prior shape's weekend daytime
    assert DEFAULT_PRIOR.means()[SAT_10] == pytest.approx(float(m0))
    mu_p = (m0 * 100 + 4) / (100 + 12)                     # portfolio: 12 calls, 4 RPCs
    mu_a = (mu_p * 50 + 4) / (50 + 10)                     # segment A: 10 calls, 4 RPCs
    mu_b = (mu_p * 50 + 0) / (50 + 2)                      # segment B: 2 calls, none
    assert model.portfolio_mean[SAT_10] == pytest.approx(float(mu_p))
    assert model.segment_mean[list(model.segments).index("A"), SAT_10] == pytest.approx(float(mu_a))
    alpha, beta = model.params(model.rows([1, 2, 3]))
    assert alpha[0, SAT_10] == pytest.approx(float(mu_a * 10 + 3))
    assert beta[0, SAT_10] == pytest.approx(float((1 - mu_a) * 10 + 1))
    assert beta[1, SAT_10] == pytest.approx(float((1 - mu_a) * 10 + 5))
    assert alpha[2, SAT_10] == pytest.approx(float(mu_b * 10))
    mean = model.posterior_mean(model.rows([1]))[0, SAT_10]
    assert mean == pytest.approx(float((mu_a * 10 + 3) / (10 + 4)))
    # a slot nobody was called in: the customer's mean is the segment's, which is the prior shape's
    tue_20 = slot(1, 20)
    assert model.posterior_mean(model.rows([3]))[0, tue_20] == pytest.approx(DEFAULT_PRIOR.means()[tue_20])


def test_prior_shape_weekday_daytime_below_evenings_and_weekends_quiet_hours_have_no_mass() -> None:
    m = DEFAULT_PRIOR.means()
    weekday_day = [m[slot(d, h)] for d in range(5) for h in range(9, 17)]
    evenings = [m[slot(d, h)] for d in range(5) for h in range(18, 21)]
    weekend_day = [m[slot(d, h)] for d in (5, 6) for h in range(9, 18)]
    assert max(weekday_day) < min(evenings)
    assert max(weekday_day) < min(weekend_day)
    quiet = [slot(d, h) for d in range(7) for h in (*range(0, 8), 22, 23)]
    assert len(quiet) == 70 and all(m[s] == 0 for s in quiet)
    assert all(m[s] > 0 for s in set(range(SLOTS)) - set(quiet))
    # even calls recorded in quiet hours (a data error) give those slots no mass
    data = counts({1: {slot(2, 23): (5, 5), slot(2, 7): (3, 3)}})
    model = fit(data, ["A"])
    assert model.posterior_mean()[0, slot(2, 23)] == 0 and model.posterior_mean()[0, slot(2, 7)] == 0
    draws = model.thompson(np.random.default_rng(1))
    assert (draws[0, ~quiet_mask()] == 0).all() and (draws[0, quiet_mask()] > 0).all()


def test_method_of_moments_recovers_the_customer_strength() -> None:
    rng = np.random.default_rng(11)
    mean = np.full(10, 0.3)
    p = rng.beta(0.3 * 9, 0.7 * 9, size=(4000, 10))  # kappa = 9
    n = rng.integers(0, 6, size=(4000, 10))
    y = rng.binomial(n, p)
    kappa = moment_strength(n, y, mean)
    assert kappa is not None and 7.0 < kappa < 11.5
    assert moment_strength(np.ones((5, 10), int), np.zeros((5, 10), int), mean) is None  # too few pairs


def test_thompson_is_reproducible_with_a_seed() -> None:
    model = fit(counts({1: {SAT_10: (4, 3)}, 2: {SAT_11: (3, 0)}}), ["A", "A"])
    a = model.thompson(np.random.default_rng(42))
    b = model.thompson(np.random.default_rng(42))
    c = model.thompson(np.random.default_rng(43))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_thompson_concentrates_on_the_best_slot_as_data_grows() -> None:
    """A bandit over three evening slots (true 0.55 / 0.35 / 0.25): pick the slot of the highest draw,
    observe, refit. Early picks explore; late picks are nearly all the best slot."""
    rng = np.random.default_rng(2026)
    arms = {slot(1, 18): 0.35, slot(1, 19): 0.55, slot(1, 20): 0.25}
    best = slot(1, 19)
    n = np.zeros((1, SLOTS), np.int32)
    y = np.zeros((1, SLOTS), np.int32)
    picks = []
    allowed = np.array(list(arms))
    for _ in range(600):
        model = fit(SlotCounts(np.array([1]), n, y), ["A"], customer_strength=4.0)
        draws = model.thompson(rng)[0, allowed]
        s = int(allowed[np.argmax(draws)])
        picks.append(s)
        n[0, s] += 1
        y[0, s] += int(rng.random() < arms[s])
    early = np.mean([p == best for p in picks[:50]])
    late = np.mean([p == best for p in picks[-200:]])
    assert late > 0.85
    assert early < late
    assert len(set(picks[:50])) == 3  # it did explore


def test_appointment_overrides_the_model_and_says_so() -> None:
    model = fit(counts({1: {slot(1, 10): (5, 0), slot(1, 19): (5, 5)}}), ["A"])
    tz = "Asia/Shanghai"
    start = datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo(tz))  # Tuesday 10:00 local, never answered there
    choices = best_hours(model, 1, top=2, locale="en", appointments=[(start, start + timedelta(hours=1))], tz=tz)
    assert choices[0].slot == slot(1, 10) and choices[0].appointment and choices[0].probability == 1.0
    assert "asked to be called" in choices[0].explanation and "overrides the model" in choices[0].explanation
    assert choices[1].slot == slot(1, 19) and not choices[1].appointment
    zh = best_hours(model, 1, top=1, appointments=[(start, start + timedelta(hours=1))], tz=tz)[0]
    assert zh.explanation == "周二 10:00–11:00：客户本人预约在此时段联系，预约优先于模型"
    # an appointment in the quiet hours is not proposed: the customer's request does not lift them
    night = datetime(2026, 3, 10, 23, 0, tzinfo=ZoneInfo(tz))
    choice = best_hours(model, 1, top=1, appointments=[(night, night + timedelta(hours=1))], tz=tz)[0]
    assert choice.slot == slot(1, 19) and not choice.appointment


def test_explanation_in_words() -> None:
    # the customer 3/4 on Saturday 10:00; the segment 19/50 = 38% over weekend mornings
    data = counts({1: {SAT_10: (4, 3)}, 2: {SAT_11: (30, 10), slot(6, 9): (16, 6)}, 3: {SAT_10: (9, 9)}})
    model = fit(data, ["M1|30-44", "M1|30-44", "M2|60+"])
    mean = model.posterior_mean(model.rows([1]))[0, SAT_10]
    pct = f"{round(100 * mean)}%"
    assert explain(model, 1, SAT_10) == f"周六 10:00–11:00：本人过去在该时段接通 3/4 次；同类客户周末上午接通率 38%；估计接通概率 {pct}"
    assert explain(model, 1, SAT_10, locale="en") == (
        f"Saturday 10:00–11:00: reached 3 of 4 times in this hour; similar customers 38% on weekend mornings; "
        f"estimated {pct} chance of reaching them")
    # little data for the segment in that part of the day: the model's estimate, said as such
    text = explain(model, 1, slot(2, 19), locale="en")
    assert text.startswith("Wednesday 19:00–20:00: not yet called in this hour; similar customers expected ")
    assert "(little data yet)" in text
    assert "禁止联系时段" in explain(model, 1, slot(2, 23))
    assert slot_label(slot(6, 21)) == "周日 21:00–22:00"


@pytest.mark.parametrize(("utc", "tz", "expected"), [
    # 2026-03-08, New York springs forward at 02:00 EST: 01:30 EST is 06:30 UTC, Sunday 01:00 slot
    (datetime(2026, 3, 8, 6, 30, tzinfo=UTC), "America/New_York", slot(6, 1)),
    (datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "America/New_York", slot(6, 3)),  # 03:30 EDT: no 02:00 that day
    # 2026-11-01, New York falls back at 02:00 EDT: 01:30 happens twice, both in the Sunday 01:00 slot
    (datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "America/New_York", slot(6, 1)),
    (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "America/New_York", slot(6, 1)),
    (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/London", slot(6, 0)),
    (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "Europe/London", slot(6, 2)),
    (datetime(2026, 3, 14, 2, 0, tzinfo=UTC), "Asia/Shanghai", SAT_10),
    (datetime(2026, 3, 14, 4, 0, tzinfo=UTC), "Asia/Urumqi", SAT_10),
])
def test_dst_and_zones_put_calls_in_the_local_slot(utc: datetime, tz: str, expected: int) -> None:
    assert slot_of(utc, tz) == expected
    assert local_slots([int(utc.timestamp())], tz).tolist() == [expected]


def test_vectorised_slots_equal_the_reference_on_random_instants() -> None:
    rng = random.Random(5)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for tz in ("America/New_York", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "Asia/Shanghai"):
        instants = [base + timedelta(seconds=rng.randrange(3 * 365 * 86400)) for _ in range(500)]
        got = local_slots([int(t.timestamp()) for t in instants], tz)
        assert got.tolist() == [slot_of(t, tz) for t in instants]


def test_counts_from_events_and_segment_key() -> None:
    c = SlotCounts.from_events(np.array([7, 7, 3]), np.array([5, 5, 9]), np.array([1, 0, 1]), universe=[11])
    assert c.customer_ids.tolist() == [3, 7, 11]
    assert c.attempts[1, 5] == 2 and c.rpc[1, 5] == 1 and c.rpc[0, 9] == 1 and c.attempts[2].sum() == 0
    with pytest.raises(ValueError):
        SlotCounts(np.array([1]), np.zeros((1, SLOTS), np.int32), np.ones((1, SLOTS), np.int32))
    assert segment_key("M2", date(1990, 6, 1), date(2026, 3, 10)) == "M2|30-44"
    assert segment_key(None, None, date(2026, 3, 10)) == "-|unknown"
