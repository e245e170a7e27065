"""A refused form speaks the reader's language: the request validator's own refusals (too long, not a
number, out of range, missing) are shown from the catalogue, and the error box names the field by its
label, never by the input's code or the validator's English."""

from __future__ import annotations

import json
import re

from arrears.kit.clock import frozen_at
from tests.api.conftest import Api
from tests.web.support import page_csrf, sign_in
from tests.web.test_script import DAYTIME, HX


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_the_validators_refusals_are_in_chinese_and_name_the_field_by_its_label(api: Api) -> None:
    with frozen_at(DAYTIME):
        agent = sign_in(api, "agent_east")
        case_id = api.east_case
        h = {**HX, "X-CSRF-Token": page_csrf(agent, f"/case/{case_id}")}
        r = agent.post(f"/case/{case_id}/script/investigation", headers=h, data={
            "cause": "job_loss", "monthly_income": "100", "essential_spending": "0", "dependants": "99"})
        assert r.status_code == 422
        assert json.loads(r.headers["HX-Trigger"])["arrears:field-error"] == {
            "field": "dependants", "message": "不能大于 50"}
        text = _visible(r.text)
        assert "需更正的字段" in text and "需抚养人数" in text
        assert "dependants" not in text and "Input should" not in text and "less than" not in text
        r = agent.post(f"/case/{case_id}/script/investigation", headers=h, data={
            "cause": "job_loss", "monthly_income": "100", "essential_spending": "0", "dependants": "some"})
        assert r.status_code == 422
        assert json.loads(r.headers["HX-Trigger"])["arrears:field-error"]["message"] == "请填写整数"
        r = agent.post(f"/case/{case_id}/script/outcome", headers=h, data={"outcome": "x" * 40})
        assert r.status_code == 422
        assert json.loads(r.headers["HX-Trigger"])["arrears:field-error"] == {
            "field": "outcome", "message": "最多 32 个字符"}
        assert not re.search(r"[A-Za-z]{4,}", _visible(r.text).replace("outcome", "")), _visible(r.text)
        # without HTMX: the error page, in the same words
        r = agent.post(f"/case/{case_id}/script/outcome", data={"outcome": "x" * 40, "csrf_token": h["X-CSRF-Token"]})
        assert r.status_code == 422 and "最多 32 个字符" in r.text and "String should" not in r.text


def test_in_english_the_same_refusal_reads_as_english_words(api: Api) -> None:
    with frozen_at(DAYTIME):
        agent = sign_in(api, "agent_east", lang="en")
        case_id = api.east_case
        h = {**HX, "X-CSRF-Token": page_csrf(agent, f"/case/{case_id}")}
        r = agent.post(f"/case/{case_id}/script/outcome", headers=h, data={"outcome": "x" * 40})
        assert r.status_code == 422
        assert "Outcome: At most 32 characters" in _visible(r.text)
        assert "String should have" not in r.text
