"""Synthetic portfolio generator: format, validity, determinism and the delinquency it produces."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arrears.kit.errors import ArrearsError
from arrears.sim import portfolio
from arrears.sim.portfolio import KINDS, SCHEMAS, generate_portfolio

AS_OF = date(2025, 6, 15)
N = 2_000
SMALL_CHUNK = 700  # several chunks, so ids and keys are checked across chunk borders
TOLERANCE_FEN = 1_000


def read_csv(path: Path, kind: str) -> pa.Table:
    schema = SCHEMAS[kind]
    options = pa_csv.ConvertOptions(
        column_types={f.name: f.type for f in schema}, strings_can_be_null=True,
        true_values=["true"], false_values=["false"],
    )
    table = pa_csv.read_csv(path, convert_options=options)
    assert table.column_names == schema.names
    return table


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("portfolio")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(portfolio, "CHUNK_ACCOUNTS", SMALL_CHUNK)
        calls: list[tuple[str, int, int]] = []
        csv_summary = generate_portfolio(
            base / "csv", accounts=N, seed=7, as_of=AS_OF, progress=lambda *a: calls.append(a)
        )
        pq_summary = generate_portfolio(base / "pq", accounts=N, seed=7, as_of=AS_OF, fmt="parquet")
    tables = {kind: read_csv(csv_summary.files[kind], kind) for kind in KINDS}
    return {"csv": csv_summary, "parquet": pq_summary, "tables": tables, "progress": calls,
            "data": {kind: rows(t) for kind, t in tables.items()}}


# --------------------------------------------------------------------------------------------
# Files and determinism
# --------------------------------------------------------------------------------------------


def test_writes_every_kind_with_the_spec_header(generated: dict) -> None:
    summary = generated["csv"]
    assert summary.accounts == N
    for kind in KINDS:
        path = summary.path / f"{kind}.csv"
        assert summary.files[kind] == path
        header = path.read_text(encoding="utf-8").splitlines()[0]
        assert header == ",".join(SCHEMAS[kind].names)
        assert summary.counts[kind] == generated["tables"][kind].num_rows
    assert summary.customers < N  # some customers hold two cards
    assert 5 * N <= summary.statements <= 8 * N
    assert summary.payments > 3 * N
    assert summary.holds > 0


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        a = generate_portfolio(tmp_path / f"a-{fmt}", accounts=300, seed=11, as_of=AS_OF, fmt=fmt)
        b = generate_portfolio(tmp_path / f"b-{fmt}", accounts=300, seed=11, as_of=AS_OF, fmt=fmt)
        for kind in KINDS:
            assert a.files[kind].read_bytes() == b.files[kind].read_bytes(), (fmt, kind)


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    a = generate_portfolio(tmp_path / "a", accounts=300, seed=11, as_of=AS_OF)
    b = generate_portfolio(tmp_path / "b", accounts=300, seed=12, as_of=AS_OF)
    for kind in ("customers", "contact_points", "accounts", "statements", "payments"):
        assert a.files[kind].read_bytes() != b.files[kind].read_bytes(), kind


def test_csv_and_parquet_hold_the_same_content(generated: dict) -> None:
    pq_summary = generated["parquet"]
    for kind in KINDS:
        from_parquet = pq.read_table(pq_summary.files[kind])
        assert from_parquet.schema.equals(SCHEMAS[kind])
        assert from_parquet.equals(generated["tables"][kind]), kind
    assert pq_summary.counts == generated["csv"].counts


def test_progress_reports_accounts_up_to_the_total(generated: dict) -> None:
    calls = generated["progress"]
    assert calls[0] == ("accounts", 0, N)
    assert calls[-1] == ("accounts", N, N)
    done = [c[1] for c in calls]
    assert done == sorted(done)
    assert len(calls) == 1 + -(-N // SMALL_CHUNK)


def test_zero_accounts_writes_header_only_files(tmp_path: Path) -> None:
    summary = generate_portfolio(tmp_path, accounts=0, seed=1, as_of=AS_OF)
    assert set(summary.counts.values()) == {0}
    for kind in KINDS:
        assert summary.files[kind].read_text(encoding="utf-8") == ",".join(SCHEMAS[kind].names) + "\n"


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArrearsError, match="format"):
        generate_portfolio(tmp_path, accounts=1, seed=1, as_of=AS_OF, fmt="xlsx")
    with pytest.raises(ArrearsError, match="months"):
        generate_portfolio(tmp_path, accounts=1, seed=1, as_of=AS_OF, months=0)
    with pytest.raises(ArrearsError, match="seed"):
        generate_portfolio(tmp_path, accounts=1, seed=-1, as_of=AS_OF)


def test_refuses_a_directory_holding_the_other_format(tmp_path: Path) -> None:
    generate_portfolio(tmp_path, accounts=5, seed=1, as_of=AS_OF, fmt="parquet")
    with pytest.raises(ArrearsError, match="customers.parquet"):
        generate_portfolio(tmp_path, accounts=5, seed=1, as_of=AS_OF, fmt="csv")


# --------------------------------------------------------------------------------------------
# Field validity
# --------------------------------------------------------------------------------------------

_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def _checksum_ok(national_id: str) -> bool:
    total = sum(int(d) * w for d, w in zip(national_id[:17], _WEIGHTS))
    return "10X98765432"[total % 11] == national_id[17]


def test_checksum_helper_matches_a_published_example() -> None:
    # GB 11643-1999 example number
    assert _checksum_ok("11010519491231002X")
    assert portfolio.id_check_digit("11010519491231002") == "X"
    assert not _checksum_ok("110105194912310021")


def test_national_ids_are_valid_and_match_birth_date(generated: dict) -> None:
    customers = generated["data"]["customers"]
    for c in customers:
        nid = c["national_id"]
        assert re.fullmatch(r"[1-9]\d{16}[\dX]", nid), nid
        assert _checksum_ok(nid), nid
        assert date(int(nid[6:10]), int(nid[10:12]), int(nid[12:14])) == c["birth_date"]
        age = (AS_OF - c["birth_date"]).days / 365.25
        assert 18 <= age <= 80
        assert 2 <= len(c["name"]) <= 4 and re.fullmatch(r"[\u4e00-\u9fff]+", c["name"])
    assert len({c["national_id"] for c in customers}) == len(customers)
    # both sexes: the 17th digit is odd for men, even for women
    assert {int(c["national_id"][16]) % 2 for c in customers} == {0, 1}
    zones = {c["time_zone"] for c in customers}
    assert {"Asia/Shanghai", "Asia/Urumqi", None} <= zones or {"Asia/Shanghai", None} <= zones
    assert {c["language"] for c in customers} <= {"zh_CN", "en", None}


def test_contact_points_are_well_formed(generated: dict) -> None:
    contacts = generated["data"]["contact_points"]
    by_kind: dict[str, int] = defaultdict(int)
    for cp in contacts:
        by_kind[cp["kind"]] += 1
        value = cp["value"]
        if cp["kind"] == "phone":
            if cp["owner"] == "other":
                assert re.fullmatch(r"0\d{2,3}-?\d{7,8}", value), value
            else:
                assert re.fullmatch(r"1[3-9]\d{9}", value), value
        elif cp["kind"] == "email":
            assert re.fullmatch(r"[a-z0-9]+@[a-z0-9]+(\.[a-z]+)+", value), value
        else:
            assert cp["kind"] == "address"
            assert re.fullmatch(r"[\u4e00-\u9fff]+(市|区|州|县|道)[\u4e00-\u9fff]+\d+号.+\d+室", value), value
        assert cp["owner"] in ("debtor", "emergency", "other")
        assert (cp["relation"] is not None) == (cp["owner"] != "debtor")
        assert isinstance(cp["verified"], bool) and isinstance(cp["opted_out"], bool)
    assert set(by_kind) == {"phone", "address", "email"}
    relations = {cp["relation"] for cp in contacts if cp["owner"] == "emergency"}
    assert {"配偶", "父亲", "母亲", "朋友"} <= relations
    # every customer can be phoned on a number of their own
    own_phone = {cp["customer_id"] for cp in contacts if cp["kind"] == "phone" and cp["owner"] == "debtor"}
    assert own_phone == {c["customer_id"] for c in generated["data"]["customers"]}


def test_accounts_are_well_formed(generated: dict) -> None:
    accounts = generated["data"]["accounts"]
    for a in accounts:
        assert a["product"] in ("standard", "gold", "platinum", "diamond")
        assert a["credit_limit_fen"] > 0 and a["credit_limit_fen"] % 100_000 == 0
        assert a["currency"] == "CNY"
        assert 1 <= a["statement_day"] <= 28 and 1 <= a["due_day"] <= 28
        assert a["due_day"] != a["statement_day"]
        assert a["status"] in ("open", "frozen", "closed", "charged_off")
        assert a["opened_on"] < AS_OF
    limits = {p: [a["credit_limit_fen"] for a in accounts if a["product"] == p] for p in ("standard", "gold", "platinum")}
    medians = {p: sorted(v)[len(v) // 2] for p, v in limits.items()}
    assert medians["standard"] < medians["gold"] < medians["platinum"]
    assert 500_000 <= medians["standard"] <= 10_000_000  # 5k..100k yuan
    assert {a["status"] for a in accounts} >= {"open", "frozen"}


def test_statements_payments_and_holds_are_well_formed(generated: dict) -> None:
    data = generated["data"]
    opened = {a["account_id"]: a for a in data["accounts"]}
    for s in data["statements"]:
        acct = opened[s["account_id"]]
        assert acct["opened_on"] < s["statement_date"] < AS_OF
        assert s["statement_date"].day == acct["statement_day"]
        assert s["due_date"] > s["statement_date"]
        assert s["due_date"].day == acct["due_day"]
        assert (s["due_date"] - s["statement_date"]).days <= 31
        assert 0 <= s["past_due_included_fen"] <= s["minimum_due_fen"]
        assert s["minimum_due_fen"] <= max(s["new_balance_fen"], 0)
        if s["new_balance_fen"] > 0:
            own = s["minimum_due_fen"] - s["past_due_included_fen"]
            assert own <= s["new_balance_fen"]
    assert any(s["new_balance_fen"] < 0 for s in data["statements"])  # overpayments leave a credit
    for p in data["payments"]:
        assert p["amount_fen"] > 0
        assert p["value_date"] < AS_OF
        assert p["channel"] in ("bank_transfer", "auto_debit", "counter", "mobile_app", "wechat", "alipay", "other")
    for h in data["holds"]:
        assert h["start_date"] < AS_OF
        assert h["end_date"] is None or h["end_date"] >= h["start_date"]
        assert h["kind"] in ("dispute", "complaint", "hardship", "bankruptcy", "deceased", "fraud", "legal")
    kinds = {h["kind"] for h in data["holds"]}
    assert "dispute" in kinds and len(kinds) >= 3
    pauses = {(h["kind"], h["pauses_ageing"]) for h in data["holds"]}
    assert ("dispute", True) in pauses and ("complaint", False) in pauses


def test_statements_are_consecutive_monthly_cycles_ending_before_as_of(generated: dict) -> None:
    per_account: dict[str, list[date]] = defaultdict(list)
    for s in generated["data"]["statements"]:
        per_account[s["account_id"]].append(s["statement_date"])
    assert len(per_account) == N  # every account has at least one statement
    counts = defaultdict(int)
    for dates in per_account.values():
        assert dates == sorted(dates)
        months = [d.year * 12 + d.month for d in dates]
        assert months == list(range(months[0], months[0] + len(months)))
        assert AS_OF - timedelta(days=31) <= dates[-1] < AS_OF
        counts[len(dates)] += 1
    # six cycles for most, fewer for new accounts, more for accounts in arrears since earlier
    assert max(counts, key=counts.get) == 6
    assert min(counts) < 6 < max(counts)


def test_ids_are_unique(generated: dict) -> None:
    data = generated["data"]
    for kind, key in (("customers", "customer_id"), ("contact_points", "contact_id"), ("accounts", "account_id"),
                      ("payments", "payment_id"), ("holds", "hold_id")):
        values = [r[key] for r in data[kind]]
        assert len(values) == len(set(values)), kind
    keys = [(s["account_id"], s["statement_date"]) for s in data["statements"]]
    assert len(keys) == len(set(keys))


def test_foreign_keys_resolve(generated: dict) -> None:
    data = generated["data"]
    customers = {c["customer_id"] for c in data["customers"]}
    accounts = {a["account_id"] for a in data["accounts"]}
    assert {cp["customer_id"] for cp in data["contact_points"]} <= customers
    assert {a["customer_id"] for a in data["accounts"]} == customers  # no customer without an account
    for kind in ("statements", "payments", "holds"):
        assert {r["account_id"] for r in data[kind]} <= accounts, kind


# --------------------------------------------------------------------------------------------
# Ledger consistency and the delinquency it produces (checked independently of the engine)
# --------------------------------------------------------------------------------------------


def _ledger(data: dict) -> dict[str, tuple[list[dict], list[dict]]]:
    statements: dict[str, list[dict]] = defaultdict(list)
    payments: dict[str, list[dict]] = defaultdict(list)
    for s in data["statements"]:
        statements[s["account_id"]].append(s)
    for p in data["payments"]:
        payments[p["account_id"]].append(p)
    return {a: (sorted(statements[a], key=lambda s: s["statement_date"]),
                sorted(payments[a], key=lambda p: p["value_date"])) for a in statements}


def _unpaid_minimums(stmts: list[dict], pays: list[dict], on: date) -> list[int]:
    """Unpaid own minimum of each statement dated before ``on`` after payments dated before ``on``.

    Oldest statement first; a payment pays only statements dated before its value date; any
    excess over the minimums then issued is dropped.
    """
    issued = [s for s in stmts if s["statement_date"] < on]
    unpaid = [s["minimum_due_fen"] - s["past_due_included_fen"] for s in issued]
    for p in pays:
        if p["value_date"] >= on:
            break
        left = p["amount_fen"]
        for i, s in enumerate(issued):
            if s["statement_date"] >= p["value_date"] or left == 0:
                break
            paid = min(left, unpaid[i])
            unpaid[i] -= paid
            left -= paid
    return unpaid


def test_past_due_included_is_the_unpaid_minimum_carried_over(generated: dict) -> None:
    carried_seen = 0
    for stmts, pays in _ledger(generated["data"]).values():
        assert stmts[0]["past_due_included_fen"] == 0
        for i, s in enumerate(stmts[1:], start=1):
            # payments on the statement date itself pay the earlier statements
            unpaid = _unpaid_minimums(stmts[:i], pays, s["statement_date"] + timedelta(days=1))
            assert s["past_due_included_fen"] == sum(unpaid), (s, unpaid)
            carried_seen += s["past_due_included_fen"] > 0
    assert carried_seen > 0


def test_some_customers_pay_more_than_they_owe(generated: dict) -> None:
    overpaid = 0
    for stmts, pays in _ledger(generated["data"]).values():
        for p in pays:
            before = [s for s in stmts if s["statement_date"] < p["value_date"]]
            if before and 0 < before[-1]["new_balance_fen"] < p["amount_fen"]:
                overpaid += 1
    assert overpaid > 0


def _bucket(dpd: int) -> str:
    if dpd <= 3:
        return "M0"
    return "M7+" if dpd > 180 else f"M{(dpd - 1) // 30 + 1}"


def test_behaviour_mix_produces_a_spread_of_delinquency(generated: dict) -> None:
    buckets: dict[str, int] = defaultdict(int)
    cured = 0
    for stmts, pays in _ledger(generated["data"]).values():
        unpaid = _unpaid_minimums(stmts, pays, AS_OF + timedelta(days=1))
        past_due = [
            s for s, u in zip(stmts, unpaid) if s["due_date"] < AS_OF and u > TOLERANCE_FEN
        ]
        dpd = (AS_OF - past_due[0]["due_date"]).days if past_due else 0
        buckets[_bucket(dpd)] += 1
        if not past_due and any(s["past_due_included_fen"] > 0 for s in stmts):
            cured += 1
    assert sum(buckets.values()) == N
    assert 0.80 * N <= buckets["M0"] <= 0.96 * N
    for name in ("M1", "M2", "M3", "M4", "M5", "M6", "M7+"):
        assert buckets[name] > 0, (name, dict(buckets))
    assert buckets["M1"] > buckets["M3"]  # early arrears are the most common
    assert cured > 0  # some were behind during the window and caught up


def test_disputes_are_raised_by_some_accounts_in_arrears(generated: dict) -> None:
    data = generated["data"]
    ledger = _ledger(data)
    in_arrears = set()
    for account, (stmts, pays) in ledger.items():
        unpaid = _unpaid_minimums(stmts, pays, AS_OF + timedelta(days=1))
        if any(s["due_date"] < AS_OF and u > TOLERANCE_FEN for s, u in zip(stmts, unpaid)):
            in_arrears.add(account)
    disputed = {h["account_id"] for h in data["holds"] if h["kind"] == "dispute"}
    assert disputed & in_arrears
    assert disputed - in_arrears


def test_engine_finds_a_spread_of_buckets_and_paused_disputes(generated: dict) -> None:
    from arrears.delinquency.model import DelinquencyRules, Hold, Payment, Statement, assess

    data = generated["data"]
    holds: dict[str, list[Hold]] = defaultdict(list)
    for h in data["holds"]:
        pauses = h["pauses_ageing"] if h["pauses_ageing"] is not None else h["kind"] == "dispute"
        holds[h["account_id"]].append(Hold(h["start_date"], h["end_date"], pauses))
    rules = DelinquencyRules()
    buckets: dict[str, int] = defaultdict(int)
    paused = 0
    for account, (stmts, pays) in _ledger(data).items():
        state = assess(
            [Statement(s["statement_date"], s["due_date"], s["minimum_due_fen"], s["past_due_included_fen"])
             for s in stmts],
            [Payment(p["value_date"], p["amount_fen"]) for p in pays],
            holds[account], as_of=AS_OF, rules=rules,
        )
        buckets[state.bucket] += 1
        raw = (AS_OF - state.oldest_unpaid_due_date).days if state.oldest_unpaid_due_date else 0
        if any(h.pauses_ageing for h in holds[account]):
            paused += state.dpd < raw
        else:
            assert state.dpd == raw
            assert state.bucket == _bucket(raw)
    assert len(buckets) == 8, dict(buckets)  # M0 … M6 and M7+
    assert buckets["M0"] > sum(v for k, v in buckets.items() if k != "M0")
    assert paused > 0  # some disputes hold the ageing of accounts in arrears


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32),
    as_of=st.dates(date(2001, 1, 1), date(2040, 12, 31)),
    months=st.integers(1, 14),
    accounts=st.integers(1, 60),
)
def test_ledger_invariants_hold_for_any_date_and_window(
    tmp_path_factory: pytest.TempPathFactory, seed: int, as_of: date, months: int, accounts: int
) -> None:
    out = tmp_path_factory.mktemp("prop")
    summary = generate_portfolio(out, accounts=accounts, seed=seed, as_of=as_of, months=months)
    data = {kind: rows(read_csv(summary.files[kind], kind)) for kind in KINDS}
    assert len(data["accounts"]) == accounts
    for c in data["customers"]:
        assert _checksum_ok(c["national_id"]) and c["birth_date"] < as_of
    per_account: dict[str, int] = defaultdict(int)
    for s in data["statements"]:
        assert s["statement_date"] < as_of and s["due_date"] > s["statement_date"]
        assert 0 <= s["past_due_included_fen"] <= s["minimum_due_fen"]
        per_account[s["account_id"]] += 1
    assert len(per_account) == accounts
    assert max(per_account.values()) <= months + portfolio.EXTRA_CYCLES
    assert all(p["amount_fen"] > 0 and p["value_date"] < as_of for p in data["payments"])
    assert all(h["start_date"] < as_of for h in data["holds"])
    for stmts, pays in _ledger(data).values():
        assert stmts[0]["past_due_included_fen"] == 0
        for i, s in enumerate(stmts[1:], start=1):
            unpaid = _unpaid_minimums(stmts[:i], pays, s["statement_date"] + timedelta(days=1))
            assert s["past_due_included_fen"] == sum(unpaid)
