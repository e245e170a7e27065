"""The whole daily cycle file to file: Spark (local mode) gives DuckDB's result row by row.

One synthetic ledger (``generate_portfolio``), a collections state (cases, interactions around
midnight in the bank's time zone, promises, plans, hold reviews), a behaviour model, two strategies
and an experiment; two business dates in a row, so that the second day reads the first day's entry
dates back. Every output table of both engines is compared whole. The input checks are tested on
DuckDB, and the DuckDB cycle's features are checked against the store's definition by hand-made cases.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arrears.batch.filecycle import OUTPUTS, FileCycleError, run_file_cycle
from arrears.kit.errors import ArrearsError
from arrears.sim.portfolio import generate_portfolio

ROOT = Path(__file__).resolve().parents[2]
STRATEGIES = [ROOT / "strategies" / "early-gentle.yaml", ROOT / "strategies" / "late-stage.yaml"]
DAY1, DAY2 = date(2026, 11, 27), date(2026, 11, 28)
EXPERIMENTS = """\
experiments:
  - code: early-e
    salt: early-e-1
    start: 2026-01-01
    champion: champ
    arms:
      - {code: champ, share_bp: 5000, strategy: early-gentle}
      - {code: forced, share_bp: 5000, segment: early_m2}
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("filecycle")
    ledger, state = root / "ledger", root / "state"
    generate_portfolio(ledger, accounts=1500, seed=23, as_of=DAY2, fmt="parquet")
    refs = sorted(pq.read_table(ledger / "accounts.parquet", columns=["account_id"]).column(0).to_pylist())
    state.mkdir()
    picked = refs[::7]
    cases = [{"case_id": i + 1, "account_id": ref, "status": ["contacting", "follow_up", "cured", "new"][i % 4],
              "opened_on": DAY1 - timedelta(days=20 + i % 30),
              "reopened_on": DAY1 - timedelta(days=3) if i % 5 == 0 else None} for i, ref in enumerate(picked)]
    pq.write_table(pa.Table.from_pylist(cases, schema=pa.schema([
        ("case_id", pa.int64()), ("account_id", pa.string()), ("status", pa.string()), ("opened_on", pa.date32()),
        ("reopened_on", pa.date32())])), state / "cases.parquet")
    base = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)  # 01:30 on 11-28 in Shanghai: a day later than in UTC
    interactions = [{"case_id": c["case_id"], "started_at": base - timedelta(hours=h * 9),
                     "outcome": ["no_answer", "promise_to_pay", "refused", None][h % 4],
                     "direction": "outbound" if h % 3 else "inbound", "party": ["debtor", "third_party", None][h % 3]}
                    for c in cases for h in range(c["case_id"] % 5)]
    pq.write_table(pa.Table.from_pylist(interactions, schema=pa.schema([
        ("case_id", pa.int64()), ("started_at", pa.timestamp("us", tz="UTC")), ("outcome", pa.string()),
        ("direction", pa.string()), ("party", pa.string())])), state / "interactions.parquet")
    promises = [{"case_id": c["case_id"], "status": ["open", "broken", "kept"][c["case_id"] % 3],
                 "promised_date": DAY1 - timedelta(days=c["case_id"] % 40), "created_on": DAY1 - timedelta(days=45)}
                for c in cases if c["case_id"] % 2]
    pq.write_table(pa.Table.from_pylist(promises, schema=pa.schema([
        ("case_id", pa.int64()), ("status", pa.string()), ("promised_date", pa.date32()),
        ("created_on", pa.date32())])), state / "promises.parquet")
    plans = [{"agreement_id": i + 1, "account_id": c["account_id"],
              "status": ["active", "broken", "superseded", "awaiting_confirmation"][i % 4],
              "start_date": DAY1 - timedelta(days=10)} for i, c in enumerate(cases[::3])]
    pq.write_table(pa.Table.from_pylist(plans, schema=pa.schema([
        ("agreement_id", pa.int64()), ("account_id", pa.string()), ("status", pa.string()),
        ("start_date", pa.date32())])), state / "plans.parquet")
    pq.write_table(pa.table({"case_id": pa.array([c["case_id"] for c in cases[::11]], pa.int64()),
                             "status": pa.array(["pending"] * len(cases[::11]))}), state / "hold_reviews.parquet")
    experiments = root / "experiments.yaml"
    experiments.write_text(EXPERIMENTS, encoding="utf-8")

    from arrears.score.model import save_model
    from arrears.score.training import TrainingConfig, train
    from arrears.sim.score_history import score_history

    model, _ = train(score_history(600, 8, seed=3), name="behaviour", version="fc1",
                     config=TrainingConfig(num_threads=1, num_boost_round=20))
    return {"ledger": ledger, "state": state, "experiments": experiments, "model": save_model(model, root / "models"),
            "root": root}


