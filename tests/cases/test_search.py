"""How a search value is understood: full values only, however a phone or an ID number is typed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.cases.search import SearchRefused, mask_numbers, snippet, understand

mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
separators = st.sampled_from(["", " ", "-", " - "])


@given(mobiles, separators, st.sampled_from(["", "+86", "+86 ", "0086", "86 "]))
def test_a_mobile_typed_any_usual_way_is_the_same_full_number(number: str, sep: str, prefix: str) -> None:
    typed = prefix + sep.join((number[:3], number[3:7], number[7:]))
    for kind in ("auto", "phone"):
        assert understand(kind, typed).values["phone"] == (number,)


@given(mobiles, st.integers(min_value=1, max_value=10))
def test_part_of_a_mobile_is_never_a_phone_search(number: str, cut: int) -> None:
    part = number[cut:]
    with pytest.raises(SearchRefused) as refused:
        understand("phone", part)
    assert refused.value.code == "not_phone"
    assert "phone" not in understand("auto", part).values


def test_a_landline_is_looked_for_in_each_stored_spelling() -> None:
    assert understand("phone", "010 6234 5678").values["phone"] == ("010-62345678", "0106-2345678", "01062345678")
    assert understand("phone", "0755-12345678").values["phone"] == ("0755-12345678", "075512345678")


def test_an_id_number_is_checked_and_upper_cased() -> None:
    assert understand("national_id", "11010519491231002x").values["national_id"] == ("11010519491231002X",)
    with pytest.raises(SearchRefused):
        understand("national_id", "110105194912310021")  # the checksum fails


@pytest.mark.parametrize(("kind", "text", "code"), [
    ("auto", "", "empty"), ("auto", " \t ", "empty"), ("name", "x" * 201, "too_long"), ("notes", "a", "too_short"),
    ("everything", "x", "kind"),
])
def test_refusals_say_why(kind: str, text: str, code: str) -> None:
    with pytest.raises(SearchRefused) as refused:
        understand(kind, text)
    assert refused.value.code == code


def test_numbers_in_notes_are_masked_in_the_snippet() -> None:
    note = "新号码 13700001111，身份证 11010519491231002X，下周一发工资"
    assert mask_numbers(note, "agent") == "新号码 137****1111，身份证 110***********002X，下周一发工资"
    assert snippet(note, "发工资", role="agent", context=4).startswith("…") and "发工资" in snippet(note, "发工资",
                                                                                                 role="agent")
