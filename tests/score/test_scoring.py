"""Behaviour score: loading a versioned model, scoring to basis points, the features file, the CLI."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from arrears.kit.errors import FileRejected
from arrears.score.commands import score_app
from arrears.score.fileformat import read_features_file, write_table
from arrears.score.model import SCORE_COLUMN, ModelError, load_model, probability_to_bp, save_model
from arrears.score.training import TrainingConfig, train
from arrears.sim.score_history import feature_snapshot, score_history

CONFIG = TrainingConfig(num_threads=1, num_boost_round=60)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    model, _ = train(score_history(2000, 12, seed=21), name="behaviour", version="2026-12", config=CONFIG)
    path = save_model(model, tmp_path_factory.mktemp("models"))
    return model, path


def test_probability_to_bp() -> None:
    p = np.array([0.0, 1.0, 0.25, 0.123449, 0.12346, -0.1, 1.2, 0.99995])
    assert probability_to_bp(p).tolist() == [0, 10000, 2500, 1234, 1235, 0, 10000, 10000]
    assert probability_to_bp(p).dtype == np.int32


def test_loaded_model_scores_like_the_trained_one(saved) -> None:
    model, path = saved
    loaded = load_model(path, num_threads=1)
    assert (loaded.name, loaded.version) == ("behaviour", "2026-12")
    features = feature_snapshot(3000, seed=5)
    scores = loaded.score(features)
    assert scores.type == pa.int32() and len(scores) == features.num_rows
    assert 0 <= pc.min(scores).as_py() and pc.max(scores).as_py() <= 10000
    assert scores.equals(model.score(features))
    assert scores.to_pylist() == probability_to_bp(loaded.probabilities(features)).tolist()
    out = loaded.score_table(features)
    assert out.column_names == ["account_ref", "month", SCORE_COLUMN]


def test_score_orders_risk(saved) -> None:
    """Accounts far behind and without recent payments score lower than current payers."""
    model, _ = saved
    f = feature_snapshot(5000, seed=6)
    s = np.asarray(model.score(f))
    dpd, count = f["dpd"].to_numpy(), f["payments_count_3m"].to_numpy()
    assert s[(dpd == 0) & (count == 3)].mean() > s[(dpd >= 60) & (count == 0)].mean() + 2000


def test_unseen_and_missing_categories_still_score(saved) -> None:
    model, _ = saved
    f = feature_snapshot(200, seed=8)
    odd = f.set_column(f.schema.get_field_index("region"), "region", pa.array(["mars"] * f.num_rows))
    odd = odd.drop_columns(["age_band"])
    scores = model.score(odd)
    assert len(scores) == 200 and pc.min(scores).as_py() >= 0


def test_features_file_rules(saved, tmp_path: Path) -> None:
    model, _ = saved
    f = feature_snapshot(50, seed=9)
    path = write_table(f.drop_columns(["month"]), tmp_path / "features.csv")
    table = read_features_file(path, features=model.features)
    assert "month" not in table.column_names and table.num_rows == 50
    with_label = write_table(score_history(30, 1, seed=3), tmp_path / "labelled.parquet")
    assert "paid_next" not in read_features_file(with_label).column_names
    path = write_table(f.drop_columns(["utilisation_bp"]), tmp_path / "short.csv")
    with pytest.raises(FileRejected, match="missing required column") as err:
        read_features_file(path, features=model.features)
    assert (err.value.row, err.value.column) == (1, "utilisation_bp")
    dup = pa.concat_tables([f.drop_columns(["month"]).slice(0, 3), f.drop_columns(["month"]).slice(1, 1)])
    path = write_table(dup, tmp_path / "dup.csv")
    with pytest.raises(FileRejected, match="repeat") as err:
        read_features_file(path)
    assert (err.value.row, err.value.column) == (5, "account_ref")


def test_missing_model_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a model directory"):
        load_model(tmp_path)


# --- command line -----------------------------------------------------------------------------


def test_cli_simulate_train_apply(tmp_path: Path) -> None:
    runner = CliRunner()
    history = tmp_path / "history.parquet"
    result = runner.invoke(score_app, ["simulate", str(history), "--accounts", "1500", "--months", "10", "--seed", "4"])
    assert result.exit_code == 0, result.output
    args = ["train", str(history), "--name", "behaviour", "--version", "v1", "--out", str(tmp_path / "models"),
            "--rounds", "40", "--threads", "1", "--holdout-months", "2"]
    result = runner.invoke(score_app, args)
    assert result.exit_code == 0, result.output
    assert "Hold-out AUC 0." in result.output and "Calibration" in result.output
    model_dir = tmp_path / "models" / "behaviour" / "v1"
    assert (model_dir / "card.json").is_file()

    again = runner.invoke(score_app, args)
    assert again.exit_code == 1 and "already exists" in again.output

    features = write_table(feature_snapshot(400, seed=2), tmp_path / "features.csv")
    out = tmp_path / "scores.csv"
    result = runner.invoke(score_app, ["apply", "--model", str(model_dir), "--features", str(features),
                                       "--out", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 400 and set(rows[0]) == {"account_ref", "month", SCORE_COLUMN}
    assert all(0 <= int(r[SCORE_COLUMN]) <= 10000 for r in rows)


def test_cli_bad_training_file_writes_nothing(tmp_path: Path) -> None:
    table = score_history(100, 6, seed=1)
    bad = table.set_column(table.schema.get_field_index("dpd"), "dpd",
                           pa.array([str(v) for v in table["dpd"].to_pylist()[:-1]] + ["soon"]))
    path = tmp_path / "bad.parquet"
    pq.write_table(bad, path)
    result = CliRunner().invoke(score_app, ["train", str(path), "--name", "b", "--version", "1",
                                            "--out", str(tmp_path / "models"), "--threads", "1"])
    assert result.exit_code == 1
    assert f"row {table.num_rows}, column 'dpd'" in result.output and "whole number" in result.output
    assert not (tmp_path / "models").exists()
