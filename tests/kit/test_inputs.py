"""The shared checks of typed input: reasons that say something, text without control characters,
ISO dates. A reason made only of white space and invisible characters (a zero-width space passed as a
reason) is refused everywhere a reason is required: the API, the web forms and the services."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from arrears.cases import service as case_service
from arrears.cases.tables import CaseTransition
from arrears.kit.db import transaction
from arrears.kit.inputs import InputError, check_text, parse_date, require_reason, visible
from tests.api.conftest import api  # noqa: F401 - the API fixture
from tests.cases.support import new_case

INVISIBLE = " \t\n\r\u00a0\u1680\u2000\u200a\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202e\u2060\u2063" \
            "\u3000\u3164\ufeff\u0300\u034f"


@given(st.text(alphabet=INVISIBLE, max_size=30))
def test_a_reason_of_invisible_characters_is_refused(text: str) -> None:
    assert not visible(text)
    with pytest.raises(InputError, match="reason is required") as err:
        require_reason(text, field="note")
    assert err.value.field == "note"


@given(st.text(alphabet=INVISIBLE, max_size=5), st.sampled_from("a语1?é"), st.text(alphabet=INVISIBLE, max_size=5))
def test_a_reason_with_something_to_read_is_kept_stripped(before: str, ch: str, after: str) -> None:
    assert require_reason(before + ch + after) == (before + ch + after).strip()


@pytest.mark.parametrize("text", ["a\x00b", "\x07", "x\x1b[31m", "\x7f", "\x85"])
def test_control_characters_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InputError, match="username: contains a control character"):
        check_text(text, field="username")
    assert check_text("line\nbreak\ttab", field="notes") == "line\nbreak\ttab"


@pytest.mark.parametrize("text", ["0", "1e9", "20261231", "2026-02-30", "0001-01-01", "9999-12-31", ""])
def test_only_iso_dates_in_range(text: str) -> None:
    with pytest.raises(InputError) as err:
        parse_date(text, field="lift_hold_on")
    assert err.value.field == "lift_hold_on"
    assert str(parse_date("2026-12-31", field="x")) == "2026-12-31"


def test_the_api_refuses_a_zero_width_reason(api) -> None:  # noqa: F811  # type: ignore[no-untyped-def]
    for reason in ("\u200b", " \u200b\ufeff ", "\u200d\u200c"):
        r = api.post("agent_east", f"/cases/{api.east_case}/transitions",
                     json={"to_state": "contacting", "reason": reason})
        assert r.status_code == 422, (reason, r.text)
        assert "reason" in r.text
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CaseTransition)
                            .where(CaseTransition.case_id == api.east_case)).scalar_one() == 1


def test_the_service_refuses_a_zero_width_reason(engine) -> None:  # type: ignore[no-untyped-def]
    case_id = new_case(engine, "ACC-REASON")
    with pytest.raises(InputError, match="reason"):
        with transaction(engine) as s:
            case_service.transition(s, case_id=case_id, to_state="contacting", actor="user:1", reason="\u200b")
