"""Behaviour score training: file validation, split by time, hold-out metrics, versioned artefacts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sklearn.calibration import calibration_curve

from arrears.kit.errors import FileRejected
from arrears.score.fileformat import read_training_file, write_table
from arrears.score.model import ModelError, load_model, save_model
from arrears.score.training import TrainingConfig, TrainingError, calibration_table, split_by_time, train, train_file
from arrears.sim.score_history import score_history

# One thread: the machine running the tests is shared; results are deterministic per thread count.
CONFIG = TrainingConfig(num_threads=1)


@pytest.fixture(scope="module")
def history_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_table(score_history(3000, 20, seed=7), tmp_path_factory.mktemp("hist") / "history.csv")


@pytest.fixture(scope="module")
def trained(history_file: Path):  # type: ignore[no-untyped-def]
    return train_file(history_file, name="behaviour", version="1", config=CONFIG)


# --- split and metrics ------------------------------------------------------------------------


def test_split_by_time_holds_out_latest_months_with_a_gap(trained, history_file: Path) -> None:
    _, report = trained
    assert report.train_months == tuple(f"2024-{m:02d}" for m in range(1, 13)) + (
        "2025-01", "2025-02", "2025-03", "2025-04")
    assert report.gap_months == ("2025-05",)
    assert report.holdout_months == ("2025-06", "2025-07", "2025-08")
    months = read_training_file(history_file)["month"]
    assert report.train_rows == pc.sum(pc.less_equal(months, "2025-04")).as_py()
    assert report.holdout_rows == pc.sum(pc.greater_equal(months, "2025-06")).as_py()


def test_split_needs_enough_months() -> None:
    table = score_history(50, 4, seed=1)
    assert split_by_time(table, holdout_months=2, gap_months=1) == (["2024-01"], ["2024-02"], ["2024-03", "2024-04"])
    with pytest.raises(TrainingError, match="need at least 5"):
        split_by_time(table, holdout_months=3, gap_months=1)


def test_holdout_auc_well_above_chance(trained) -> None:
    _, report = trained
    assert report.auc > 0.7
    assert 0 < report.brier < 0.2


def test_label_shuffled_file_gives_auc_near_half(history_file: Path) -> None:
    table = read_training_file(history_file)
    rng = np.random.default_rng(99)
    shuffled = table.set_column(table.schema.get_field_index("paid_next"), "paid_next",
                                pa.array(rng.permutation(table["paid_next"].to_numpy()), pa.int8()))
    _, report = train(shuffled, name="noise", version="1", config=TrainingConfig(num_threads=1, num_boost_round=80))
    assert abs(report.auc - 0.5) < 0.04, report.auc


def test_calibration_table_sums_and_matches_sklearn(trained) -> None:
    _, report = trained
    cal = report.calibration
    assert len(cal) == 10 and [r.bin for r in cal] == list(range(1, 11))
    assert sum(r.rows for r in cal) == report.holdout_rows
    assert round(sum(r.observed * r.rows for r in cal)) == report.holdout_positive
    assert all(a.mean_predicted <= b.mean_predicted for a, b in zip(cal, cal[1:]))
    assert all(abs(r.rows - report.holdout_rows / 10) <= 5 for r in cal)  # deciles (ties move a few rows)
    # calibrated: each decile's observed rate within 0.06 of its mean prediction
    assert max(abs(r.observed - r.mean_predicted) for r in cal) < 0.06


def test_calibration_table_is_calibration_curve_with_counts() -> None:
    rng = np.random.default_rng(3)
    p = rng.random(5000)
    y = (rng.random(5000) < p).astype(float)
    table = calibration_table(y, p)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
    assert np.allclose([r.observed for r in table], prob_true)
    assert np.allclose([r.mean_predicted for r in table], prob_pred)
    assert sum(r.rows for r in table) == 5000


def test_single_class_refused() -> None:
    table = score_history(200, 6, seed=2)
    ones = table.set_column(table.schema.get_field_index("paid_next"), "paid_next",
                            pa.array(np.ones(table.num_rows, dtype=np.int8)))
    with pytest.raises(TrainingError, match="only one value"):
        train(ones, name="x", version="1", config=CONFIG)


# --- artefacts --------------------------------------------------------------------------------


def test_card_and_versioning(trained, history_file: Path, tmp_path: Path) -> None:
    model, report = trained
    path = save_model(model, tmp_path / "models")
    assert path == tmp_path / "models" / "behaviour" / "1"
    card = json.loads((path / "card.json").read_text(encoding="utf-8"))
    assert card["training_file"]["sha256"] == hashlib.sha256(history_file.read_bytes()).hexdigest()
    assert card["training_file"]["rows"] == report.train_rows + report.holdout_rows + card["rows"]["gap"]
    assert card["features"]["numeric"][:2] == ["dpd", "balance_fen"]
    assert card["features"]["categorical"]["bucket"][:2] == ["M0", "M1"]
    assert card["split"]["holdout_months"] == list(report.holdout_months)
    assert card["metrics"]["holdout_auc"] == report.auc
    assert {"lightgbm", "scikit-learn", "numpy", "pyarrow", "python"} <= set(card["versions"])
    assert card["model_sha256"] == hashlib.sha256((path / "model.txt").read_bytes()).hexdigest()
    before = (path / "model.txt").read_bytes()
    with pytest.raises(ModelError, match="versions are immutable"):
        save_model(model, tmp_path / "models")
    assert (path / "model.txt").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "models" / "behaviour").iterdir()) == ["1"]  # no staging left


def test_bad_names_and_tampered_artefact(trained, tmp_path: Path) -> None:
    model, _ = trained
    for field_, bad in (("name", "Behaviour Score"), ("version", ".."), ("version", "a/b")):
        m = type(model)(model.booster, {**model.card, field_: bad})
        with pytest.raises(ModelError, match=field_):
            save_model(m, tmp_path / "m")
    path = save_model(type(model)(model.booster, {**model.card, "version": "t"}), tmp_path / "m")
    text = (path / "model.txt").read_text(encoding="utf-8")
    (path / "model.txt").write_text(text.replace("objective=binary", "objective=binary "), encoding="utf-8")
    with pytest.raises(ModelError, match="does not match the SHA-256"):
        load_model(path)


def test_two_trainings_give_the_same_model_and_scores(trained, history_file: Path) -> None:
    first, _ = trained
    second, report = train_file(history_file, name="behaviour", version="2", config=CONFIG)
    assert second.booster.model_to_string() == first.booster.model_to_string()
    features = score_history(500, 2, seed=11)
    assert first.score(features).equals(second.score(features))
    assert report.auc == trained[1].auc


# --- the training file ------------------------------------------------------------------------

HEADER = ("account_ref,month,dpd,bucket,balance_fen,credit_limit_fen,utilisation_bp,payments_3m_fen,"
          "payments_count_3m,min_due_fen,months_on_book,cycles_delinquent,age_band,region,paid_next")
ROW1 = "CC1,2025-01,0,M0,100000,2000000,500,30000,3,5000,40,0,26-35,east,1"
ROW2 = "CC2,2025-01,35,M2,500000,1000000,5000,0,0,50000,12,2,,,0"


def write_csv(tmp_path: Path, *lines: str, name: str = "train.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_good_csv_reads_typed(tmp_path: Path) -> None:
    table = read_training_file(write_csv(tmp_path, HEADER, ROW1, ROW2))
    assert table.num_rows == 2
    assert table["dpd"].type == pa.int64() and table["paid_next"].type == pa.int8()
    assert table["region"].to_pylist() == ["east", None]


@pytest.mark.parametrize(("lines", "row", "column", "message"), [
    ((HEADER.replace(",dpd", ""), ROW1), 1, "dpd", "missing required column"),
    ((HEADER + ",colour", ROW1 + ",red"), 1, "colour", "unknown column"),
    ((HEADER.replace("region", "bucket"), ROW1), 1, "bucket", "duplicate column"),
    ((HEADER, ROW1, ROW2.replace(",35,", ",3x,")), 3, "dpd", "whole number"),
    ((HEADER, ROW1, ROW2.replace(",1000000,", ",-1,")), 3, "credit_limit_fen", ">= 0"),
    ((HEADER, ROW1, ROW2.replace("2025-01", "2025-13")), 3, "month", "YYYY-MM"),
    ((HEADER, ROW1[:-1] + "2", ROW2), 2, "paid_next", "0 or 1"),
    ((HEADER, ROW1, ROW2.replace("M2", "")), 3, "bucket", "required"),
    ((HEADER, ROW1, ROW2, ROW1), 4, "account_ref", "repeat an earlier row"),
    ((HEADER, ROW1, "CC3,2025-01,0"), 3, None, "expected 15 fields, got 3"),
    ((HEADER,), 2, None, "no data rows"),
])
def test_bad_csv_names_row_and_column(tmp_path: Path, lines, row, column, message) -> None:
    path = write_csv(tmp_path, *lines)
    with pytest.raises(FileRejected, match=message) as err:
        read_training_file(path)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), row, column)


def test_not_utf8_and_wrong_suffix(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes((HEADER + "\n" + ROW1 + "\n").encode() + "CC9,2025-01,0,M0,1,1,1,1,1,1,1,1,东部,x,1\n".encode("gbk"))
    with pytest.raises(FileRejected, match="not UTF-8") as err:
        read_training_file(path)
    assert err.value.row == 3
    with pytest.raises(FileRejected, match="csv or .parquet"):
        read_training_file(write_csv(tmp_path, HEADER, ROW1, name="train.txt"))
    with pytest.raises(FileRejected, match="no such file"):
        read_training_file(tmp_path / "missing.csv")


def test_bad_parquet_names_record_and_column(tmp_path: Path) -> None:
    good = score_history(20, 2, seed=5)
    path = tmp_path / "train.parquet"
    pq.write_table(good, path)
    assert read_training_file(path).equals(good.set_column(14, "paid_next", good["paid_next"].cast(pa.int8())))
    floats = good.set_column(good.schema.get_field_index("balance_fen"), "balance_fen",
                             good["balance_fen"].cast(pa.float64()))
    pq.write_table(floats, path)
    with pytest.raises(FileRejected, match="whole numbers") as err:
        read_training_file(path)
    assert (err.value.row, err.value.column) == (None, "balance_fen")
    dpd = good["dpd"].to_pylist()
    dpd[6] = None
    pq.write_table(good.set_column(good.schema.get_field_index("dpd"), "dpd", pa.array(dpd, pa.int64())), path)
    with pytest.raises(FileRejected, match="required") as err:
        read_training_file(path)
    assert (err.value.row, err.value.column) == (7, "dpd")
