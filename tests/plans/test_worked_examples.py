"""The worked examples in docs/plans.md are what the product computes.

The tables in the document are parsed and compared with :func:`generate_options` for the worked
customer, and the headline figures are also asserted as literals, so the document, the defaults
and the code cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from arrears.kit.money import format_yuan, to_fen
from arrears.plans.config import load_default_plan_products
from arrears.plans.model import Option, PlanInputs, allocate, generate_options, plan_status, reminder_dates

DOC = Path(__file__).resolve().parents[2] / "docs" / "plans.md"
PRODUCTS = load_default_plan_products()
CUSTOMER = PlanInputs(today=date(2026, 1, 31), balance=1_200_000, overdue=360_000, minimum_due=360_000,
                      affordable=150_000, willingness=4, cause="job_loss", role="agent", dpd=95)


def options() -> dict[str, Option]:
    return {o.code: o for o in generate_options(CUSTOMER, PRODUCTS)}


def table(text: str) -> list[list[str]]:
    """The body rows of the first markdown table in ``text``, cells stripped."""
    rows = [line for line in text.strip().splitlines() if line.startswith("|")]
    return [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows[2:]]


def section(marker: str) -> str:
    doc = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {re.escape(marker)} -->\n(.*?)(?:<!-- /{re.escape(marker)} -->|\n\n)", doc, re.S)
    assert match, f"docs/plans.md has no section {marker!r}"
    return match.group(1)


def fen(cell: str) -> int:
    return to_fen(cell.replace(",", ""))


def test_the_summary_table_is_what_the_options_are() -> None:
    rows = table(section("worked-options"))
    opts = options()
    assert [r[0].strip("`") for r in rows] == list(opts)
    for code, label, term, first_due, largest, fees, interest, waived, total, rate, fits, offered, approval in rows:
        o = opts[code.strip("`")]
        assert label == o.labels["en"]
        assert term == (f"{o.months} months" if o.months else f"{o.days} days")
        assert first_due == o.schedule[0].due_date.isoformat()
        assert (fen(largest), fen(fees), fen(interest), fen(waived), fen(total)) == (
            o.largest_instalment, o.fees, o.interest, o.waived, o.total)
        assert rate == ("—" if o.annual_rate is None else f"{o.annual_rate}%")
        assert fits == ("yes" if o.fits_affordable else "no")
        assert offered == ("yes" if o.offered else "no")
        assert approval == (o.approval_role or "—")


@pytest.mark.parametrize("code", ["minimum", "defer_3m", "inst_3", "inst_6", "inst_12", "inst_24", "inst_36",
                                  "inst_60", "personalised", "settle_20"])
def test_each_schedule_table_is_what_the_schedule_is(code: str) -> None:
    o = options()[code]
    rows = table(section(f"schedule: {code}"))
    shown = [r for r in rows if r[0].isdigit()]
    assert shown, code
    for number, due, principal, fee, fee_waived, interest, amount in shown:
        s = o.schedule[int(number) - 1]
        assert (due, fen(principal), fen(fee), fen(fee_waived), fen(interest), fen(amount)) == (
            s.due_date.isoformat(), s.principal, s.fee, s.fee_waived, s.interest, s.amount), (code, number)
    # the table either lists every instalment, or marks the gap with …
    if len(shown) < len(o.schedule):
        assert any(r[0] == "…" for r in rows)
    assert int(shown[-1][0]) == len(o.schedule)
    totals = next(r for r in rows if r[0] == "**total**")
    assert [fen(c) for c in totals[2:]] == [o.principal, o.fees, sum(s.fee_waived for s in o.schedule), o.interest,
                                            o.total]


def test_headline_figures() -> None:
    o = options()
    # the disclosure example: 1,072.00 a month, 13.03%
    assert {s.amount for s in o["inst_12"].schedule} == {107_200}
    assert (o["inst_12"].fees, o["inst_12"].total, o["inst_12"].annual_rate) == (86_400, 1_286_400, Decimal("13.03"))
    assert o["inst_12"].fits_affordable is True
    assert (o["minimum"].total, o["minimum"].annual_rate, o["minimum"].schedule[0].due_date) == (
        360_000, None, date(2026, 2, 7))
    assert [s.due_date for s in o["inst_3"].schedule] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    assert [(x.largest_instalment, x.total, x.annual_rate) for x in (o["inst_3"], o["inst_6"], o["inst_24"],
                                                                     o["inst_36"], o["inst_60"])] == [
        (409_600, 1_228_800, Decimal("14.34")), (208_400, 1_250_400, Decimal("14.26")),
        (57_200, 1_351_200, Decimal("11.50")), (39_945, 1_437_600, Decimal("12.13")),
        (24_942, 1_494_585, Decimal("9.00"))]
    assert (o["inst_24"].waived, o["inst_36"].schedule[0].principal, o["inst_36"].schedule[1].principal) == (
        21_600, 33_345, 33_333)
    defer = o["defer_3m"]
    assert (defer.schedule[0].due_date, defer.interest, defer.total, defer.annual_rate) == (
        date(2026, 4, 30), 16_020, 376_020, Decimal("17.54"))
    personal = o["personalised"]
    assert (personal.months, personal.largest_instalment, personal.annual_rate, personal.offered,
            personal.approval_role) == (8, 150_000, Decimal("0.00"), True, "team_lead")
    settle = o["settle_20"]
    assert (settle.total, settle.waived, settle.schedule[0].due_date, settle.annual_rate) == (
        960_000, 240_000, date(2026, 3, 2), None)
    assert (settle.offered, settle.needs_approval, settle.approval_role) == (True, True, "team_lead")
    assert (o["settle_10"].needs_approval, o["settle_30"].approval_role) == (False, "supervisor")
    assert format_yuan(o["inst_60"].interest) == "2,945.85"


def test_the_monitoring_example() -> None:
    plan = options()["inst_12"].schedule
    pays = [(date(2026, 2, 27), 107_200), (date(2026, 4, 2), 107_200), (date(2026, 5, 10), 50_000)]
    rows = table(section("monitoring"))
    assert len(rows) == 3
    for as_of, *statuses, missed, status in rows:
        states = allocate(plan, pays, as_of=date.fromisoformat(as_of), grace_days=PRODUCTS.monitoring.grace_days)
        judged = plan_status(states, max_misses=PRODUCTS.monitoring.max_misses)
        assert [s.status for s in states[:4]] == statuses
        assert (judged.missed, judged.status) == (int(missed), status)
    assert [d for _, d in reminder_dates(plan, PRODUCTS.monitoring.reminder_days_before)[:4]] == [
        date(2026, 2, 25), date(2026, 3, 28), date(2026, 4, 27), date(2026, 5, 28)]
    doc = DOC.read_text(encoding="utf-8")
    assert "Reminders went on 25 February, 28 March, 27 April, 28 May" in doc


def test_the_prose_quotes_the_same_figures() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for phrase in ("**1,072.00 a month**", "= **13.03%**", "333.45 in the first month and 333.33",
                   "3,600.00 × 0.05% × 89 = 160.20", "× 12 = 17.54%", "9,600.00 by 2 March 2026",
                   "8 × 1,500.00"):
        assert phrase in doc, phrase
