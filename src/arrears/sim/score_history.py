"""Synthetic behaviour-score history: the training file of ``docs/behaviour-score.md``.

One row per account and month (the month-end snapshot of the account) with the features and
``paid_next``: whether the account made its next payment. Accounts are simulated month by month,
vectorised over accounts with one seeded ``numpy`` generator (the output depends only on the
arguments):

- each account has a latent propensity (willingness and ability to pay), a credit limit, a
  utilisation level, an age band and a region;
- the probability of paying next month falls with days past due and utilisation, rises with the
  number and size of payments in the last three months and the latent propensity, with noise;
- a payment brings the account current; a miss adds 30 days past due; past 180 days the account
  is charged off and leaves the file.

The same code gives a one-month feature snapshot for scoring (:func:`feature_snapshot`).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

from arrears.score.fileformat import write_table

__all__ = ["AGE_BANDS", "REGIONS", "bucket_of_dpd", "feature_snapshot", "score_history", "write_table"]

AGE_BANDS = ("18-25", "26-35", "36-45", "46-55", "56+")
REGIONS = ("east", "north", "south", "central", "west")
LIMITS_YUAN = np.array([5_000, 10_000, 20_000, 30_000, 50_000, 100_000])
# Bucket boundaries of the packaged delinquency rules (M0 … M7+).
_BUCKET_EDGES = np.array([0, 30, 60, 90, 120, 150, 180])
_BUCKET_NAMES = np.array(["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+"])


def bucket_of_dpd(dpd: np.ndarray) -> np.ndarray:
    """Bucket names for days past due, as the packaged buckets: M0 = 0, M1 = 1-30, … M7+ = 181+."""
    return _BUCKET_NAMES[np.searchsorted(_BUCKET_EDGES, dpd, side="left")]


def _month_text(start: str, offset: int) -> str:
    year, month = int(start[:4]), int(start[5:7])
    index = year * 12 + month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def score_history(accounts: int = 5_000, months: int = 24, *, seed: int = 20261201, start: str = "2024-01",
                  label_noise: float = 0.8) -> pa.Table:
    """The training table: ``accounts`` accounts over ``months`` month-end snapshots from ``start``."""
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", start):
        raise ValueError(f"start must be a month YYYY-MM, got {start!r}")
    rng = np.random.default_rng(seed)
    n = accounts
    refs = np.array([f"CC{seed % 100_000:05d}{i:08d}" for i in range(n)])
    propensity = rng.normal(1.6, 1.1, n)
    limit = LIMITS_YUAN[rng.integers(0, len(LIMITS_YUAN), n)] * 100
    util_level = rng.beta(2.0, 2.5, n)
    balance = (limit * util_level).astype(np.int64)
    dpd = np.where(rng.random(n) < 0.8, 0, rng.choice([25, 55, 85, 115], n)).astype(np.int64)
    cycles_delinquent = (dpd // 30 + (dpd > 0)).astype(np.int64)
    months_on_book = rng.integers(3, 120, n).astype(np.int64)
    age_band = np.array(AGE_BANDS)[rng.integers(0, len(AGE_BANDS), n)]
    region = np.array(REGIONS)[rng.integers(0, len(REGIONS), n)]
    # Payments of the last three months (fen), oldest first; a fresh history is plausible for the type.
    pay_hist = np.zeros((n, 3), dtype=np.int64)
    pay_hist[:] = np.where(rng.random((n, 3)) < 1 / (1 + np.exp(-propensity[:, None])), balance[:, None] // 10, 0)
    alive = np.ones(n, dtype=bool)

    parts: list[pa.Table] = []
    for t in range(months):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        lim, bal, d = limit[idx], balance[idx], dpd[idx]
        utilisation_bp = (bal * 10_000 // lim).astype(np.int64)
        min_due = np.minimum(bal, np.maximum(bal // 20, 5_000) * (1 + d // 30)).astype(np.int64)
        payments_3m = pay_hist[idx].sum(axis=1)
        payments_count = (pay_hist[idx] > 0).sum(axis=1)

        logit = (propensity[idx]
                 - 0.022 * np.minimum(d, 180)
                 - 1.6 * (utilisation_bp / 10_000 - 0.5)
                 + 0.55 * payments_count
                 + 0.25 * np.log1p(payments_3m / (min_due + 100.0))
                 + 0.004 * np.minimum(months_on_book[idx], 120)
                 - 0.15 * cycles_delinquent[idx] ** 0.5
                 - 1.6
                 + rng.normal(0.0, label_noise, idx.size))
        paid = rng.random(idx.size) < 1 / (1 + np.exp(-logit))

        parts.append(pa.table({
            "account_ref": refs[idx],
            "month": np.full(idx.size, _month_text(start, t)),
            "dpd": d,
            "bucket": bucket_of_dpd(d),
            "balance_fen": bal,
            "credit_limit_fen": lim,
            "utilisation_bp": utilisation_bp,
            "payments_3m_fen": payments_3m,
            "payments_count_3m": payments_count,
            "min_due_fen": min_due,
            "months_on_book": months_on_book[idx],
            "cycles_delinquent": cycles_delinquent[idx],
            "age_band": age_band[idx],
            "region": region[idx],
            "paid_next": paid.astype(np.int64),
        }))

        # Next month: the payment (a multiple of the minimum, up to the balance), spending, interest.
        share = rng.choice([1.0, 1.0, 1.5, 3.0, 10.0], idx.size)
        amount = np.where(paid, np.minimum(bal, (min_due * share).astype(np.int64)), 0)
        spend = np.where(d == 0, (lim * util_level[idx] * rng.uniform(0.05, 0.25, idx.size)).astype(np.int64), 0)
        interest = np.where(paid, 0, bal * 5 // 1000)  # 0.05 % a day, about 1.5 % a month on unpaid
        balance[idx] = np.clip(bal - amount + spend + interest, 0, (lim * 11) // 10)
        dpd[idx] = np.where(paid, 0, d + 30)
        cycles_delinquent[idx] += ~paid
        months_on_book[idx] += 1
        pay_hist[idx] = np.column_stack([pay_hist[idx, 1:], amount])
        alive[idx[dpd[idx] > 180]] = False
    return pa.concat_tables(parts)


def feature_snapshot(accounts: int, *, seed: int = 20261202, month: str = "2026-11") -> pa.Table:
    """Features of exactly ``accounts`` accounts for one month, without the label: the input of
    ``arrears score apply`` (the first month of a simulated history)."""
    return score_history(accounts, 1, seed=seed, start=month).drop_columns(["paid_next"])
