"""Training the behaviour score (propensity to pay) with LightGBM, split by time.

The split: the latest ``holdout_months`` months of the file are held out; the ``gap_months``
before them are dropped; every earlier month trains. A row of month *m* is labelled by the payment
made in month *m + 1*, so without the gap the last training month's labels would be observed
inside the hold-out period. Each account-month is one row (checked on reading) and belongs to
exactly one side, so no account-month is both trained on and scored in the hold-out. The same
account does appear on both sides in different months — that is the real use (score next month
the accounts you trained on) and what the hold-out measures.

Metrics on the hold-out: AUC (``roc_auc_score``), Brier score, log loss, base rate, and a
calibration table by deciles of the predicted probability (the bins of scikit-learn's
``calibration_curve(strategy="quantile")``, with counts).
"""

from __future__ import annotations

import hashlib
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError
from arrears.score.fileformat import CATEGORICAL_FEATURES, LABEL, NUMERIC_FEATURES, read_training_file
from arrears.score.model import DEFAULT_THREADS, BehaviourModel, feature_matrix

__all__ = ["CalibrationRow", "TrainingConfig", "TrainingError", "TrainingReport", "calibration_table",
           "split_by_time", "train", "train_file"]


class TrainingError(ArrearsError):
    status = 422


@dataclass(frozen=True)
class TrainingConfig:
    holdout_months: int = 3
    gap_months: int = 1
    num_boost_round: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 100
    lambda_l2: float = 1.0
    seed: int = 20261201
    num_threads: int = DEFAULT_THREADS

    def lightgbm_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "lambda_l2": self.lambda_l2,
            "max_bin": 255,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }


@dataclass(frozen=True)
class CalibrationRow:
    bin: int
    rows: int
    mean_predicted: float
    observed: float  # share of rows that paid
    low: float  # smallest predicted probability in the bin
    high: float


@dataclass(frozen=True)
class TrainingReport:
    train_months: tuple[str, ...]
    gap_months: tuple[str, ...]
    holdout_months: tuple[str, ...]
    train_rows: int
    holdout_rows: int
    train_positive: int
    holdout_positive: int
    auc: float
    brier: float
    log_loss: float
    calibration: tuple[CalibrationRow, ...]


