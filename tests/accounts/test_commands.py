from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from arrears.accounts.commands import ingest
from arrears.config import get_settings
from tests.accounts.ingest_files import HEADERS, counts, write_csv, write_portfolio


@pytest.fixture
def run(store_url, monkeypatch, tmp_path):
    monkeypatch.setenv("ARREARS_DATABASE_URL", store_url)
    monkeypatch.setenv("ARREARS_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    app = typer.Typer()
    app.command()(ingest)
    app.command("noop")(lambda: None)  # keep `ingest` a named sub-command as in the real CLI
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["ingest", *map(str, args)])
    get_settings.cache_clear()


def test_ingest_command_loads_a_folder_and_prints_a_table_per_file(run, engine, tmp_path):
    folder = write_portfolio(tmp_path / "in")
    write_csv(folder / "payments.csv", HEADERS["payments"],
              [["P1", "A1", "5000", "2026-01-20", "wechat"], ["P2", "A1", "-5", "2026-01-20", "wechat"]])
    result = run(folder)
    assert result.exit_code == 0, result.output
    for name in ("customers.csv", "contact_points.csv", "accounts.csv", "statements.csv", "payments.csv", "holds.csv"):
        assert name in result.output
    for column in ("rows read", "loaded", "unchanged", "updated", "conflicts", "quarantined"):
        assert column in result.output
    report = tmp_path / "data" / "quarantine" / "payments.csv.quarantine.csv"
    assert report.exists() and "quarantine report" in result.output
    assert counts(engine)["payments"] == 1


def test_ingest_command_exits_1_naming_file_row_and_column(run, engine, tmp_path):
    f = write_csv(tmp_path / "customers.csv", ["customer_id", "name", "national_id", "birth_date", "nickname"], [])
    result = run(f, "--quarantine-dir", tmp_path / "q")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "customers.csv" in text and "row 1" in text and "nickname" in text and "unknown column" in text
    assert counts(engine)["customers"] == 0