def _run(engine: str, inputs: dict[str, Path], out: Path, day: date, **kw):  # type: ignore[no-untyped-def]
    return run_file_cycle(engine=engine, ledger_dir=inputs["ledger"], out_dir=out, business_date=day,
                          strategy_files=STRATEGIES, experiments_file=inputs["experiments"], model_dir=inputs["model"],
                          state_dir=inputs["state"], **kw)


def _table(out: Path, name: str, day: date) -> list[dict]:  # type: ignore[type-arg]
    order = "account_ref, step" if name == "actions" else "account_ref"
    with duckdb.connect() as con:
        rows = con.sql(f"SELECT * FROM read_parquet('{out}/{name}/as_of={day.isoformat()}/*.parquet') "
                       f"ORDER BY {order}").fetchall()
        names = [d[0] for d in con.sql(f"SELECT * FROM read_parquet('{out}/{name}/as_of={day.isoformat()}/*.parquet')"
                                       " LIMIT 0").description]
    return [dict(zip(names, r, strict=True)) for r in rows]


@pytest.fixture(scope="module")
def duck(inputs: dict[str, Path]) -> tuple[Path, list]:  # type: ignore[type-arg]
    out = inputs["root"] / "out-duckdb"
    return out, [_run("duckdb", inputs, out, DAY1), _run("duckdb", inputs, out, DAY2)]


@pytest.mark.spark
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_spark_gives_duckdbs_result_row_by_row(spark, inputs: dict[str, Path], duck: tuple[Path, list]) -> None:  # type: ignore[no-untyped-def,type-arg]
    out = inputs["root"] / "out-spark"
    results = [_run("spark", inputs, out, DAY1, spark=spark), _run("spark", inputs, out, DAY2, spark=spark)]
    duck_out, duck_results = duck
    for day, s, d in zip((DAY1, DAY2), results, duck_results, strict=True):
        assert (s.accounts, s.in_collections, s.scored, s.treated, s.actions) == \
               (d.accounts, d.in_collections, d.scored, d.treated, d.actions)
        assert s.segments == d.segments and s.arms == d.arms
        for name in OUTPUTS:
            assert _table(out, name, day) == _table(duck_out, name, day), f"{name} on {day} differs"


def test_the_duckdb_cycle_covers_every_stage(duck: tuple[Path, list]) -> None:  # type: ignore[type-arg]
    out, (first, second) = duck
    assert first.accounts == 1500 and 0 < first.in_collections < first.accounts
    assert first.scored == first.in_collections and first.model == "behaviour fc1"
    assert first.treated > 0 and first.actions > 0
    assert {a for (_, a) in first.arms} == {"champ", "forced"}
    features = {r["account_ref"]: r for r in _table(out, "features", DAY2)}
    scores = {r["account_ref"]: r["score"] for r in _table(out, "scores", DAY2)}
    assert {k: v["behaviour_score"] for k, v in features.items()} == scores
    assert all(0 <= s <= 10_000 for s in scores.values())
    # state features arrive: a case, contacts (dated in Shanghai), a pending review, a plan
    with_case = [f for f in features.values() if f["case_id"] is not None]
    assert with_case and any(f["hold_review_pending"] for f in with_case)
    assert any(f["plan_status"] == "active" for f in with_case)
    assert not any(f["plan_status"] == "superseded" for f in features.values())
    # the latest contacts happened at 01:30 on DAY2 in Shanghai (17:30 the day before in UTC)
    assert any(f["days_since_last_contact"] == 0 for f in with_case)
    # day 2 keeps the entry dates of day 1 for accounts in the same segment
    day1 = {r["account_ref"]: r for r in _table(out, "treatments", DAY1)}
    kept = [r for r in _table(out, "treatments", DAY2)
            if r["account_ref"] in day1 and (day1[r["account_ref"]]["strategy"], day1[r["account_ref"]]["segment"])
            == (r["strategy"], r["segment"])]
    assert kept and all(r["segment_since"] == day1[r["account_ref"]]["segment_since"] and r["days_in_segment"] >= 1
                        for r in kept)
    assert second.treated > 0
    # the arm of every dealt account is the one Python's assign gives its account number
    from arrears.strategy.experiments import assign, load_experiments

    (experiment,) = load_experiments(out.parent / "experiments.yaml")
    dealt = [r for r in _table(out, "treatments", DAY2) if r["experiment"] == "early-e"]
    assert dealt and all(assign(r["account_ref"], experiment).code == r["arm"] for r in dealt)


