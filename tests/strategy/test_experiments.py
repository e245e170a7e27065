"""Champion/challenger: stable assignment (Python, DuckDB, Spark text), validation, read-out arithmetic."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from arrears.kit.errors import ConfigError
from arrears.strategy.experiments import (
    Arm,
    ArmStats,
    Experiment,
    ExperimentError,
    Outcome,
    arm_stats,
    arm_stats_from_rows,
    arm_stats_sql,
    assign,
    assign_codes,
    assignment_sql,
    attribute,
    bucket_of,
    bucket_sql,
    load_experiments,
    moved_share_bp,
    newcombe_difference,
    poisson_interval,
    readout,
    readout_of_outcomes,
    wilson_interval,
)

Z95 = 1.959963984540054


def three_arms(salt: str = "exp-2026q4-v1") -> Experiment:
    return Experiment("exp-2026q4", (Arm("champ", 7000, strategy="std"), Arm("b", 2000, strategy="sms-evening"),
                                     Arm("c", 1000, segment="low-touch")), salt)


def ids(n: int) -> list[str]:
    """A mix of card-number-like, bank-style and Chinese ids."""
    out = []
    for i in range(n):
        kind = i % 3
        out.append(f"622588{i:010d}" if kind == 0 else f"ACC-{i:07d}" if kind == 1 else f"账户{i}")
    return out


# --- assignment -------------------------------------------------------------------------------

# Fixed vectors: SHA-256 of "salt:id", first 8 hex digits, mod 10,000. If one of these changes,
# every running experiment would re-deal its accounts.
KNOWN = [
    ("ACC001", "s1", 5131),
    ("6225880000000001", "early-sms-2026q4", 183),
    ("账户-42", "early-sms-2026q4", 4838),
    (1234567, "x", 8774),
    ("", "s1", 3348),
]


@pytest.mark.parametrize(("account", "salt", "bucket"), KNOWN)
def test_known_buckets(account, salt, bucket) -> None:
    assert bucket_of(account, salt) == bucket


def test_bucket_to_arm_by_cumulative_shares() -> None:
    exp = three_arms()
    assert exp.boundaries == (7000, 9000, 10000)
    assert [exp.arm_for_bucket(b).code for b in (0, 6999, 7000, 8999, 9000, 9999)] == \
        ["champ", "champ", "b", "b", "c", "c"]
    with pytest.raises(ExperimentError):
        exp.arm_for_bucket(10000)


def test_same_arm_in_another_process() -> None:
    """Another interpreter (another hash seed) deals the same arms: nothing depends on hash()."""
    sample = ids(2000)
    here = assign_codes(sample, three_arms())
    code = ("import sys, json; from arrears.strategy.experiments import assign_codes, Experiment, Arm;"
            "e = Experiment('exp-2026q4', (Arm('champ', 7000), Arm('b', 2000), Arm('c', 1000)), 'exp-2026q4-v1');"
            "print(json.dumps(assign_codes(json.load(sys.stdin), e)))")
    import json
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(sample), capture_output=True, text=True,
                         env=env, check=True, timeout=60)
    assert json.loads(out.stdout) == here
    assert here == [assign(i, three_arms()).code for i in sample]  # and the same run to run


def test_distribution_matches_shares_on_100k() -> None:
    exp = three_arms()
    codes = assign_codes(ids(100_000), exp)
    n = len(codes)
    for arm in exp.arms:
        p = arm.share_bp / 10_000
        got = codes.count(arm.code)
        sd = math.sqrt(n * p * (1 - p))
        assert abs(got - n * p) < 4.5 * sd, (arm.code, got)
    # and the buckets themselves are uniform: chi-square over 100 groups of 100 buckets
    counts = [0] * 100
    for i in ids(100_000):
        counts[bucket_of(i, "uniformity") // 100] += 1
    assert stats.chisquare(counts).pvalue > 1e-4


def test_salt_separates_experiments() -> None:
    sample = ids(20_000)
    a = [bucket_of(i, "exp-a") < 5000 for i in sample]
    b = [bucket_of(i, "exp-b") < 5000 for i in sample]
    both = sum(x and y for x, y in zip(a, b)) / len(sample)
    assert abs(both - 0.25) < 0.015  # independent halves: a quarter in both


def test_python_equals_duckdb_on_100k_ids() -> None:
    exp = three_arms()
    sample = ids(100_000)
    table = pa.table({"account_id": sample, "n": list(range(len(sample)))})
    con = duckdb.connect()
    con.register("accounts", table)
    rows = con.sql(f"SELECT {bucket_sql('account_id', exp.salt)} AS bucket, {assignment_sql(exp)} AS arm "
                   f"FROM accounts ORDER BY n").fetchall()
    assert [r[0] for r in rows] == [bucket_of(i, exp.salt) for i in sample]
    assert [r[1] for r in rows] == assign_codes(sample, exp)


def test_python_equals_duckdb_on_integer_ids() -> None:
    exp = three_arms()
    numbers = list(range(10**15, 10**15 + 20_000))
    con = duckdb.connect()
    con.register("accounts", pa.table({"account_id": pa.array(numbers, pa.int64())}))
    rows = con.sql(f"SELECT account_id, {assignment_sql(exp)} FROM accounts ORDER BY account_id").fetchall()
    assert [r[1] for r in rows] == assign_codes(numbers, exp)


def test_spark_sql_text() -> None:
    exp = Experiment("e", (Arm("a", 5000), Arm("b", 5000)), "e-v1")
    assert bucket_sql("account_id", "e-v1", "spark") == (
        "pmod(CAST(conv(substring(sha2(concat('e-v1:', CAST(account_id AS STRING)), 256), 1, 8), 16, 10) AS BIGINT), 10000)"
    )
    text = assignment_sql(exp, dialect="spark")
    assert text == ("(CASE WHEN pmod(CAST(conv(substring(sha2(concat('e-v1:', CAST(account_id AS STRING)), 256), 1, 8), "
                    "16, 10) AS BIGINT), 10000) < 5000 THEN 'a' ELSE 'b' END)")
    sqlglot.parse_one(f"SELECT {text} AS arm FROM t", read="spark")  # valid Spark SQL


def test_zero_share_arm_gets_nobody_and_sql_skips_it() -> None:
    exp = Experiment("e", (Arm("a", 6000), Arm("paused", 0), Arm("b", 4000)), "e-v1")
    codes = set(assign_codes(ids(5000), exp))
    assert codes == {"a", "b"}
    assert "paused" not in assignment_sql(exp)


def test_changing_shares_moves_only_the_margin() -> None:
    old = Experiment("e", (Arm("a", 5000), Arm("b", 5000)), "e-v1")
    new = Experiment("e", (Arm("a", 4000), Arm("b", 6000)), "e-v1")
    assert moved_share_bp(old, new) == 1000
    sample = ids(20_000)
    for i, before, after in zip(sample, assign_codes(sample, old), assign_codes(sample, new)):
        if before != after:
            assert (before, after) == ("a", "b") and 4000 <= bucket_of(i, "e-v1") < 5000
    # growing the first of three arms shifts the later ranges too
    old3 = Experiment("e", (Arm("a", 5000), Arm("b", 2500), Arm("c", 2500)), "e-v1")
    new3 = Experiment("e", (Arm("a", 4000), Arm("b", 2500), Arm("c", 3500)), "e-v1")
    assert moved_share_bp(old3, new3) == 2000
    with pytest.raises(ExperimentError, match="salts"):
        moved_share_bp(old, Experiment("e", old.arms, "e-v2"))


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Experiment("e", (Arm("a", 5000), Arm("b", 4000)), "s"), "sum to 9000 bp"),
    (lambda: Experiment("e", (Arm("a", 5000), Arm("a", 5000)), "s"), "duplicate arm"),
    (lambda: Experiment("e", (), "s"), "at least one arm"),
    (lambda: Experiment("e", (Arm("a", 10000),), "bad salt'"), "salt"),
    (lambda: Experiment("e", (Arm("a", 10000),), "s", champion="z"), "champion"),
    (lambda: Experiment("e e", (Arm("a", 10000),), "s"), "experiment code"),
    (lambda: Experiment("e", (Arm("a", 10000),), "s", start=__import__("datetime").date(2026, 2, 1),
                        end=__import__("datetime").date(2026, 1, 1)), "before start"),
    (lambda: Arm("a", 10001), "0..10000"),
    (lambda: Arm("a", 50.0), "whole number"),
    (lambda: Arm("a'", 50), "arm code"),
    (lambda: Arm.with_share("a", 0.5), "never float"),
    (lambda: Arm.with_share("a", "0.12345"), "basis points"),
    (lambda: Outcome("x", True, False, -1, 0, 0), "recovered_fen must be >= 0"),
    (lambda: Outcome("x", True, False, 10.5, 0, 0), "whole number"),
    (lambda: Outcome("x", 1, False, 0, 0, 0), "true or false"),
    (lambda: bucket_sql("id; drop table x", "s"), "plain column"),
    (lambda: bucket_sql("id", "s", "oracle"), "dialect"),
    (lambda: wilson_interval(3, 2), "successes"),
])
def test_invalid_inputs(build, message) -> None:
    with pytest.raises(ExperimentError, match=message):
        build()


def test_share_as_fraction() -> None:
    assert Arm.with_share("a", Decimal("0.125")).share_bp == 1250
    assert Arm.with_share("a", "1").share_bp == 10000


def test_attribution_checks_recorded_arm() -> None:
    exp = three_arms()
    right = assign("ACC-1", exp).code
    wrong = next(a.code for a in exp.arms if a.code != right)
    assert attribute([Outcome("ACC-1", True, False, 0, 1, 0, arm=right)], exp)[0].arm == right
    with pytest.raises(ExperimentError, match="recorded in arm"):
        attribute([Outcome("ACC-1", True, False, 0, 1, 0, arm=wrong)], exp)
    with pytest.raises(ExperimentError, match="more than one outcome"):
        attribute([Outcome("ACC-1", True, False, 0, 1, 0), Outcome("ACC-1", False, False, 0, 1, 0)], exp)


YAML_OK = """\
experiments:
  - code: early-sms-2026q4
    salt: early-sms-2026q4-v1
    start: 2026-10-01
    end: 2026-12-31
    champion: current
    arms:
      - {code: current, share_bp: 8000, strategy: std-early}
      - {code: sms-evening, share_bp: 2000, strategy: early-sms-evening}
