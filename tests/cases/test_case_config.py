"""Case process rules from YAML: the packaged defaults, and errors that name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from arrears.cases.config import load_case_rules, load_default_case_rules
from arrears.kit.errors import ConfigError

DEFAULT_CODES = {"no_answer", "busy", "wrong_number", "left_message", "right_party_contact", "third_party",
                 "promise_to_pay", "refused", "dispute", "hardship", "callback_requested", "deceased", "complaint",
                 "bankruptcy_claimed", "payment_made", "plan_chosen", "preferences_changed", "refused_contact"}


def test_default_rules() -> None:
    rules = load_default_case_rules()
    assert set(rules.outcomes) == DEFAULT_CODES
    assert all(o.labels["zh_CN"] and o.labels["en"] for o in rules.outcomes.values())
    holds = {c: (o.hold, o.pauses_ageing, o.stops_contact) for c, o in rules.outcomes.items() if o.hold}
    assert holds == {"dispute": ("dispute", True, True), "complaint": ("complaint", False, True),
                     "deceased": ("deceased", False, True), "bankruptcy_claimed": ("bankruptcy", False, True)}
    assert not any(o.stops_contact for c, o in rules.outcomes.items() if c not in holds)
    assert rules.outcome("dispute").label("en") == "Dispute" and rules.outcome("dispute").label() == "对欠款有异议"
    assert (rules.reserve.base_fen, rules.reserve.per_dependant_fen) == (150_000, 80_000)
    assert (rules.promises.grace_days, rules.promises.tolerance_fen) == (3, 1_000)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "outcomes.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = "outcomes:\n  - code: busy\n    labels: {zh_CN: 占线, en: Busy}\n"


def test_a_minimal_file_takes_section_defaults(tmp_path: Path) -> None:
    rules = load_case_rules(write(tmp_path, GOOD))
    assert list(rules.outcomes) == ["busy"] and rules.reserve.base_fen == 150_000


def test_sections_and_flags_are_read(tmp_path: Path) -> None:
    rules = load_case_rules(write(tmp_path, (
        "living_reserve: {base_fen: 1, per_dependant_fen: 2}\npromises: {grace_days: 0, tolerance_fen: 5}\n"
        "outcomes:\n  - code: fraud_claimed\n    labels: {zh_CN: 声称欺诈, en: Fraud}\n    hold: fraud\n"
        "    pauses_ageing: true\n    stops_contact: false\n")))
    o = rules.outcome("fraud_claimed")
    assert (o.hold, o.pauses_ageing, o.stops_contact) == ("fraud", True, False)
    assert (rules.reserve.base_fen, rules.reserve.per_dependant_fen, rules.promises.grace_days,
            rules.promises.tolerance_fen) == (1, 2, 0, 5)


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("", 1, None, "empty"),
    ("living_reserve: {base_fen: 1}\n", 1, "outcomes", "missing"),
    ("colour: red\n" + GOOD, 1, "colour", "unknown key"),
    ("promises: {grace_days: -1}\n" + GOOD, 1, "promises.grace_days", ">= 0"),
    ("living_reserve: {base_fen: 1.5}\n" + GOOD, 1, "living_reserve.base_fen", "whole number"),
    (GOOD + "  - code: busy\n    labels: {zh_CN: 忙, en: Busy}\n", 4, "outcomes[1].code", "duplicate"),
    ("outcomes:\n  - code: Busy Line\n    labels: {zh_CN: 占线, en: Busy}\n", 2, "outcomes[0].code", "lower-case"),
    ("outcomes:\n  - code: busy\n    labels: {zh_CN: 占线}\n", 3, "outcomes[0].labels.en", "required"),
    ("outcomes:\n  - code: busy\n    labels: {zh_CN: 占线, en: Busy, fr: Occupé}\n", 3, "outcomes[0].labels.fr",
     "unknown key"),
    ("outcomes:\n  - labels: {zh_CN: 占线, en: Busy}\n", 2, "outcomes[0].code", "required"),
    ("outcomes:\n  - code: x\n    labels: {zh_CN: x, en: x}\n    hold: jail\n", 4, "outcomes[0].hold",
     "unknown hold kind"),
    ("outcomes:\n  - code: x\n    labels: {zh_CN: x, en: x}\n    stops_contact: maybe\n", 4,
     "outcomes[0].stops_contact", "true or false"),
    ("outcomes:\n  - code: x\n    labels: {zh_CN: x, en: x}\n    pauses_ageing: true\n", 4,
     "outcomes[0].pauses_ageing", "only meaningful"),
    ("outcomes: [\n", 2, None, "not valid YAML"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str | None,
                                         words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_case_rules(path)
    assert err.value.file == str(path) and err.value.line == line and err.value.field == field
    assert words in str(err.value) and str(path) in str(err.value)
