"""Loading policy packs: the shipped packs load as documented; bad files name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from arrears.contact import PACK_NAMES, load_default_pack, load_pack
from arrears.contact.config import default_pack_path
from arrears.contact.policy import AttemptLimit, PublicHoliday, QuietHours
from arrears.kit.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "compliance.md"


def test_default_packs_load() -> None:
    cn = load_default_pack()
    assert cn.name == "cn" and cn.version == "2026.2"
    quiet = cn.rule("quiet_hours")
    assert isinstance(quiet, QuietHours)
    # only an appointment with the debtor's agreement on record lifts the quiet hours (GB/T 45251—2025)
    assert (quiet.allowed_from, quiet.allowed_until, quiet.customer_request_may_lift, quiet.agreement_required) == (
        8 * 3600, 22 * 3600, True, True)
    limit = cn.rule("daily_call_limit")
    assert isinstance(limit, AttemptLimit) and (limit.max_attempts, limit.window_days, limit.scope) == (6, 1, "debtor")
    holiday = cn.rule("public_holiday")
    assert isinstance(holiday, PublicHoliday) and holiday.mode == "restrict_hours"
    assert holiday.overridable_by == {"supervisor", "compliance"}
    us = load_default_pack("us-reg-f")
    assert isinstance(us.rule("inconvenient_time"), QuietHours) and us.rule("inconvenient_time").customer_request_may_lift
    freq = us.rule("call_frequency")
    assert isinstance(freq, AttemptLimit) and (freq.max_attempts, freq.window_days, freq.rolling, freq.scope) == (
        7, 7, True, "debt")
    for name in PACK_NAMES:
        pack = load_default_pack(name)
        assert all(r.source.strip() for r in pack.rules)
        assert load_default_pack(name) is pack


def test_every_rule_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in PACK_NAMES:
        for rule in load_default_pack(name).rules:
            assert f"`{name}` · `{rule.id}`" in text, f"docs/compliance.md lacks {name} {rule.id}"


def test_unknown_pack_name() -> None:
    with pytest.raises(ValueError, match="unknown policy pack"):
        default_pack_path("eu")


GOOD = default_pack_path("cn").read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str, nth: int = 1) -> int:
    count = 0
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            count += 1
            if count == nth:
                return i
    raise AssertionError(needle)


@pytest.mark.parametrize(
    ("old", "new", "field", "message", "needle"),
    [
        ('allowed_until: "22:00"', "allowed_until: 22:00", "rules[0].params.allowed_until", "quoted time",
         "allowed_until: 22:00"),
        ('allowed_until: "22:00"', 'allowed_until: "07:00"', "rules[0].params.allowed_until", "later than",
         'allowed_until: "07:00"'),
        ("max_attempts: 6", "max_attempts: six", "rules[2].params.max_attempts", "whole number", "max_attempts: six"),
        ("max_attempts: 6", "max_attempts: -1", "rules[2].params.max_attempts", ">= 0", "max_attempts: -1"),
        ("scope: debtor", "scope: household", "rules[2].params.scope", "unknown value", "scope: household"),
        ("kinds: [bankruptcy, deceased]", "kinds: [bankruptcy, vacation]", "rules[5].params.kinds[1]", "unknown value",
         "kinds: [bankruptcy, vacation]"),
        ("overridable_by: [compliance]", "overridable_by: [janitor]", "rules[6].overridable_by[0]", "unknown value",
         "overridable_by: [janitor]"),
        ("mode: restrict_hours", "mode: sometimes", "rules[1].params.mode", "unknown value", "mode: sometimes"),
        ("default_country: CN", "default_country: XX", "rules[1].params.default_country", "no public-holiday calendar",
         "default_country: XX"),
        ("kind: recording", "kind: telepathy", "rules[9].kind", "unknown value", "kind: telepathy"),
        ("      retention_days: 731", "      retention_days: 731\n      colour: red", "rules[9].params.colour",
         "unknown key", "colour: red"),
        ("  - id: hold_legal", "  - id: hold_hardship", "rules[8].id", "duplicate rule id", "  - id: hold_hardship\n    kind: hold\n    title:\n      en: No contact while"),
        ('version: "2026.2"', "version: ''", "version", "non-empty text", "version: ''"),
        ("        emergency_contact: [reestablish_contact]", "        neighbour: [reestablish_contact]",
         "rules[3].params.allowed.neighbour", "unknown key", "neighbour:"),
        ("      channels: [call]\n      parties: [debtor]", "      channels: [call, fax]\n      parties: [debtor]",
         "rules[2].applies_to.channels[1]", "unknown value", "channels: [call, fax]"),
    ],
)
def test_bad_pack_names_file_line_and_field(tmp_path: Path, old: str, new: str, field: str, message: str,
                                             needle: str) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_pack(path)
    err = info.value
    assert err.file == str(path)
    assert err.field == field, err
    assert message in err.detail
    assert err.line == (_line_of(text, needle) if "\n" not in needle else text[: text.index(needle)].count("\n") + 1), err


def test_missing_required_parameter(tmp_path: Path) -> None:
    text = GOOD.replace("      window_days: 1\n", "", 1)
    with pytest.raises(ConfigError) as info:
        load_pack(_write(tmp_path, text))
    assert info.value.field == "rules[2].params.window_days"
    assert info.value.line == _line_of(text, "max_attempts: 6")  # where the params mapping starts


def test_restrict_hours_needs_a_window(tmp_path: Path) -> None:
    text = GOOD.replace('      allowed_from: "09:00"\n', "", 1)
    with pytest.raises(ConfigError) as info:
        load_pack(_write(tmp_path, text))
    assert info.value.field == "rules[1].params.allowed_from"
    assert info.value.line == _line_of(text, "mode: restrict_hours")


def test_not_yaml_and_empty(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_pack(_write(tmp_path, "pack: cn\nrules: [\n"))
    assert info.value.line is not None and "not valid YAML" in info.value.detail
    with pytest.raises(ConfigError, match="empty"):
        load_pack(_write(tmp_path, ""))
    with pytest.raises(ConfigError) as info:
        load_pack(_write(tmp_path, "pack: cn\nversion: '1'\ntitle: {en: a, zh_CN: b}\n"))
    assert info.value.field == "rules"


def test_a_bank_may_tighten_a_pack(tmp_path: Path) -> None:
    pack = load_pack(_write(tmp_path, GOOD.replace("max_attempts: 6", "max_attempts: 3", 1)))
    rule = pack.rule("daily_call_limit")
    assert isinstance(rule, AttemptLimit) and rule.max_attempts == 3