"""


def test_load_experiments_yaml(tmp_path: Path) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(YAML_OK, encoding="utf-8")
    (exp,) = load_experiments(path)
    assert exp.code == "early-sms-2026q4" and exp.champion_arm.code == "current"
    assert [a.strategy for a in exp.challengers] == ["early-sms-evening"]
    assert exp.active_on(__import__("datetime").date(2026, 10, 1)) and not exp.active_on(
        __import__("datetime").date(2027, 1, 1))


@pytest.mark.parametrize(("old", "new", "line", "field", "message"), [
    ("share_bp: 2000, strategy: early", "share_bp: 2500, strategy: early", 7, "experiments[0].arms", "sum to 10500"),
    ("champion: current", "champion: other", 6, "experiments[0].champion", "champion 'other'"),
    ("share_bp: 2000, strategy: early", "share_bp: '2000', strategy: early", 9, "experiments[0].arms[1].share_bp",
     "whole number"),
    ("end: 2026-12-31", "end: 2026-13-31", 5, "experiments[0].end", "YYYY-MM-DD"),
    ("champion: current", "champion: current\n    colour: red", 7, "experiments[0].colour", "unknown key"),
    ("{code: current,", "{code: 'bad code',", 8, "experiments[0].arms[0]", "arm code"),
])
def test_yaml_errors_name_line_and_field(tmp_path: Path, old, new, line, field, message) -> None:
    path = tmp_path / "experiments.yaml"
    path.write_text(YAML_OK.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as err:
        load_experiments(path)
    assert (err.value.file, err.value.line, err.value.field) == (str(path), line, field)


# --- intervals against published figures ------------------------------------------------------


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # Newcombe RG (1998), Two-sided confidence intervals for the single proportion: comparison of
    # seven methods. Stat Med 17:857-872, Table I, method 3 (Wilson score, no continuity correction).
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
])
def test_wilson_published(k, n, low, high) -> None:
    lo, hi = wilson_interval(k, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


@pytest.mark.parametrize(("k1", "n1", "k2", "n2", "low", "high"), [
    # Newcombe RG (1998), Interval estimation for the difference between independent proportions:
    # comparison of eleven methods. Stat Med 17:873-890, Table II, method 10 (hybrid score).
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (5, 56, 0, 29, -0.0381, 0.1926),
])
def test_newcombe_published(k1, n1, k2, n2, low, high) -> None:
    _, lo, hi = newcombe_difference(k1, n1, k2, n2)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_poisson_exact_interval() -> None:
    # Garwood limits for 0, 1 and 10 events (e.g. Ulm 1990 / standard tables): 0-3.689, 0.0253-5.572, 4.795-18.39
    assert [tuple(round(x, 3) for x in poisson_interval(k)) for k in (0, 1)] == [(0.0, 3.689), (0.025, 5.572)]
    lo, hi = poisson_interval(10)
    assert (round(lo, 3), round(hi, 2)) == (4.795, 18.39)


# --- read-out arithmetic ----------------------------------------------------------------------


def _ids_in(exp: Experiment, arm: str, count: int) -> list[str]:
    out, i = [], 0
    while len(out) < count:
        if assign(f"T{i}", exp).code == arm:
            out.append(f"T{i}")
        i += 1
    return out


def small_table() -> tuple[Experiment, list[Outcome]]:
    exp = Experiment("small", (Arm("champ", 5000), Arm("chall", 5000)), "small-v1")
    a, b = _ids_in(exp, "champ", 4), _ids_in(exp, "chall", 5)
    champ = [  # cured 1/4, rolled 1/4, recovered 0/1000/2000/3000, contacts 1..4, complaints 1
        Outcome(a[0], False, True, 0, 1, 0), Outcome(a[1], False, False, 1000, 2, 1),
        Outcome(a[2], False, False, 2000, 3, 0), Outcome(a[3], True, False, 3000, 4, 0),
    ]
    chall = [  # cured 3/5, rolled 0/5, recovered 0,0,5000,5000,5000, contacts 2 each, complaints 0
        Outcome(b[0], False, False, 0, 2, 0), Outcome(b[1], False, False, 0, 2, 0),
        Outcome(b[2], True, False, 5000, 2, 0), Outcome(b[3], True, False, 5000, 2, 0),
        Outcome(b[4], True, False, 5000, 2, 0),
    ]
    return exp, champ + chall


def test_readout_hand_computed() -> None:
    exp, outcomes = small_table()
    ro = readout_of_outcomes(outcomes, exp)
    champ, chall = ro.arm("champ"), ro.arm("chall")
    assert (champ.n, chall.n) == (4, 5)
    assert (champ.cure_rate.value, chall.cure_rate.value, champ.roll_rate.value) == (0.25, 0.6, 0.25)
    # Recovered, champion: mean 1500; s² = (1500²+500²+500²+1500²)/3 = 1,666,666.67; se = sqrt(s²/4) = 645.497;
    # half-width 1.959964 × 645.497 = 1265.15 → 234.85 .. 2765.15 fen.
    assert champ.recovered_fen.value == Decimal(1500)
    assert round(champ.recovered_fen.low, 2) == Decimal("234.85")
    assert round(champ.recovered_fen.high, 2) == Decimal("2765.15")
    # Challenger: mean 3000, s² = (3·2000² + 2·3000²)/4 = 7,500,000, se² = 1,500,000.
    # Difference 1500, se = sqrt(416,666.67 + 1,500,000) = 1384.437, half 2713.45.
    rec = next(d for d in ro.differences if d.measure == "recovered_fen")
    assert rec.value == Decimal(1500)
    assert (round(rec.low, 2), round(rec.high, 2)) == (Decimal("-1213.45"), Decimal("4213.45"))
    # Contacts: champion mean 2.5, s² = 5/3, half = 1.959964·sqrt(5/12) = 1.26515; challenger 2 exactly (s² = 0).
    assert champ.contacts.value == Decimal("2.5") and round(champ.contacts.high, 4) == Decimal("3.7652")
    assert chall.contacts.low == chall.contacts.high == Decimal(2)
    # Complaints: 1 in 4 accounts = 250 per 1,000; Garwood 0.02532..5.5716 → 6.33 .. 1392.9 per 1,000.
    assert champ.complaints_per_1000.value == 250.0
    assert round(champ.complaints_per_1000.low, 2) == 6.33 and round(champ.complaints_per_1000.high, 1) == 1392.9
    cure = next(d for d in ro.differences if d.measure == "cure_rate")
    assert math.isclose(cure.value, 0.35)
    assert not cure.clear and "no clear difference in cure rate: +35.0 pp" in cure.verdict


def test_readout_verdict_when_clear() -> None:
    exp = Experiment("big", (Arm("champ", 5000), Arm("chall", 5000)), "big-v1")
    s = {"champ": ArmStats("champ", n=10_000, cured=2000, rolled=1500),
         "chall": ArmStats("chall", n=10_000, cured=2210, rolled=1300)}
    ro = readout(s, exp)
    cure, roll = ro.differences[0], ro.differences[1]
    assert cure.verdict == "challenger chall cures more: +2.1 pp, 95% CI +1.0 to +3.2"
    assert roll.verdict.startswith("challenger chall rolls fewer: -2.0 pp, 95% CI")
    assert cure.clear and roll.clear


def test_readout_empty_arm_and_bootstrap() -> None:
    exp, outcomes = small_table()
    exp3 = Experiment("small", (*exp.arms[:1], Arm("chall", 5000)), "small-v1")
    ro = readout_of_outcomes(outcomes, exp3, bootstrap_resamples=2000, seed=7)
    lo, hi = ro.arm("chall").recovered_bootstrap_fen
    assert Decimal(0) <= lo < Decimal(3000) < hi <= Decimal(5000)
    again = readout_of_outcomes(outcomes, exp3, bootstrap_resamples=2000, seed=7)
    assert again.arm("chall").recovered_bootstrap_fen == (lo, hi)  # seeded
    lonely = Experiment("small", (Arm("champ", 5000), Arm("chall", 5000), Arm("none", 0)), "small-v1")
    ro = readout_of_outcomes(outcomes, lonely)
    assert ro.arm("none").n == 0 and ro.arm("none").cure_rate.value is None
    assert {d.challenger for d in ro.differences} == {"chall"}


def test_duckdb_sums_equal_python_sums() -> None:
    exp = three_arms()
    rows = [Outcome(f"A{i}", i % 3 == 0, i % 7 == 0, (i * 7919) % 200_000, i % 5, int(i % 97 == 0))
            for i in range(30_000)]
    table = pa.table({
        "account_id": [o.account_id for o in rows], "cured": [o.cured for o in rows],
        "rolled": [o.rolled for o in rows], "recovered_fen": [o.recovered_fen for o in rows],
        "contacts": [o.contacts for o in rows], "complaints": [o.complaints for o in rows],
    })
    con = duckdb.connect()
    con.register("outcomes", table)
    from_sql = arm_stats_from_rows(con.sql(arm_stats_sql(exp)).fetchall(), exp)
    assert from_sql == arm_stats(rows, exp)


# Independent implementation: closed-form Wilson, exact fractions for the means.


def _wilson(k: int, n: int) -> tuple[float, float]:
    p, z2 = k / n, Z95 * Z95
    centre, half = p + z2 / (2 * n), Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (centre - half) / (1 + z2 / n), (centre + half) / (1 + z2 / n)


def _mean_ci(values: list[int]) -> tuple[Fraction, float, float]:
    n = len(values)
    mean = Fraction(sum(values), n)
    var = sum((Fraction(v) - mean) ** 2 for v in values) / (n - 1)
    half = Z95 * math.sqrt(var / n)
    return mean, float(mean) - half, float(mean) + half


outcome_rows = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.integers(0, 10_000_000), st.integers(0, 30), st.integers(0, 3)),
    min_size=6, max_size=120,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcome_rows)
def test_readout_matches_independent_implementation(rows) -> None:
    exp = Experiment("h", (Arm("champ", 5000), Arm("chall", 5000)), "h-v1")
    outcomes = [Outcome(f"H{i}", *r) for i, r in enumerate(rows)]
    by_arm: dict[str, list[Outcome]] = {"champ": [], "chall": []}
    for o in outcomes:
        by_arm[assign(o.account_id, exp).code].append(o)
    if min(len(v) for v in by_arm.values()) < 2:
        return
    ro = readout_of_outcomes(outcomes, exp)
    for code, group in by_arm.items():
        arm, n = ro.arm(code), len(group)
        cured = sum(o.cured for o in group)
        assert arm.cure_rate.value == cured / n
        assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip((arm.cure_rate.low, arm.cure_rate.high),
                                                                    _wilson(cured, n)))
        mean, lo, hi = _mean_ci([o.recovered_fen for o in group])
        assert arm.recovered_fen.value == Decimal(mean.numerator) / Decimal(mean.denominator)
        assert math.isclose(float(arm.recovered_fen.low), lo, rel_tol=1e-9, abs_tol=1e-6)
        assert math.isclose(float(arm.recovered_fen.high), hi, rel_tol=1e-9, abs_tol=1e-6)
        k = sum(o.complaints for o in group)
        assert math.isclose(arm.complaints_per_1000.value, 1000 * k / n)
    # Newcombe difference from the independent Wilson limits
    t, c = by_arm["chall"], by_arm["champ"]
    k1, n1, k2, n2 = sum(o.rolled for o in t), len(t), sum(o.rolled for o in c), len(c)
    (l1, u1), (l2, u2) = _wilson(k1, n1), _wilson(k2, n2)
    p1, p2 = k1 / n1, k2 / n2
    roll = next(d for d in ro.differences if d.measure == "roll_rate")
    assert math.isclose(roll.low, p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), abs_tol=1e-9)
    assert math.isclose(roll.high, p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2), abs_tol=1e-9)
