"""Plan products from YAML: the packaged defaults, and errors that name file, line and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from arrears.kit.errors import ConfigError
from arrears.plans.config import load_default_plan_products, load_plan_products


def test_default_products() -> None:
    rules = load_default_plan_products()
    assert [p.code for p in rules.products] == [
        "full", "minimum", "defer_30d", "defer_3m", "inst_3", "inst_6", "inst_12", "inst_24", "inst_36", "inst_60",
        "personalised", "settle_10", "settle_20", "settle_20_3m", "settle_30"]
    assert {p.kind for p in rules.products} == {"full", "minimum", "deferral", "instalment", "personalised",
                                                "settlement"}
    assert all(p.labels["zh_CN"] and p.labels["en"] for p in rules.products)
    inst_12 = rules.product("inst_12")
    assert (inst_12.months, inst_12.monthly_fee_rate, inst_12.min_balance) == (12, Decimal("0.60"), 50_000)
    assert isinstance(inst_12.monthly_fee_rate, Decimal) and str(inst_12.monthly_fee_rate) == "0.60"
    assert rules.product("inst_24").waive_first_periods == 3
    assert rules.product("inst_60").annual_interest_rate == Decimal("9.00")
    defer = rules.product("defer_3m")
    assert (defer.months, defer.days, defer.daily_interest_rate, defer.base) == (3, None, Decimal("0.05"), "overdue")
    assert rules.product("defer_30d").days == 30 and rules.product("defer_30d").daily_interest_rate == 0
    personal = rules.product("personalised")
    assert (personal.min_months, personal.max_months, personal.min_willingness, personal.approval_role) == (
        3, 60, 3, "team_lead")
    assert [(p.discount_percent, p.instalments) for p in rules.products if p.kind == "settlement"] == [
        (10, 1), (20, 1), (20, 3), (30, 1)]
    assert rules.settlement.min_dpd == 90 and rules.settlement.senior_approver == "compliance"
    assert dict(rules.settlement.authority) == {"agent": 10, "team_lead": 20, "supervisor": 30}
    assert (rules.monitoring.grace_days, rules.monitoring.reminder_days_before, rules.monitoring.max_misses) == (3, 3, 2)
    assert (rules.reage.min_kept, rules.reage.once_in_months) == (3, 12)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "products.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = ("products:\n"
        "  - code: inst_12\n"
        "    kind: instalment\n"
        "    labels: {zh_CN: 分12期, en: 12 instalments}\n"
        "    months: 12\n"
        "    monthly_fee_rate: 0.60\n")


def product(extra: str, *, kind: str = "instalment", months: str = "    months: 12\n") -> str:
    return ("products:\n  - code: p\n" f"    kind: {kind}\n" "    labels: {zh_CN: 产品, en: Product}\n"
            f"{months}{extra}")


def test_a_minimal_file_takes_section_defaults(tmp_path: Path) -> None:
    rules = load_plan_products(write(tmp_path, GOOD))
    assert [p.code for p in rules.products] == ["inst_12"]
    assert rules.settlement.min_dpd == 90 and rules.monitoring.max_misses == 2 and rules.reage.min_kept == 3


def test_sections_and_quoted_rates_are_read(tmp_path: Path) -> None:
    rules = load_plan_products(write(tmp_path, (
        "monitoring: {grace_days: 0, reminder_days_before: 5, max_misses: 1}\n"
        "reage: {min_kept: 6, once_in_months: 24}\n"
        "settlement: {min_dpd: 180, authority: {agent: 5, supervisor: '12.5'}, senior_approver: admin}\n" + GOOD
        + "  - {code: d, kind: deferral, labels: {zh_CN: 延期, en: Defer}, days: 10, base: balance,"
          " daily_interest_rate: '0.035'}\n")))
    assert (rules.monitoring.grace_days, rules.monitoring.reminder_days_before, rules.monitoring.max_misses) == (0, 5, 1)
    assert (rules.reage.min_kept, rules.reage.once_in_months) == (6, 24)
    assert dict(rules.settlement.authority) == {"agent": Decimal(5), "supervisor": Decimal("12.5")}
    assert rules.settlement.approver(Decimal(13)) == "admin" and rules.settlement.approver(Decimal(6)) == "supervisor"
    d = rules.product("d")
    assert (d.days, d.base, d.daily_interest_rate) == (10, "balance", Decimal("0.035"))


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("", 1, None, "empty"),
    ("monitoring: {grace_days: 1}\n", 1, "products", "missing"),
    ("products: []\n", 1, "products", "non-empty"),
    ("colour: red\n" + GOOD, 1, "colour", "unknown key"),
    (GOOD + "    colour: red\n", 7, "products[0].colour", "unknown key"),
    (GOOD + "    days: 3\n", 7, "products[0].days", "unknown key"),
    (product("", months="    months: 61\n"), 5, "products[0].months", "between 3 and 60"),
    (product("", months="    months: 2\n"), 5, "products[0].months", "between 3 and 60"),
    (product("", months=""), 2, "products[0].months", "required"),
    (product("    monthly_fee_rate: -0.5\n"), 6, "products[0].monthly_fee_rate", ">= 0"),
    (product("    monthly_fee_rate: 60\n"), 6, "products[0].monthly_fee_rate", "between 0 and 10"),
    (product("    monthly_fee_rate: lots\n"), 6, "products[0].monthly_fee_rate", "decimal number"),
    (product("    monthly_fee_rate: .nan\n"), 6, "products[0].monthly_fee_rate", "decimal number"),
    (product("    monthly_fee_rate: 0.5\n    annual_interest_rate: 5\n"), 7, "products[0].annual_interest_rate",
     "not both"),
    (product("    waive_first_periods: 2\n"), 6, "products[0].waive_first_periods", "needs a monthly_fee_rate"),
    (product("    monthly_fee_rate: 0.5\n    waive_first_periods: 13\n"), 7, "products[0].waive_first_periods",
     "between 0 and 12"),
    (GOOD + GOOD[len("products:\n"):], 7, "products[1].code", "duplicate product 'inst_12'"),
    (GOOD.replace("kind: instalment", "kind: loan"), 3, "products[0].kind", "unknown kind"),
    (GOOD.replace("code: inst_12", "code: Inst 12"), 2, "products[0].code", "lower-case"),
    (GOOD.replace("en: 12 instalments", "fr: douze"), 4, "products[0].labels.fr", "unknown key"),
    (GOOD.replace("months: 12", "months: '12'"), 5, "products[0].months", "whole number"),
    (product("    approval_role: boss\n"), 6, "products[0].approval_role", "unknown role"),
    (product("    max_months: 61\n", kind="personalised", months=""), 5, "products[0].max_months",
     "between 1 and 60"),
    (product("    min_months: 12\n    max_months: 6\n", kind="personalised", months=""), 6,
     "products[0].max_months", "between 12 and 60"),
    (product("    min_willingness: 0\n", kind="personalised", months=""), 5, "products[0].min_willingness",
     "between 1 and 5"),
    (product("", kind="deferral", months=""), 2, "products[0].days", "either days or months"),
    (product("    days: 10\n", kind="deferral"), 2, "products[0].days", "either days or months"),
    (product("    base: statement\n", kind="deferral", months="    days: 10\n"), 6, "products[0].base",
     "overdue, balance"),
    (product("", kind="deferral", months="    months: 13\n"), 5, "products[0].months", "between 1 and 12"),
    (product("", kind="settlement", months=""), 2, "products[0].discount_percent", "required"),
    (product("    discount_percent: 100\n", kind="settlement", months=""), 5, "products[0].discount_percent",
     "below 100"),
    (product("    discount_percent: 0\n", kind="settlement", months=""), 5, "products[0].discount_percent",
     "above 0"),
    (product("    discount_percent: 10\n    instalments: 3\n    pay_within_days: 30\n", kind="settlement",
             months=""), 7, "products[0].pay_within_days", "one payment"),
    ("settlement: {authority: {boss: 50}}\n" + GOOD, 1, "settlement.authority.boss", "unknown role"),
    ("settlement: {authority: {agent: 150}}\n" + GOOD, 1, "settlement.authority.agent", "between 0 and 100"),
    ("settlement: {senior_approver: boss}\n" + GOOD, 1, "settlement.senior_approver", "unknown role"),
    ("settlement: {min_dpd: -1}\n" + GOOD, 1, "settlement.min_dpd", ">= 0"),
    ("monitoring: {max_misses: 0}\n" + GOOD, 1, "monitoring.max_misses", ">= 1"),
    ("monitoring: {grace: 3}\n" + GOOD, 1, "monitoring.grace", "unknown key"),
    ("monitoring: {grace_days: 1}\nmonitoring: {grace_days: 2}\n" + GOOD, 2, "monitoring", "duplicate key"),
    ("products:\n  - [not, a, mapping]\n", 2, "products[0]", "mapping"),
    ("products: {a: 1\n", 2, None, "not valid YAML"),
])
def test_bad_files_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str | None,
                                            words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_plan_products(path)
    err = caught.value
    assert err.file == str(path)
    assert err.line == line, err.message
    assert err.field == field, err.message
    assert words in err.message


def test_the_error_quoted_in_the_docs(tmp_path: Path) -> None:
    from arrears.plans.config import default_products_path

    text = default_products_path().read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    assert lines[79] == "    months: 12\n"
    lines[79] = "    months: 72\n"
    path = tmp_path / "products.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_plan_products(path)
    message = caught.value.message.replace(str(path), "products.yaml")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "plans.md").read_text(encoding="utf-8")
    assert f"`{message}`" in doc
