"""Synthetic credit-card portfolio: the six bank files ``arrears ingest`` reads.

``generate_portfolio`` writes customers, contact_points, accounts, statements, payments and holds
(CSV or Parquet, the exact format of the bank-file spec) for a portfolio whose delinquency on the
business date ``as_of`` has a realistic spread: most accounts current, some a cycle behind and
curing, a tail that stopped paying at different points (M1 … M7+), disputes that pause ageing.

How it is built
---------------
Accounts are generated in fixed chunks, each with its own ``numpy`` generator seeded from
``(seed, chunk number)``, so the output depends only on the arguments (never on timing or
threads) and memory stays flat whatever the portfolio size. Inside a chunk everything is
vectorised over accounts; the only Python loop is over statement cycles.

Each account is simulated over ``months + EXTRA_CYCLES`` monthly cycles. Per cycle the customer's
behaviour type decides how much of the previous statement is paid and when (on time, late but
before the next statement, or not at all). Balances, interest, late fees and minimums follow in
integer fen. The unpaid minimum carried into a statement (``past_due_included_fen``) is computed
with the spec's allocation rule: a payment pays issued minimums (those of statements dated before
its value date) and whatever exceeds them is not kept as credit against later minimums; since the
allocation is oldest first, the total still unpaid after each payment is
``max(0, owed - payment)``.

Which statements go into the file: the last ``months`` cycles, reaching further back for
accounts whose unpaid minimums are older than that, to the most recent statement before which
nothing was owed. A bank's extract for collections contains the history back to the oldest unpaid
statement; this also makes ``past_due_included_fen`` of the first statement in the file zero, so
the engine (which tracks carried-over amounts itself, from the file) ages exactly what the bank
would. Only payments made after the first statement in the file are written (earlier ones pay
statements that are not in it). Statements and payments are dated strictly before ``as_of``: the
files are the bank's extract at the end of the previous day.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from arrears.kit.errors import ArrearsError
from arrears.sim import cn_data

__all__ = ["KINDS", "SCHEMAS", "PortfolioSummary", "generate_portfolio", "id_check_digit"]

#: Accounts per chunk. Part of the output: changing it changes what a seed produces.
CHUNK_ACCOUNTS = 50_000
#: Cycles simulated before the window so long-delinquent accounts (M7+) have their history.
EXTRA_CYCLES = 8

KINDS: tuple[str, ...] = ("customers", "contact_points", "accounts", "statements", "payments", "holds")

SCHEMAS: dict[str, pa.Schema] = {
    "customers": pa.schema([
        ("customer_id", pa.string()), ("name", pa.string()), ("national_id", pa.string()),
        ("birth_date", pa.date32()), ("time_zone", pa.string()), ("language", pa.string()),
    ]),
    "contact_points": pa.schema([
        ("contact_id", pa.string()), ("customer_id", pa.string()), ("kind", pa.string()),
        ("value", pa.string()), ("owner", pa.string()), ("relation", pa.string()),
        ("verified", pa.bool_()), ("opted_out", pa.bool_()),
    ]),
    "accounts": pa.schema([
        ("account_id", pa.string()), ("customer_id", pa.string()), ("product", pa.string()),
        ("credit_limit_fen", pa.int64()), ("currency", pa.string()), ("statement_day", pa.int64()),
        ("due_day", pa.int64()), ("status", pa.string()), ("opened_on", pa.date32()),
    ]),
    "statements": pa.schema([
        ("account_id", pa.string()), ("statement_date", pa.date32()), ("due_date", pa.date32()),
        ("new_balance_fen", pa.int64()), ("minimum_due_fen", pa.int64()),
        ("past_due_included_fen", pa.int64()),
    ]),
    "payments": pa.schema([
        ("payment_id", pa.string()), ("account_id", pa.string()), ("amount_fen", pa.int64()),
        ("value_date", pa.date32()), ("channel", pa.string()),
    ]),
    "holds": pa.schema([
        ("hold_id", pa.string()), ("account_id", pa.string()), ("kind", pa.string()),
        ("start_date", pa.date32()), ("end_date", pa.date32()), ("pauses_ageing", pa.bool_()),
        ("reason", pa.string()), ("created_by", pa.string()),
    ]),
}

ProgressFn = Callable[[str, int, int], None]


@dataclasses.dataclass(frozen=True)
class PortfolioSummary:
    """What ``generate_portfolio`` wrote: the directory, the format and rows per file."""

    path: Path
    fmt: str
    seed: int
    as_of: date
    months: int
    counts: dict[str, int]
    files: dict[str, Path]

    def __str__(self) -> str:
        parts = ", ".join(f"{self.counts[kind]:,} {kind}" for kind in KINDS)
        return f"{parts} ({self.fmt}, seed {self.seed}, as of {self.as_of.isoformat()}) in {self.path}"

    @property
    def accounts(self) -> int:
        return self.counts["accounts"]

    @property
    def customers(self) -> int:
        return self.counts["customers"]

    @property
    def contact_points(self) -> int:
        return self.counts["contact_points"]

    @property
    def statements(self) -> int:
        return self.counts["statements"]

    @property
    def payments(self) -> int:
        return self.counts["payments"]

    @property
    def holds(self) -> int:
        return self.counts["holds"]


# ---------------------------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------------------------

_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = "10X98765432"
_ID_CHECK_CODES = np.frombuffer(_ID_CHECK.encode("ascii"), dtype=np.uint8)
_EPOCH_YM = 1970 * 12


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a PRC resident ID's first 17 digits."""
    total = sum(int(c) * int(w) for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _fixed_strings(codes: np.ndarray) -> pa.StringArray:
    """An (n, width) uint8 matrix of ASCII codes as a string array of n equal-width values."""
    n, width = codes.shape
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(np.ascontiguousarray(codes).tobytes())
    )


