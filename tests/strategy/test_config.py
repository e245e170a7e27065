"""Strategy files: the examples load; every validation error names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from arrears.kit.errors import ConfigError
from arrears.strategy.config import load_strategy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "strategies" / "early-gentle.yaml", ROOT / "strategies" / "late-stage.yaml"]

HEAD = """\
strategy:
  name: test-strategy
  version: 2
segments:
"""
#: a well-formed last segment, appended where a test needs a valid ending
TAIL = """\
  - code: everyone
    path:
      - {day: 0, action: sms, template: early.reminder}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "strategy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def fails(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_strategy(path)
    assert err.value.file == str(path)
    assert str(path) in str(err.value)
    return err.value


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_load(path: Path) -> None:
    strategy = load_strategy(path)
    assert strategy.version == 1 and strategy.no_treatment_otherwise
    assert strategy.segments[0].code == "on_hold" and strategy.segments[0].path == ()
    kinds = {a.kind for s in strategy.segments for a in s.path}
    assert kinds <= {"sms", "email", "portal_link", "letter", "call_queue", "review_task", "legal_review",
                     "agency_placement", "charge_off"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_guide_shows_the_examples_as_they_are(path: Path) -> None:
    guide = (ROOT / "docs" / "strategy.md").read_text(encoding="utf-8")
    assert f"```yaml\n{path.read_text(encoding='utf-8')}```" in guide


def test_a_valid_file_in_full(tmp_path: Path) -> None:
    s = load_strategy(write(tmp_path, HEAD + """\
  - code: on_hold
    description: no contact
    when: hold_active
    path: []
  - code: m1
    when: |
      dpd BETWEEN 1 AND 30
      AND NOT open_promise
    path:
      - {day: 0, action: sms, template: early.reminder}
      - {day: 3, action: call_queue, queue: early_calls, every: 3, until: 27, priority: 2, when: rpc_30d = 0}
      - {day: 10, action: letter, template: letter.demand, note: 逾期通知}
      - {day: 20, action: review_task}
""" + TAIL))
    assert (s.name, s.version, s.label) == ("test-strategy", 2, "test-strategy v2")
    assert [seg.code for seg in s.segments] == ["on_hold", "m1", "everyone"]
    m1 = s.segment("m1")
    assert m1.when is not None and m1.when.columns == ("dpd", "open_promise")
    call = m1.path[1]
    assert (call.step, call.kind, call.day, call.every, call.until, call.queue, call.priority) == (
        2, "call_queue", 3, 3, 27, "early_calls", 2)
    assert call.when is not None and call.when.duckdb == "rpc_30d = 0"
    assert m1.path[3].priority == 5 and m1.path[2].note == "逾期通知"
    assert s.segments[-1].when is None and not s.no_treatment_otherwise


def _segment(when: str) -> str:
    return HEAD + f"""\
  - code: first
    path: []
    when: {when}
""" + TAIL


@pytest.mark.parametrize(("when", "message"), [
    ("dpdd > 30", "unknown column 'dpdd' (did you mean 'dpd'?)"),
    ("upper(bucket) = 'M1'", "function upper() is not allowed"),
    ('"dpd > (SELECT 1)"', "subqueries are not allowed"),
    ('"dpd > 1; dpd < 5"', "only one expression is allowed"),
    ("sum(balance) > 1", "aggregate function sum() is not allowed"),
    ("rank() OVER (ORDER BY dpd) = 1", "window functions are not allowed"),
    ("bucket > 30", "type mismatch: cannot compare bucket (text) with 30 (a number)"),
    ("dpd + 1", "a condition must be true or false"),
    ("true", "must be a condition written as text"),
    ("30", "must be a condition written as text"),
])
def test_condition_errors_name_file_line_and_field(tmp_path: Path, when: str, message: str) -> None:
    err = fails(tmp_path, _segment(when))
    assert message in err.detail
    assert (err.line, err.field) == (7, "segments[0].when")


def test_a_literal_block_condition_reports_the_line_inside_it(tmp_path: Path) -> None:
    err = fails(tmp_path, HEAD + """\
  - code: first
    path: []
    when: |
      dpd > 30
      AND bucket = 'M2'
      AND hold_knd = 'fraud'
""" + TAIL)
    assert "did you mean 'hold_kind'" in err.detail
    assert (err.line, err.field) == (10, "segments[0].when")


def test_a_folded_condition_reports_its_first_line(tmp_path: Path) -> None:
    err = fails(tmp_path, HEAD + """\
  - code: first
    path: []
    when: >-
      dpd > 30
      AND dpd = 'x'
""" + TAIL)
    assert "type mismatch" in err.detail and (err.line, err.field) == (8, "segments[0].when")


def test_an_action_condition_is_checked_too(tmp_path: Path) -> None:
    err = fails(tmp_path, HEAD + """\
  - code: everyone
    path:
      - {day: 0, action: sms, template: early.reminder}
      - {day: 3, action: call_queue, queue: calls, when: max(dpd) > 3}
""")
    assert "aggregate function max()" in err.detail
    assert (err.line, err.field) == (8, "segments[0].path[1].when")


def _action(action: str) -> str:
    return HEAD + f"""\
  - code: everyone
    path:
      - {action}
"""


@pytest.mark.parametrize(("action", "field", "message"), [
    ("{day: 0, action: fax, template: x}", "segments[0].path[0].action", "unknown action 'fax' (allowed: sms, email"),
    ("{day: -1, action: sms, template: x}", "segments[0].path[0].day", "must be >= 0, got -1"),
    ("{day: three, action: sms, template: x}", "segments[0].path[0].day", "must be a whole number, got 'three'"),
    ("{day: 1.5, action: sms, template: x}", "segments[0].path[0].day", "must be a whole number"),
    ("{day: 4000, action: sms, template: x}", "segments[0].path[0].day", "must be <= 3650"),
    ("{action: sms, template: x}", "segments[0].path[0].day", "is required"),
    ("{day: 0, template: x}", "segments[0].path[0].action", "is required"),
    ("{day: 0, action: sms}", "segments[0].path[0].template", "a sms action needs a template"),
    ("{day: 0, action: call_queue}", "segments[0].path[0].queue", "a call_queue action needs a queue"),
    ("{day: 0, action: call_queue, queue: q, template: t}", "segments[0].path[0].template", "takes no template"),
    ("{day: 0, action: sms, template: early.reminder, queue: q}", "segments[0].path[0].queue", "takes no queue"),
    ("{day: 0, action: sms, template: Bad-Name}", "segments[0].path[0].template", "unknown template 'Bad-Name' (the "
     "channels catalogue has: agency.notice, early.reminder"),
    ("{day: 0, action: sms, template: letter.demand}", "segments[0].path[0].template",
     "template 'letter.demand' has no sms version (it has: letter)"),
    ("{day: 0, action: sms, template: early.reminder, priority: 0}", "segments[0].path[0].priority", "must be >= 1"),
    ("{day: 0, action: sms, template: early.reminder, priority: 10}", "segments[0].path[0].priority", "must be between 1"),
    ("{day: 0, action: sms, template: early.reminder, every: 0}", "segments[0].path[0].every", "must be >= 1"),
    ("{day: 0, action: sms, template: early.reminder, until: 5}", "segments[0].path[0].until", "only meaningful with 'every'"),
    ("{day: 9, action: sms, template: early.reminder, every: 2, until: 5}", "segments[0].path[0].until",
     "must be between the action's day (9)"),
    ("{day: 0, action: sms, template: early.reminder, repeat: 2}", "segments[0].path[0].repeat", "unknown key 'repeat'"),
    ("{day: 0, action: sms, template: early.reminder, note: ''}", "segments[0].path[0].note", "must be a non-empty text"),
    ("sms on day 0", "segments[0].path[0]", "expected a mapping"),
])
def test_action_errors(tmp_path: Path, action: str, field: str, message: str) -> None:
    err = fails(tmp_path, _action(action))
    assert message in err.detail
    assert (err.line, err.field) == (7, field)


def test_duplicate_segment_code(tmp_path: Path) -> None:
    err = fails(tmp_path, HEAD + """\
  - code: everyone
    when: dpd > 1
    path: []
""" + TAIL)
    assert "duplicate segment code 'everyone'" in err.detail
    assert (err.line, err.field) == (8, "segments[1].code")


@pytest.mark.parametrize(("text", "line", "field", "message"), [
    ("strategy: {name: s}\nsegments: []\n", 1, "strategy.version", "is required"),
    ("strategy: {name: s, version: 0}\nsegments: []\n", 1, "strategy.version", "must be >= 1"),
    ("strategy: {name: s, version: '2'}\nsegments: []\n", 1, "strategy.version", "must be a whole number"),
    ("strategy: {version: 1}\nsegments: []\n", 1, "strategy.name", "is required"),
    ("strategy: {name: Early Stage, version: 1}\n", 1, "strategy.name", "must be lower-case letters, digits, - and _"),
    ("strategy: {name: s, version: 1, owner: me}\n", 1, "strategy.owner", "unknown key 'owner'"),
    ("segments: []\n", 1, "strategy", "is required"),
    ("strategy: {name: s, version: 1}\n", 1, "segments", "is required"),
    ("strategy: {name: s, version: 1}\nsegments: []\n", 2, "segments", "expected a non-empty list"),
    ("strategy: {name: s, version: 1}\nrules: []\n", 2, "rules", "unknown key 'rules' (allowed: strategy, segments"),
    ("strategy: {name: s, version: 1}\notherwise: nothing\n", 2, "otherwise", "the only value is 'no_treatment'"),
    (HEAD + "  - {code: a, path: [], colour: red}\n", 5, "segments[0].colour", "unknown key 'colour'"),
    (HEAD + "  - {code: a}\n", 5, "segments[0].path", "is required"),
    (HEAD + "  - {path: []}\n", 5, "segments[0].code", "is required"),
    (HEAD + "  - {code: A1, path: []}\n", 5, "segments[0].code", "must be lower-case letters, digits and _"),
    (HEAD + "  - {code: a, path: {day: 1}}\n", 5, "segments[0].path", "expected a list of actions"),
    (HEAD + "  - {code: a, when: dpd > 1, path: []}\n", 5, "segments[0].when",
     "the last segment must be a catch-all (no 'when'), or set 'otherwise: no_treatment'"),
    (HEAD + "  - {code: a, path: []}\n  - {code: b, when: dpd > 1, path: []}\n", 5, "segments[0].when",
     "a catch-all segment (no 'when') must be the last"),
    ("otherwise: no_treatment\n" + HEAD + "  - {code: a, path: []}\n", 1, "otherwise", "can never apply"),
    ("strategy: [early, 1]\n", 1, "strategy", "expected a mapping"),
])
def test_structure_errors(tmp_path: Path, text: str, line: int, field: str, message: str) -> None:
    err = fails(tmp_path, text)
    assert message in err.detail
    assert (err.line, err.field) == (line, field)


def test_otherwise_no_treatment_lets_the_last_segment_have_a_condition(tmp_path: Path) -> None:
    s = load_strategy(write(tmp_path, "otherwise: no_treatment\n" + HEAD + "  - {code: a, when: dpd > 1, path: []}\n"))
    assert s.no_treatment_otherwise and s.segments[0].when is not None


def test_empty_and_broken_files(tmp_path: Path) -> None:
    err = fails(tmp_path, "")
    assert "empty" in err.detail and err.line == 1
    err = fails(tmp_path, "strategy: {name: s\nsegments: [\n")
    assert "not valid YAML" in err.detail and err.line is not None
    with pytest.raises(ConfigError, match="cannot read"):
        load_strategy(tmp_path / "missing.yaml")
