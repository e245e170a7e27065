"""A strategy condition is bounded in length and nesting before it is parsed: a condition of 20,000
ORs or 3,000 nested brackets is refused at once (it cost 36 s of CPU and a RecursionError), with an
error naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.kit.errors import ConfigError
from arrears.strategy.conditions import MAX_CONDITION_DEPTH, MAX_CONDITION_LENGTH, ConditionError, parse_condition
from arrears.strategy.config import load_strategy
from tests.strategy.test_config import HEAD, TAIL, write

HUGE = {
    "20,000 ORs": " OR ".join(["dpd > 1"] * 20_000),
    "3,000 brackets": "(" * 3000 + "dpd > 1" + ")" * 3000,
    "1,500 NOTs": "NOT " * 1500 + "dpd > 1",
    "3,000 signs": "dpd > " + "- " * 1500 + "1",
}


@pytest.mark.parametrize("text", HUGE.values(), ids=HUGE.keys())
def test_huge_conditions_are_refused_before_parsing(text: str) -> None:
    with pytest.raises(ConditionError, match="too long|nested too deeply"):
        parse_condition(text)


@pytest.mark.parametrize("text", HUGE.values(), ids=HUGE.keys())
def test_the_file_error_names_the_field(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, HEAD + f"  - code: huge\n    when: \"{text}\"\n    path:\n"
                 "      - {day: 0, action: sms, template: early.reminder}\n" + TAIL)
    with pytest.raises(ConfigError) as err:
        load_strategy(path)
    assert err.value.field == "segments[0].when" and str(path) in str(err.value)


def test_conditions_within_the_bounds_still_parse() -> None:
    nested = "(" * MAX_CONDITION_DEPTH + "dpd > 1" + ")" * MAX_CONDITION_DEPTH
    assert parse_condition(nested).columns == ("dpd",)
    long = " OR ".join(f"dpd = {i}" for i in range(MAX_CONDITION_LENGTH // 16))
    assert len(long) <= MAX_CONDITION_LENGTH and parse_condition(long).columns == ("dpd",)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="()dpd>1 ORANDNOT-+*'", max_size=3000))
def test_any_text_is_accepted_or_refused_with_a_condition_error(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionError:
        pass