def _digit_codes(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative ints as an (n, width) uint8 matrix of ASCII."""
    out = np.empty((len(values), width), dtype=np.uint8)
    v = values.astype(np.int64, copy=True)
    for i in range(width - 1, -1, -1):
        out[:, i] = v % 10
        v //= 10
    out += 48
    return out


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    codes = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    codes[:, : len(head)] = head
    codes[:, len(head):] = _digit_codes(numbers, width)
    return _fixed_strings(codes)


def _pick(values: list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pc.take(pa.array(list(values), pa.string()), pa.array(codes))


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _month_start(ym: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of the first day of month index ``ym`` (= year * 12 + month - 1)."""
    months = (ym - _EPOCH_YM).astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64)


def _date_array(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32(), mask=mask).cast(pa.date32())


def _days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _weighted(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    cum = np.cumsum(weights, dtype=np.float64)
    return np.searchsorted(cum / cum[-1], rng.random(size), side="right").astype(np.int64)


def _half_up_div(x: np.ndarray, num: int, den: int) -> np.ndarray:
    """round_half_up(x * num / den) for non-negative int64 x, in integers."""
    return (x * num + den // 2) // den


# ---------------------------------------------------------------------------------------------
# Reference tables flattened for numpy
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Tables:
    surnames: pa.Array
    surname_w: np.ndarray
    given: pa.Array  # male chars, then female chars, then "" (no second character)
    n_male: int
    n_female: int
    prov: pa.Array
    city: pa.Array
    district: pa.Array
    district_w: np.ndarray
    district_code_digits: np.ndarray  # (n_districts, 6) uint8 ASCII
    district_urumqi: np.ndarray
    area_codes: pa.Array
    streets: pa.Array
    compounds: pa.Array
    mobile_prefix_digits: np.ndarray  # (n, 3) uint8 ASCII
    relations: pa.Array
    relation_w: np.ndarray


def _tables() -> _Tables:
    prov: list[str] = []
    city: list[str] = []
    dist: list[str] = []
    dist_w: list[float] = []
    codes: list[str] = []
    urumqi: list[bool] = []
    areas: list[str] = []
    for province, city_name, area, weight, districts in cn_data.PLACES:
        for district, code in districts:
            prov.append(province)
            city.append(city_name)
            dist.append(district)
            dist_w.append(weight / len(districts))
            codes.append(code)
            urumqi.append(province in cn_data.URUMQI_PROVINCES)
            areas.append(area)
    given = list(cn_data.GIVEN_MALE) + list(cn_data.GIVEN_FEMALE) + [""]
    return _Tables(
        surnames=pa.array([s for s, _ in cn_data.SURNAMES]),
        surname_w=np.array([w for _, w in cn_data.SURNAMES]),
        given=pa.array(given),
        n_male=len(cn_data.GIVEN_MALE),
        n_female=len(cn_data.GIVEN_FEMALE),
        prov=pa.array(prov),
        city=pa.array(city),
        district=pa.array(dist),
        district_w=np.array(dist_w),
        district_code_digits=np.frombuffer("".join(codes).encode("ascii"), dtype=np.uint8).reshape(-1, 6),
        district_urumqi=np.array(urumqi),
        area_codes=pa.array(areas),
        streets=pa.array(cn_data.STREETS),
        compounds=pa.array(cn_data.COMPOUNDS),
        mobile_prefix_digits=np.frombuffer(
            "".join(cn_data.MOBILE_PREFIXES).encode("ascii"), dtype=np.uint8
        ).reshape(-1, 3),
        relations=pa.array([r for r, _ in cn_data.EMERGENCY_RELATIONS]),
        relation_w=np.array([w for _, w in cn_data.EMERGENCY_RELATIONS]),
    )


# ---------------------------------------------------------------------------------------------
# Behaviour types and products
# ---------------------------------------------------------------------------------------------

TRANSACTOR, REVOLVER, MIN_PAYER, LATE_CURER, PARTIAL, STOPPER, DORMANT = range(7)
_TYPE_P = np.array([0.38, 0.27, 0.10, 0.08, 0.04, 0.075, 0.055])

PRODUCTS = ("standard", "gold", "platinum", "diamond")
_PRODUCT_P = np.array([0.58, 0.28, 0.11, 0.03])
_LIMIT_MEDIAN_YUAN = np.array([12_000.0, 35_000.0, 80_000.0, 200_000.0])

CHANNELS = ("bank_transfer", "auto_debit", "counter", "mobile_app", "wechat", "alipay", "other")
_MANUAL_CHANNELS = np.array([0, 2, 3, 4, 5, 6])
_MANUAL_CHANNEL_P = np.array([0.15, 0.05, 0.40, 0.18, 0.17, 0.05])

STATUSES = ("open", "frozen", "closed", "charged_off")
HOLD_KINDS = ("dispute", "complaint", "hardship", "bankruptcy", "deceased", "fraud", "legal")
_CONTACT_HOLD_KINDS = np.array([1, 2, 5, 6, 4, 3])  # complaint, hardship, fraud, legal, deceased, bankruptcy
_CONTACT_HOLD_P = np.array([0.45, 0.30, 0.10, 0.08, 0.04, 0.03])

FLOOR_MIN_FEN = 10_000  # minimum payment floor: 100 yuan
MIN_PERMILLE = 100  # 10% of the balance
INTEREST_PERMILLE = 15  # ~0.05% a day on the whole balance when not paid in full
LATE_FEE_PERCENT = 5  # of the unpaid minimum


# ---------------------------------------------------------------------------------------------
# One chunk
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Counters:
    customers: int = 0
    contacts: int = 0
    payments: int = 0
    holds: int = 0
    id_bodies: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def _chunk(
    rng: np.random.Generator,
    t: _Tables,
    *,
    first_account: int,
    n: int,
    counters: _Counters,
    as_of: date,
    months: int,
) -> dict[str, pa.Table]:
    as_of_days = _days(as_of)
    big_w = months + EXTRA_CYCLES  # simulated cycles; index big_w is the next, unissued one

    # ---- customers (a few hold a second card: adjacent accounts share the customer) ----------
    second = rng.random(n) < 0.07
    second[0] = False
    cust_of = np.cumsum(~second) - 1
    nc = int(cust_of[-1]) + 1
    cust_ids = _ids("CU", counters.customers + 1 + np.arange(nc), 10)
    counters.customers += nc

    male = rng.random(nc) < 0.52
    surname = _weighted(rng, t.surname_w, nc)
    g1 = np.where(male, rng.integers(0, t.n_male, nc), t.n_male + rng.integers(0, t.n_female, nc))
    g2 = np.where(male, rng.integers(0, t.n_male, nc), t.n_male + rng.integers(0, t.n_female, nc))
    g2 = np.where(rng.random(nc) < 0.78, g2, len(t.given) - 1)
    names = pc.binary_join_element_wise(
        pc.take(t.surnames, pa.array(surname)), pc.take(t.given, pa.array(g1)),
        pc.take(t.given, pa.array(g2)), "",
    )

    age_years = rng.normal(37.0, 10.0, nc)
    # out-of-range ages drawn again (uniformly), not clipped: a clip would pile thousands of
    # customers onto one birth date
    age_years = np.where((age_years < 20.5) | (age_years > 72.0), rng.uniform(20.5, 72.0, nc), age_years)
    age_days = (age_years * 365.2425).astype(np.int64)
    birth = as_of_days - age_days
    birth_dt = birth.astype("datetime64[D]")
    by = birth_dt.astype("datetime64[Y]").astype(np.int64) + 1970
    bm_start = birth_dt.astype("datetime64[M]")
    bmon = bm_start.astype(np.int64) % 12 + 1
    bday = (birth_dt - bm_start.astype("datetime64[D]")).astype(np.int64) + 1

    home = _weighted(rng, t.district_w, nc)
    born_elsewhere = rng.random(nc) < 0.25
    id_area = np.where(born_elsewhere, _weighted(rng, t.district_w, nc), home)
    seq = np.where(male, 2 * rng.integers(1, 501, nc) - 1, 2 * rng.integers(1, 500, nc))
    # the 17-digit body as a number: area, birth date, sequence; drawn again until unique
    area_num = (t.district_code_digits.astype(np.int64) - 48) @ (10 ** np.arange(5, -1, -1))
    born_num = (by * 10_000 + bmon * 100 + bday) * 1_000
    head = area_num[id_area] * 10**11 + born_num
    body = head + seq
    for attempt in itertools.count():
        _, first_seen = np.unique(body, return_index=True)
        clash = np.ones(nc, dtype=bool)
        clash[first_seen] = False
        used = counters.id_bodies  # sorted
        if len(used):
            at = np.minimum(np.searchsorted(used, body), len(used) - 1)
            clash |= used[at] == body
        if not clash.any():
            break
        redo = np.nonzero(clash)[0]
        if attempt >= 8:  # that birth date is crowded in that area: registered somewhere else
            id_area[redo] = _weighted(rng, t.district_w, len(redo))
            head[redo] = area_num[id_area[redo]] * 10**11 + born_num[redo]
        body[redo] = head[redo] + 2 * rng.integers(1, 500, len(redo)) - male[redo]
    counters.id_bodies = np.sort(np.concatenate([counters.id_bodies, body]))
    id_codes = np.empty((nc, 18), dtype=np.uint8)
    id_codes[:, :17] = _digit_codes(body, 17)
    checksum = ((id_codes[:, :17].astype(np.int64) - 48) @ _ID_WEIGHTS) % 11
    id_codes[:, 17] = _ID_CHECK_CODES[checksum]

    tz_code = np.where(t.district_urumqi[home] & (rng.random(nc) < 0.45), 1, 0)
    tz_code = np.where(rng.random(nc) < 0.03, 2, tz_code)
    lang_u = rng.random(nc)
    lang_code = np.where(lang_u < 0.02, 1, np.where(lang_u < 0.05, 2, 0))
    customers = pa.table(
        [
            cust_ids, names, _fixed_strings(id_codes), _date_array(birth),
            pc.take(pa.array(["Asia/Shanghai", "Asia/Urumqi", None], pa.string()), pa.array(tz_code)),
            pc.take(pa.array(["zh_CN", "en", None], pa.string()), pa.array(lang_code)),
        ],
        schema=SCHEMAS["customers"],
    )

    contacts = _contacts(rng, t, nc=nc, home=home, cust_ids=cust_ids, counters=counters)

    # ---- accounts -------------------------------------------------------------------------------
    product = _weighted(rng, _PRODUCT_P, n)
    limit_yuan = _LIMIT_MEDIAN_YUAN[product] * np.exp(rng.normal(0.0, 0.4, n))
    limit = np.clip(np.rint(limit_yuan / 1000.0), 2, 800).astype(np.int64) * 100_000  # whole 1,000 yuan
    stmt_day = rng.integers(1, 29, n)
    due_day = stmt_day + rng.integers(20, 26, n)
    due_day = np.where(due_day > 28, due_day - 28, due_day)

    btype = _weighted(rng, _TYPE_P, n)
    first_card = np.maximum.accumulate(np.where(second, 0, np.arange(n)))
    btype = np.where(second & (rng.random(n) < 0.6), btype[first_card], btype)
    # stoppers: number of unpaid statements at the end, geometric-ish over the simulated cycles
    missed = np.minimum(rng.geometric(0.25, n), big_w)
    stop = np.where(btype == STOPPER, big_w - missed, big_w + 10)
    bust_out = (btype == STOPPER) & (rng.random(n) < 0.3)
    token_payer = (btype == STOPPER) & (rng.random(n) < 0.25)
    autopay = np.isin(btype, (TRANSACTOR, MIN_PAYER)) & (rng.random(n) < 0.35)
    # most accounts predate the simulated cycles; a few open inside them
    new_acct = rng.random(n) < 0.06
    open_cycle = np.where(new_acct, rng.integers(1, big_w, n), 0)

    # ---- calendar: statement and due dates per cycle ------------------------------------------
    as_ym = as_of.year * 12 + as_of.month - 1
    last_ym = np.where(stmt_day < as_of.day, as_ym, as_ym - 1)
    ks = np.arange(big_w + 1)
    ym = last_ym[:, None] - (big_w - 1) + ks[None, :]
    s_date = _month_start(ym) + stmt_day[:, None] - 1  # (n, W+1); column W is the next statement
    due_ym = ym + (due_day <= stmt_day)[:, None]
    d_date = _month_start(due_ym) + due_day[:, None] - 1

    opened = np.where(
        new_acct,
        s_date[np.arange(n), open_cycle] - rng.integers(3, 28, n),
        s_date[:, 0] - rng.integers(30, 365 * 8, n),
    )

    # ---- cycle-by-cycle simulation in integer fen --------------------------------------------
    nb_m = np.zeros((n, big_w), dtype=np.int64)
    min_m = np.zeros((n, big_w), dtype=np.int64)
    pdi_m = np.zeros((n, big_w), dtype=np.int64)
    pay_m = np.zeros((n, big_w + 1), dtype=np.int64)  # column k pays statement k-1
    pdate_m = np.zeros((n, big_w + 1), dtype=np.int64)
    pauto_m = np.zeros((n, big_w + 1), dtype=bool)

    rate = np.clip(np.exp(rng.normal(np.log(0.12), 0.6, n)), 0.005, 0.6)
    rate = np.where(btype == TRANSACTOR, rate * 1.3, rate)
    carry_permille = np.where(
        np.isin(btype, (TRANSACTOR, DORMANT)), 0, rng.integers(50, 700, n)
    )
    skipped = np.zeros(n, dtype=bool)
    bal_after = np.zeros(n, dtype=np.int64)
    pdi = np.zeros(n, dtype=np.int64)

    for k in range(big_w + 1):
        if k > 0:
            j = k - 1
            exists = j >= open_cycle
            nbj = nb_m[:, j]
            mj = min_m[:, j]
            u1, u2, u3 = rng.random(n), rng.random(n), rng.random(n)
            frac = rng.integers(0, 1001, n)
            above_min = mj + (np.maximum(nbj - mj, 0) * frac // 1000) // 100 * 100
            above_min = np.maximum(np.minimum(above_min, np.maximum(nbj, 0)), mj)
            full = np.maximum(nbj, 0)
            extra = rng.integers(1, 31, n) * 10_000  # 100 to 3,000 yuan more than owed
            partial = np.maximum((mj * rng.integers(300, 900, n) // 1000) // 100 * 100, 0)
            partial = np.where(partial > 0, partial, mj)
            token = np.minimum(rng.integers(1, 11, n) * 10_000, mj // 2)

            amount = np.zeros(n, dtype=np.int64)
            late = u2 < 0.04
            # transactors: the whole balance; now and then more than that (a credit balance)
            is_t = btype == TRANSACTOR
            amount = np.where(is_t, np.where((u1 < 0.02) & (full > 0), full + extra, full), amount)
            # revolvers: the minimum or more, sometimes the whole balance
            is_r = (btype == REVOLVER) | ((btype == STOPPER) & (j < stop))
            amount = np.where(is_r, np.where(u1 < 0.06, full, above_min), amount)
            # minimum payers: exactly the minimum, rarely skip a month
            is_m = btype == MIN_PAYER
            amount = np.where(is_m, np.where(u1 < 0.03, 0, mj), amount)
            late = np.where(is_m, u2 < 0.06, late)
            # late payers who cure: often after the due date, sometimes skip a month and catch up
            is_l = btype == LATE_CURER
            l_skip = ~skipped & (u1 < 0.18)
            amount = np.where(is_l, np.where(l_skip, 0, np.where(u3 < 0.3, above_min, mj)), amount)
            late = np.where(is_l, (u2 < 0.35) | skipped, late)
            # partial payers: part of the minimum more often than not
            is_p = btype == PARTIAL
            amount = np.where(is_p, np.where(u1 < 0.15, 0, np.where(u1 < 0.45, mj, partial)), amount)
            late = np.where(is_p, u2 < 0.25, late)
            # stoppers after the stop: nothing, or a small token now and then
            is_s = (btype == STOPPER) & (j >= stop)
            amount = np.where(is_s, np.where(token_payer & (u1 < 0.3), token, 0), amount)
            late = np.where(is_s, True, late)
            is_d = btype == DORMANT
            amount = np.where(is_d, full, amount)

            amount = np.where(exists, np.maximum(amount, 0), 0)
            on_time_auto = autopay & ~late
            window = d_date[:, j] - s_date[:, j]  # >= 20 days
            off = np.where(on_time_auto, 0, np.minimum(rng.integers(0, 11, n), window - 1))
            late_by = 1 + (rng.random(n) * (s_date[:, k] - d_date[:, j])).astype(np.int64)
            pdate = np.where(late, d_date[:, j] + late_by, d_date[:, j] - off)
            if k == big_w:  # the cycle still running on as_of: only what was paid before it
                amount = np.where(pdate < as_of_days, amount, 0)
            pay_m[:, k] = amount
            pdate_m[:, k] = pdate
            pauto_m[:, k] = on_time_auto

            pdi = np.where(exists, np.maximum(mj - amount, 0), 0)
            interest = np.where((amount < nbj) & (nbj > 0), _half_up_div(np.maximum(nbj, 0), INTEREST_PERMILLE, 1000), 0)
            fee = _half_up_div(pdi, LATE_FEE_PERCENT, 100)
            bal_after = np.where(exists, nbj - amount + interest + fee, 0)
            skipped = (amount == 0) & (mj > 0)
        if k == big_w:
            break

        active = k >= open_cycle
        first = k == open_cycle
        noise = np.exp(rng.normal(0.0, 0.5, n))
        boost = np.where(bust_out & (k >= stop - 2) & (k <= stop), 2.5, 1.0)
        spend = np.rint(limit * rate * noise * boost).astype(np.int64)
        spend = np.where((btype == STOPPER) & (k > stop), 0, spend)
        spend = np.where((btype == DORMANT) & (rng.random(n) < 0.85), 0, spend)
        carry = limit * carry_permille // 1000
        start = np.where(first, carry, bal_after)
        spend = np.minimum(spend, np.maximum(limit - start, 0))
        nb = np.where(active, start + spend, 0)
        cur_pdi = np.where(first | ~active, 0, pdi)
        own = np.where(nb > 0, np.minimum(nb, np.maximum(_half_up_div(np.maximum(nb, 0), MIN_PERMILLE, 1000), FLOOR_MIN_FEN)), 0)
        own = np.minimum(own, np.maximum(nb - cur_pdi, 0))
        nb_m[:, k] = nb
        pdi_m[:, k] = cur_pdi
        min_m[:, k] = cur_pdi + own

    # ---- which statements and payments go into the files ---------------------------------------
    window_start = big_w - months
    last_allowed = np.maximum(window_start, open_cycle)
    cand = (pdi_m == 0) & (ks[None, :big_w] >= open_cycle[:, None]) & (ks[None, :big_w] <= last_allowed[:, None])
    keep_from = big_w - 1 - np.argmax(cand[:, ::-1], axis=1)
    keep = ks[None, :big_w] >= keep_from[:, None]

    acct_nums = first_account + np.arange(n)
    acct_ids = _ids("AC", acct_nums, 10)

    srow, scol = np.nonzero(keep)
    statements = pa.table(
        [
            pc.take(acct_ids, pa.array(srow)), _date_array(s_date[srow, scol]), _date_array(d_date[srow, scol]),
            pa.array(nb_m[srow, scol]), pa.array(min_m[srow, scol]), pa.array(pdi_m[srow, scol]),
        ],
        schema=SCHEMAS["statements"],
    )

    pay_keep = (pay_m > 0) & (ks[None, :] > keep_from[:, None])
    prow, pcol = np.nonzero(pay_keep)
    p_amount = pay_m[prow, pcol]
    p_date = pdate_m[prow, pcol]
    p_auto = pauto_m[prow, pcol]
    p_chan = np.where(p_auto, 1, _MANUAL_CHANNELS[_weighted(rng, _MANUAL_CHANNEL_P, len(prow))])
    # some customers pay in two goes: the earlier part a few days before, still after the statement
    split = (~p_auto) & (p_amount >= 2_000) & (rng.random(len(prow)) < 0.1)
    part1 = (p_amount * rng.integers(200, 800, len(prow)) // 1000) // 100 * 100
    split &= (part1 > 0) & (part1 < p_amount)
    earliest = s_date[prow, pcol - 1] + 1
    d1 = np.maximum(p_date - rng.integers(1, 8, len(prow)), earliest)
    sp = np.nonzero(split)[0]
    all_row = np.concatenate([prow, prow[sp]])
    all_amount = np.concatenate([np.where(split, p_amount - part1, p_amount), part1[sp]])
    all_date = np.concatenate([p_date, d1[sp]])
    all_chan = np.concatenate([p_chan, p_chan[sp]])
    order = np.lexsort((np.concatenate([np.ones(len(prow)), np.zeros(len(sp))]), all_date, all_row))
    npay = len(order)
    payments = pa.table(
        [
            _ids("PY", counters.payments + 1 + np.arange(npay), 12), pc.take(acct_ids, pa.array(all_row[order])),
            pa.array(all_amount[order]), _date_array(all_date[order]), _pick(CHANNELS, all_chan[order]),
        ],
        schema=SCHEMAS["payments"],
    )
    counters.payments += npay

    holds, hold_status = _holds(
        rng, n=n, btype=btype, stop=stop, d_date=d_date, keep_from=keep_from, s_date=s_date,
        as_of_days=as_of_days, acct_ids=acct_ids, counters=counters,
    )

    # ---- account status as the bank reports it ------------------------------------------------
    status = np.zeros(n, dtype=np.int64)
    deep = (btype == STOPPER) & (missed >= 3)
    status = np.where(deep, 1, status)
    status = np.where((btype == STOPPER) & (missed >= 8) & (rng.random(n) < 0.6), 3, status)
    status = np.where(hold_status & (status == 0), 1, status)
    all_zero = ~np.any(keep & (nb_m != 0), axis=1)
    status = np.where((btype == DORMANT) & all_zero & (rng.random(n) < 0.2), 2, status)
    accounts = pa.table(
        [
            acct_ids, pc.take(cust_ids, pa.array(cust_of)), _pick(PRODUCTS, product), pa.array(limit),
            pa.repeat(pa.scalar("CNY", pa.string()), n),
            pa.array(stmt_day), pa.array(due_day), _pick(STATUSES, status), _date_array(opened),
        ],
        schema=SCHEMAS["accounts"],
    )

    return {
        "customers": customers, "contact_points": contacts, "accounts": accounts,
        "statements": statements, "payments": payments, "holds": holds,
    }


def _mobiles(rng: np.random.Generator, t: _Tables, size: int) -> pa.StringArray:
    codes = np.empty((size, 11), dtype=np.uint8)
    codes[:, :3] = t.mobile_prefix_digits[rng.integers(0, len(t.mobile_prefix_digits), size)]
    codes[:, 3:] = _digit_codes(rng.integers(0, 100_000_000, size), 8)
    return _fixed_strings(codes)


def _contacts(
    rng: np.random.Generator, t: _Tables, *, nc: int, home: np.ndarray, cust_ids: pa.Array, counters: _Counters
) -> pa.Table:
    groups: list[tuple[np.ndarray, int, pa.Array, int, pa.Array, np.ndarray, np.ndarray]] = []

    def add(who: np.ndarray, kind: int, value: pa.Array, owner: int, relation: pa.Array | None,
            verified_p: float, opted_p: float) -> None:
        m = len(who)
        rel = relation if relation is not None else pa.nulls(m, pa.string())
        groups.append((who, kind, value, owner, rel, rng.random(m) < verified_p, rng.random(m) < opted_p))

    everyone = np.arange(nc)
    add(everyone, 0, _mobiles(rng, t, nc), 0, None, 0.92, 0.01)
    who = np.nonzero(rng.random(nc) < 0.18)[0]
    add(who, 0, _mobiles(rng, t, len(who)), 0, None, 0.4, 0.03)

    who = np.nonzero(rng.random(nc) < 0.97)[0]
    m = len(who)
    where = pa.array(home[who])
    addresses = pc.binary_join_element_wise(
        pc.take(t.prov, where), pc.take(t.city, where), pc.take(t.district, where),
        pc.take(t.streets, pa.array(rng.integers(0, len(t.streets), m))),
        _text(rng.integers(1, 400, m)), "号",
        pc.take(t.compounds, pa.array(rng.integers(0, len(t.compounds), m))),
        _text(rng.integers(1, 30, m)), "栋", _text(rng.integers(1, 5, m)), "单元",
        _text(rng.integers(1, 33, m) * 100 + rng.integers(1, 5, m)), "室", "",
    )
    add(who, 1, addresses, 0, None, 0.7, 0.0)

    who = np.nonzero(rng.random(nc) < 0.35)[0]
    m = len(who)
    qq = rng.random(m) < 0.5
    letter_len = rng.integers(5, 10, m)
    letters = rng.integers(97, 123, int(letter_len.sum())).astype(np.uint8)
    offsets = np.concatenate([[0], np.cumsum(letter_len)]).astype(np.int32)
    word = pa.StringArray.from_buffers(m, pa.py_buffer(offsets.tobytes()), pa.py_buffer(letters.tobytes()))
    digits = pc.if_else(pa.array(rng.random(m) < 0.6), _text(rng.integers(10, 10_000, m)), "")
    handle = pc.if_else(pa.array(qq), _text(rng.integers(10_000, 3_999_999_999, m)),
                        pc.binary_join_element_wise(word, digits, ""))
    domain = pc.if_else(pa.array(qq), "qq.com",
                        _pick(cn_data.EMAIL_DOMAINS_WORD, rng.integers(0, len(cn_data.EMAIL_DOMAINS_WORD), m)))
    add(who, 2, pc.binary_join_element_wise(handle, "@", domain, ""), 0, None, 0.5, 0.05)

    who = np.nonzero(rng.random(nc) < 0.88)[0]
    add(who, 0, _mobiles(rng, t, len(who)), 1,
        pc.take(t.relations, pa.array(_weighted(rng, t.relation_w, len(who)))), 0.3, 0.02)
    who = who[rng.random(len(who)) < 0.45]
    add(who, 0, _mobiles(rng, t, len(who)), 1,
        pc.take(t.relations, pa.array(_weighted(rng, t.relation_w, len(who)))), 0.3, 0.02)

    who = np.nonzero(rng.random(nc) < 0.08)[0]
    m = len(who)
    landline = pc.binary_join_element_wise(
        pc.take(t.area_codes, pa.array(home[who])), "-", _text(rng.integers(20_000_000, 89_999_999, m)), "",
    )
    add(who, 0, landline, 2, pa.array(["单位"] * m, pa.string()), 0.5, 0.0)

    cust = np.concatenate([g[0] for g in groups])
    rank = np.concatenate([np.full(len(g[0]), i) for i, g in enumerate(groups)])
    kind = np.concatenate([np.full(len(g[0]), g[1]) for g in groups])
    owner = np.concatenate([np.full(len(g[0]), g[3]) for g in groups])
    order = np.lexsort((rank, cust))
    take = pa.array(order)
    total = len(order)
    table = pa.table(
        [
            _ids("CP", counters.contacts + 1 + np.arange(total), 12),
            pc.take(cust_ids, pa.array(cust[order])),
            _pick(("phone", "address", "email"), kind[order]),
            pc.take(pa.concat_arrays([g[2] for g in groups]), take),
            _pick(("debtor", "emergency", "other"), owner[order]),
            pc.take(pa.concat_arrays([g[4] for g in groups]), take),
            pa.array(np.concatenate([g[5] for g in groups])[order]),
            pa.array(np.concatenate([g[6] for g in groups])[order]),
        ],
        schema=SCHEMAS["contact_points"],
    )
    counters.contacts += total
    return table


def _holds(
    rng: np.random.Generator,
    *,
    n: int,
    btype: np.ndarray,
    stop: np.ndarray,
    d_date: np.ndarray,
    keep_from: np.ndarray,
    s_date: np.ndarray,
    as_of_days: int,
    acct_ids: pa.Array,
    counters: _Counters,
) -> tuple[pa.Table, np.ndarray]:
    """Disputes (pause ageing) and contact-only holds. Returns the table and a frozen flag."""
    rows = np.arange(n)
    first_day = s_date[rows, keep_from] + 1  # holds start inside the file's history
    span = np.maximum(as_of_days - first_day, 1)

    # disputes raised by people who then stop paying, around the due date they miss
    stopped = (btype == STOPPER) & (stop < d_date.shape[1] - 1)
    stop_due = d_date[rows, np.minimum(stop, d_date.shape[1] - 1)]
    a = np.nonzero(stopped & (rng.random(n) < 0.12) & (stop_due < as_of_days - 1))[0]
    a_start = np.minimum(stop_due[a] + rng.integers(-10, 21, len(a)), as_of_days - 1)
    a_start = np.maximum(a_start, first_day[a])
    # disputes on other accounts, anywhere in their history
    b = np.nonzero((btype != STOPPER) & (rng.random(n) < 0.006))[0]
    b_start = first_day[b] + (rng.random(len(b)) * span[b]).astype(np.int64)
    dispute_acct = np.concatenate([a, b])
    dispute_start = np.concatenate([a_start, b_start])
    nd = len(dispute_acct)
    open_ended = rng.random(nd) < np.where(np.arange(nd) < len(a), 0.5, 0.3)
    dispute_end = dispute_start + rng.integers(10, 91, nd)
    # explicit "true" most of the time; empty (the default for disputes) otherwise
    dispute_pause = np.where(rng.random(nd) < 0.7, 1, -1)

    # contact-only holds: complaints, hardship, fraud, legal, deceased, bankruptcy
    c = np.nonzero(rng.random(n) < 0.015)[0]
    nc = len(c)
    c_kind = _CONTACT_HOLD_KINDS[_weighted(rng, _CONTACT_HOLD_P, nc)]
    c_start = first_day[c] + (rng.random(nc) * span[c]).astype(np.int64)
    c_open = rng.random(nc) < np.where(np.isin(c_kind, (3, 4, 6)), 0.9, 0.4)
    c_end = c_start + rng.integers(7, 121, nc)
    # hardship sometimes comes with a payment holiday that pauses ageing
    c_pause = np.where((c_kind == 2) & (rng.random(nc) < 0.15), 1, np.where(rng.random(nc) < 0.5, 0, -1))

    acct = np.concatenate([dispute_acct, c])
    kind = np.concatenate([np.zeros(nd, dtype=np.int64), c_kind])
    start = np.concatenate([dispute_start, c_start])
    end = np.concatenate([dispute_end, c_end])
    no_end = np.concatenate([open_ended, c_open])
    pause = np.concatenate([dispute_pause, c_pause])
    start = np.minimum(start, as_of_days - 1)
    end = np.maximum(end, start)
    order = np.lexsort((start, acct))
    acct, kind, start, end, no_end, pause = (x[order] for x in (acct, kind, start, end, no_end, pause))
    m = len(acct)

    reasons: list[str] = list(cn_data.DISPUTE_REASONS)
    reason_base = {0: 0}
    for idx, k in enumerate(HOLD_KINDS[1:], start=1):
        reason_base[idx] = len(reasons)
        reasons.extend(cn_data.OTHER_HOLD_REASONS[k])
    reason_count = np.array([len(cn_data.DISPUTE_REASONS)] + [len(cn_data.OTHER_HOLD_REASONS[k]) for k in HOLD_KINDS[1:]])
    reason_start = np.array([reason_base[i] for i in range(len(HOLD_KINDS))])
    reason_idx = reason_start[kind] + (rng.random(m) * reason_count[kind]).astype(np.int64)
    reason_idx = np.where(rng.random(m) < 0.1, len(reasons), reason_idx)  # some without a reason
    creator = np.where(rng.random(m) < 0.6, len(cn_data.HOLD_CREATED_BY), rng.integers(0, len(cn_data.HOLD_CREATED_BY), m))

    table = pa.table(
        [
            _ids("HD", counters.holds + 1 + np.arange(m), 10), pc.take(acct_ids, pa.array(acct)),
            _pick(HOLD_KINDS, kind), _date_array(start), _date_array(end, mask=no_end),
            pa.array(pause == 1, pa.bool_(), mask=pause < 0),
            pc.take(pa.array(reasons + [None], pa.string()), pa.array(reason_idx)),
            pc.take(pa.array(list(cn_data.HOLD_CREATED_BY) + [None], pa.string()), pa.array(creator)),
        ],
        schema=SCHEMAS["holds"],
    )
    counters.holds += m
    frozen = np.zeros(n, dtype=bool)
    frozen[acct[np.isin(kind, (4, 5)) & no_end]] = True  # deceased, fraud
    return table, frozen


# ---------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------


class _CsvSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._file = pa.OSFile(str(path), "wb")
        self._file.write((",".join(schema.names) + "\n").encode("utf-8"))
        # values never contain commas, quotes or line breaks; "none" makes the writer refuse any that do
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        self._writer = pa_csv.CSVWriter(self._file, schema, write_options=options)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()
        self._file.close()


class _ParquetSink:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._writer = pq.ParquetWriter(str(path), schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


def generate_portfolio(
    out_dir: Path,
    *,
    accounts: int,
    seed: int,
    as_of: date,
    months: int = 6,
    fmt: str = "csv",
    progress: ProgressFn | None = None,
) -> PortfolioSummary:
    """Write a synthetic portfolio of ``accounts`` card accounts into ``out_dir``.

    Files: ``customers``, ``contact_points``, ``accounts``, ``statements``, ``payments`` and
    ``holds``, each ``.csv`` or ``.parquet`` (``fmt``). Statements cover the ``months`` monthly
    cycles before ``as_of`` (further back for accounts in arrears since earlier), payments and
    holds are dated before ``as_of``. Same arguments, same bytes.

    ``progress(kind, done, total)`` is called with kind ``"accounts"`` before the first chunk and
    after each one.
    """
    if fmt not in ("csv", "parquet"):
        raise ArrearsError(f"unknown format {fmt!r}: use 'csv' or 'parquet'")
    if accounts < 0:
        raise ArrearsError(f"accounts must be >= 0, got {accounts}")
    if seed < 0:
        raise ArrearsError(f"seed must be >= 0, got {seed}")
    if months < 1:
        raise ArrearsError(f"months must be >= 1, got {months}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    other = "parquet" if fmt == "csv" else "csv"
    stale = [out_dir / f"{kind}.{other}" for kind in KINDS if (out_dir / f"{kind}.{other}").exists()]
    if stale:
        raise ArrearsError(
            f"{stale[0]} exists: ingest would load both formats from {out_dir}; use an empty directory"
        )

    files = {kind: out_dir / f"{kind}.{fmt}" for kind in KINDS}
    sink_cls = _CsvSink if fmt == "csv" else _ParquetSink
    sinks = {kind: sink_cls(files[kind], SCHEMAS[kind]) for kind in KINDS}
    counts = dict.fromkeys(KINDS, 0)
    counters = _Counters()
    tables = _tables()

    def write(produced: dict[str, pa.Table]) -> None:
        for kind in KINDS:
            sinks[kind].write(produced[kind])

    # Arrow encodes and writes without the GIL: chunk i is written while chunk i+1 is generated.
    # One writer thread and waiting for it before handing over the next chunk keep the file order.
    pending: Future[None] | None = None
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="portfolio-writer") as pool:
            if progress:
                progress("accounts", 0, accounts)
            for chunk_no, first in enumerate(range(0, accounts, CHUNK_ACCOUNTS)):
                n = min(CHUNK_ACCOUNTS, accounts - first)
                rng = np.random.default_rng([seed, chunk_no])
                produced = _chunk(rng, tables, first_account=first + 1, n=n, counters=counters, as_of=as_of,
                                  months=months)
                for kind in KINDS:
                    counts[kind] += produced[kind].num_rows
                if pending is not None:
                    pending.result()
                pending = pool.submit(write, produced)
                if progress:
                    progress("accounts", first + n, accounts)
            if pending is not None:
                pending.result()
    finally:
        for sink in sinks.values():
            sink.close()
    return PortfolioSummary(path=out_dir, fmt=fmt, seed=seed, as_of=as_of, months=months, counts=counts,
                            files=files)