def split_by_time(table: pa.Table, *, holdout_months: int, gap_months: int) -> tuple[list[str], list[str], list[str]]:
    """(train months, gap months, hold-out months), oldest first."""
    months = sorted(pc.unique(table["month"]).to_pylist())
    if holdout_months < 1 or gap_months < 0:
        raise TrainingError("holdout_months must be >= 1 and gap_months >= 0")
    if len(months) < holdout_months + gap_months + 1:
        raise TrainingError(f"the file has {len(months)} month(s); a hold-out of {holdout_months} and a gap of "
                            f"{gap_months} need at least {holdout_months + gap_months + 1}")
    train_end = len(months) - holdout_months - gap_months
    return months[:train_end], months[train_end:len(months) - holdout_months], months[-holdout_months:]


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[CalibrationRow, ...]:
    """Deciles (by default) of the predicted probability: quantile edges, rows, mean predicted and
    observed rate per non-empty bin — the bins of ``calibration_curve(strategy="quantile")``."""
    edges = np.percentile(p, np.linspace(0, 100, bins + 1))
    ids = np.searchsorted(edges[1:-1], p)
    rows = []
    for b in range(bins):
        mask = ids == b
        count = int(mask.sum())
        if count:
            rows.append(CalibrationRow(b + 1, count, float(p[mask].mean()), float(y[mask].mean()),
                                       float(p[mask].min()), float(p[mask].max())))
    return tuple(rows)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import lightgbm
    import sklearn

    return {"python": platform.python_version(), "lightgbm": lightgbm.__version__, "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "pyarrow": pa.__version__}


def train(table: pa.Table, *, name: str, version: str, config: TrainingConfig = TrainingConfig(),
          source: dict[str, Any] | None = None) -> tuple[BehaviourModel, TrainingReport]:
    """Train on a validated training table (see :func:`read_training_file`); the returned model
    is not saved (:func:`arrears.score.model.save_model`)."""
    import lightgbm as lgb
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    train_m, gap_m, hold_m = split_by_time(table, holdout_months=config.holdout_months, gap_months=config.gap_months)
    month = table["month"]
    train_t = table.filter(pc.is_in(month, value_set=pa.array(train_m)))
    hold_t = table.filter(pc.is_in(month, value_set=pa.array(hold_m)))
    numeric = list(NUMERIC_FEATURES)
    categorical = {c: sorted(v for v in pc.unique(train_t[c]).to_pylist() if v is not None)
                   for c in CATEGORICAL_FEATURES if c in table.column_names}
    y_train = train_t[LABEL].to_numpy().astype(np.float64)
    y_hold = hold_t[LABEL].to_numpy().astype(np.int64)
    for label, y in (("training", y_train), ("hold-out", y_hold)):
        if len(np.unique(y)) < 2:
            raise TrainingError(f"the {label} months have only one value of {LABEL}: nothing to learn or measure")

    features = numeric + list(categorical)
    dataset = lgb.Dataset(feature_matrix(train_t, numeric, categorical), label=y_train, feature_name=features,
                          categorical_feature=list(categorical), params={"max_bin": 255, "verbosity": -1},
                          free_raw_data=True)
    booster = lgb.train(config.lightgbm_params(), dataset, num_boost_round=config.num_boost_round)
    p_hold = booster.predict(feature_matrix(hold_t, numeric, categorical), num_threads=config.num_threads)

    report = TrainingReport(
        train_months=tuple(train_m), gap_months=tuple(gap_m), holdout_months=tuple(hold_m),
        train_rows=train_t.num_rows, holdout_rows=hold_t.num_rows,
        train_positive=int(y_train.sum()), holdout_positive=int(y_hold.sum()),
        auc=float(roc_auc_score(y_hold, p_hold)), brier=float(brier_score_loss(y_hold, p_hold)),
        log_loss=float(log_loss(y_hold, p_hold, labels=[0, 1])),
        calibration=calibration_table(y_hold.astype(np.float64), p_hold),
    )
    card = {
        "name": name,
        "version": version,
        "kind": "behaviour_score",
        "target": f"{LABEL}: probability that the next payment is made",
        "output": "behaviour_score: the probability in basis points 0..10000 (half-up)",
        "created_at": utc_now().isoformat(),
        "features": {"numeric": numeric, "categorical": categorical},
        "training_file": source or {},
        "split": {"train_months": train_m, "gap_months": gap_m, "holdout_months": hold_m},
        "rows": {"train": report.train_rows, "holdout": report.holdout_rows, "gap": table.num_rows
                 - report.train_rows - report.holdout_rows, "train_positive": report.train_positive,
                 "holdout_positive": report.holdout_positive},
        "metrics": {"holdout_auc": report.auc, "holdout_brier": report.brier, "holdout_log_loss": report.log_loss,
                    "holdout_base_rate": report.holdout_positive / report.holdout_rows},
        "calibration": [asdict(r) for r in report.calibration],
        "training": {"library": "lightgbm", "params": config.lightgbm_params(),
                     "num_boost_round": config.num_boost_round},
        "versions": _versions(),
    }
    return BehaviourModel(booster, card, None, config.num_threads), report


def train_file(path: str | Path, *, name: str, version: str,
               config: TrainingConfig = TrainingConfig()) -> tuple[BehaviourModel, TrainingReport]:
    """Read and validate the training file (rejected whole on the first bad cell), then train."""
    path = Path(path)
    table = read_training_file(path)
    source = {"file": path.name, "sha256": _sha256(path), "rows": table.num_rows}
    return train(table, name=name, version=version, config=config, source=source)
