"""Reading the ledger out of the store for the batch, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, select

from arrears.accounts.tables import Account
from arrears.delinquency import repository as repo
from arrears.kit.arrowdb import ArrowReader
from tests.factories import LedgerLoad, load


def test_ledger_comes_back_whole_and_in_scan_order(engine: Engine) -> None:
    first = load(engine, LedgerLoad(
        accounts=["B", "A"],
        statements=[("A", date(2026, 2, 5), date(2026, 2, 25), 700, 0), ("B", date(2026, 1, 5), date(2026, 1, 25), 500, 0),
                    ("A", date(2026, 1, 5), date(2026, 1, 25), 900, 100)],
        payments=[("P2", "A", date(2026, 2, 1), 300), ("P1", "A", date(2026, 1, 20), 200),
                  ("P3", "B", date(2026, 1, 2), 50)],
        holds=[("H1", "B", date(2026, 1, 10), None, True)],
    ))
    later = load(engine, LedgerLoad(payments=[("P4", "B", date(2025, 12, 30), 10)]))
    with ArrowReader(engine) as reader:
        statements, payments, holds = repo.read_ledger(reader, watermark=first)
        changed = repo.read_changed(reader, after=first, upto=later)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Account.account_ref, Account.id)).all())
    a, b = ids["A"], ids["B"]
    assert b < a  # B was opened first
    assert statements.to_pylist() == [  # ordered by (account, statement date), whatever the load order
        {"account_key": b, "statement_date": date(2026, 1, 5), "due_date": date(2026, 1, 25), "minimum_due": 500,
         "past_due_included": 0, "new_balance": 5000},
        {"account_key": a, "statement_date": date(2026, 1, 5), "due_date": date(2026, 1, 25), "minimum_due": 900,
         "past_due_included": 100, "new_balance": 9000},
        {"account_key": a, "statement_date": date(2026, 2, 5), "due_date": date(2026, 2, 25), "minimum_due": 700,
         "past_due_included": 0, "new_balance": 7000},
    ]
    # the payment of the later run is beyond the watermark
    assert [(r["account_key"], r["value_date"], r["amount"]) for r in payments.to_pylist()] == [
        (b, date(2026, 1, 2), 50), (a, date(2026, 1, 20), 200), (a, date(2026, 2, 1), 300)]
    assert holds.to_pylist() == [{"account_key": b, "start_date": date(2026, 1, 10), "end_date": None,
                                  "pauses_ageing": True}]
    assert changed.to_pylist() == [{"account_key": b, "restate_from": date(2025, 12, 30)}]


def test_dates_too_far_out_to_pack_are_read_plainly(engine: Engine) -> None:
    run = load(engine, LedgerLoad(
        accounts=["A"],
        statements=[("A", date(1, 1, 5), date(1, 1, 25), 100, 0), ("A", date(9999, 1, 5), date(9999, 1, 25), 200, 0)],
        payments=[("P1", "A", date(9999, 12, 31), 100)],
    ))
    with ArrowReader(engine) as reader:
        statements, payments, _ = repo.read_ledger(reader, watermark=run)
    assert statements.column("statement_date").to_pylist() == [date(1, 1, 5), date(9999, 1, 5)]
    assert statements.column("minimum_due").to_pylist() == [100, 200]
    assert payments.column("value_date").to_pylist() == [date(9999, 12, 31)]


def test_a_store_url_with_several_server_options_reaches_the_arrow_reader_whole() -> None:
    """libpq reads ``+`` in a connection URI literally: two ``-c`` settings must arrive as two."""
    from sqlalchemy.engine import make_url

    from arrears.kit.arrowdb import libpq_uri

    url = make_url("postgresql+psycopg://u:p%40ss@db:5433/bank?options=-csearch_path%3Darrears%20-cstatement_timeout%3D0"
                   "&sslmode=require")
    assert libpq_uri(url) == ("postgresql://u:p%40ss@db:5433/bank?"
                              "options=-csearch_path%3Darrears%20-cstatement_timeout%3D0&sslmode=require")