def test_rerunning_a_date_replaces_its_output(inputs: dict[str, Path], tmp_path: Path) -> None:
    first = _run("duckdb", inputs, tmp_path, DAY1)
    again = _run("duckdb", inputs, tmp_path, DAY1)
    assert (first.treated, first.actions) == (again.treated, again.actions)
    assert len(_table(tmp_path, "treatments", DAY1)) == first.treated
    assert len(list((tmp_path / "treatments" / f"as_of={DAY1.isoformat()}").glob("*.parquet"))) == 1


# -- bad input -----------------------------------------------------------------------------------------

def _small_ledger(folder: Path) -> Path:
    generate_portfolio(folder, accounts=40, seed=3, as_of=DAY2, fmt="csv")
    return folder


def _cycle(ledger: Path, out: Path, **kw):  # type: ignore[no-untyped-def]
    return run_file_cycle(engine="duckdb", ledger_dir=ledger, out_dir=out, business_date=DAY2,
                          strategy_files=STRATEGIES, **kw)


def _set_cell(path: Path, row: int, column: str, value: str) -> None:
    """Change one cell of a CSV file; ``row`` counts the header as row 1."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[row - 1][rows[0].index(column)] = value
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)


def test_a_bad_csv_value_names_the_file_row_and_column(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path / "ledger")
    _set_cell(ledger / "payments.csv", 4, "amount_fen", "12.50")
    with pytest.raises(FileCycleError, match=r"payments\.csv, row 4, column 'amount_fen': cannot read '12\.50'"):
        _cycle(ledger, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_missing_required_value_and_column_are_named(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path / "ledger")
    _set_cell(ledger / "accounts.csv", 3, "opened_on", "")
    with pytest.raises(FileCycleError, match=r"accounts\.csv, row 3, column 'opened_on': missing value"):
        _cycle(ledger, tmp_path / "out")
    (ledger / "accounts.csv").unlink()
    with pytest.raises(FileCycleError, match="no accounts"):
        _cycle(ledger, tmp_path / "out")


def test_a_statement_of_an_unknown_account_is_refused(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path / "ledger")
    with (ledger / "statements.csv").open("a", encoding="utf-8") as fh:
        header = (ledger / "statements.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
        row = {"account_id": "NOPE-1", "statement_date": "2026-10-05", "due_date": "2026-10-25",
               "new_balance_fen": "100", "minimum_due_fen": "100", "past_due_included_fen": "0"}
        fh.write(",".join(row.get(h, "") for h in header) + "\n")
    with pytest.raises(FileCycleError, match="statements files, column 'account_id': account 'NOPE-1'"):
        _cycle(ledger, tmp_path / "out")


def test_a_state_file_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    ledger = _small_ledger(tmp_path / "ledger")
    state = tmp_path / "state"
    state.mkdir()
    pq.write_table(pa.table({"case_id": pa.array([1], pa.int64()),
                             "started_at": pa.array([datetime(2026, 11, 1, 8)], pa.timestamp("us")),
                             "outcome": ["no_answer"], "direction": ["outbound"], "party": ["debtor"]}),
                   state / "interactions.parquet")
    with pytest.raises(FileCycleError, match=r"interactions\.parquet, column 'started_at': a timestamp without"):
        _cycle(ledger, tmp_path / "out", state_dir=state)
    pq.write_table(pa.table({"case_id": ["x"], "status": ["pending"]}), state / "hold_reviews.parquet")
    (state / "interactions.parquet").unlink()
    with pytest.raises(FileCycleError, match=r"hold_reviews\.parquet, column 'case_id': type string, expected integer"):
        _cycle(ledger, tmp_path / "out", state_dir=state)


def test_unknown_engine_and_no_strategy_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArrearsError, match="unknown engine"):
        run_file_cycle(engine="pandas", ledger_dir=tmp_path, out_dir=tmp_path, business_date=DAY2,
                       strategy_files=STRATEGIES)
    with pytest.raises(ArrearsError, match="at least one strategy"):
        run_file_cycle(engine="duckdb", ledger_dir=tmp_path, out_dir=tmp_path, business_date=DAY2, strategy_files=[])


def test_the_cycle_command_runs_file_to_file(inputs: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from arrears.cli import app

    args = ["cycle", "--engine", "duckdb", "--ledger", str(inputs["ledger"]), "--out", str(tmp_path),
            "--date", DAY2.isoformat(), "--state", str(inputs["state"])]
    for s in STRATEGIES:
        args += ["--strategy", str(s)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1,500 accounts assessed" in result.output and "treated" in result.output
    assert len(_table(tmp_path, "treatments", DAY2)) > 0
    missing = CliRunner().invoke(app, ["cycle", "--engine", "spark", "--ledger", str(inputs["ledger"]),
                                       "--date", DAY2.isoformat()])
    assert missing.exit_code == 2 and "needs --ledger, --out" in missing.output
