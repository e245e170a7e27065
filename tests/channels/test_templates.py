"""Templates: every code renders in both locales on each of its channels; strict fields; SMS length."""

from __future__ import annotations

from importlib import resources

import pytest

from arrears.channels.templates import (
    LOCALES,
    MAX_SMS_SEGMENTS,
    TemplateError,
    catalogue,
    render,
    sample_payload,
    sms_segments,
)

CASES = [(code, channel, locale) for code, spec in sorted(catalogue().items()) for channel in spec.channels
         for locale in LOCALES]
#: Words a collection message must never carry (threats, shaming, third parties).
FORBIDDEN = ("拘留", "坐牢", "公安", "曝光", "通讯录", "家人", "单位", "亲友", "police", "arrest", "jail", "family",
             "employer")


def test_catalogue_lists_the_codes_the_product_sends() -> None:
    assert {"plan.confirmation_code", "plan.reminder", "early.reminder", "early.second_reminder", "letter.demand",
            "letter.legal_notice"} <= set(catalogue())


def test_every_template_file_belongs_to_the_catalogue() -> None:
    root = resources.files("arrears.channels") / "templates"
    expected = set()
    for code, spec in catalogue().items():
        for channel in spec.channels:
            for locale in LOCALES:
                names = {"sms": ["sms.txt.j2"], "email": ["email.subject.j2", "email.txt.j2"],
                         "letter": ["letter.txt.j2"]}[channel]
                expected |= {f"{code}/{locale}.{n}" for n in names}
    found = {f"{d.name}/{f.name}" for d in root.iterdir() if d.is_dir() for f in d.iterdir()}
    assert found == expected


@pytest.mark.parametrize(("code", "channel", "locale"), CASES)
def test_renders_in_both_locales(code: str, channel: str, locale: str) -> None:
    payload = sample_payload(code, locale)
    rendered = render(code, channel, locale, payload)
    assert rendered.body.strip()
    assert "{{" not in rendered.body and "None" not in rendered.body
    # The debtor's name and the masked card only: never a full card number.
    assert payload["customer_name"] in rendered.body or channel == "sms" and code == "plan.confirmation_code" \
        or locale == "en" and channel == "sms"
    for word in FORBIDDEN:
        assert word not in rendered.body.lower()
    if locale == "zh_CN":
        assert any("\u4e00" <= ch <= "\u9fff" for ch in rendered.body)
    if channel == "sms":
        assert rendered.segments == sms_segments(rendered.body) <= MAX_SMS_SEGMENTS
        assert "\n" not in rendered.body
    if channel in ("sms", "email"):
        assert ("退订" if locale == "zh_CN" else "opt out" if channel == "sms" else "unsubscribe") in rendered.body
    if channel == "email":
        assert rendered.subject and "\n" not in rendered.subject


def test_amounts_are_fen_shown_as_yuan() -> None:
    body = render("early.reminder", "sms", "zh_CN", sample_payload("early.reminder") | {"amount_due": 123_456}).body
    assert "1,234.56元" in body
    assert "2026年3月25日" in body


def test_instants_are_shown_on_the_customers_clock() -> None:
    payload = sample_payload("plan.confirmation_code") | {"expires_at": "2026-02-01T06:15:00+00:00"}
    assert "2026-02-01 14:15" in render("plan.confirmation_code", "sms", "zh_CN", payload).body
    payload["tz"] = "Asia/Urumqi"
    assert "2026-02-01 12:15" in render("plan.confirmation_code", "sms", "zh_CN", payload).body


@pytest.mark.parametrize("missing", ["amount_due", "due_date", "customer_name"])
def test_a_missing_field_names_the_template_and_the_field(missing: str) -> None:
    payload = sample_payload("early.reminder")
    del payload[missing]
    with pytest.raises(TemplateError) as err:
        render("early.reminder", "sms", "zh_CN", payload)
    assert "early.reminder/zh_CN.sms.txt.j2" in err.value.message
    assert repr(missing) in err.value.message


def test_unknown_code_channel_or_locale_is_refused() -> None:
    with pytest.raises(TemplateError, match="unknown template code 'nope'"):
        render("nope", "sms", "zh_CN", {})
    with pytest.raises(TemplateError, match="no sms version"):
        render("letter.demand", "sms", "zh_CN", sample_payload("letter.demand"))
    with pytest.raises(TemplateError, match="no locale 'fr'"):
        render("early.reminder", "sms", "fr", sample_payload("early.reminder"))


def test_sms_segments() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3
    assert sms_segments("{" * 80) == 1 and sms_segments("{" * 81) == 2  # extension characters count twice
    assert sms_segments("中" * 70) == 1
    assert sms_segments("中" * 71) == 2
    assert sms_segments("中" * 134) == 2
    assert sms_segments("中" * 135) == 3
    assert sms_segments("a" * 69 + "中") == 1  # one Chinese character makes the whole text UCS-2


def test_too_long_an_sms_is_refused() -> None:
    payload = sample_payload("plan.reminder") | {"agreement": "X" * 200}
    with pytest.raises(TemplateError, match="segments"):
        render("plan.reminder", "sms", "zh_CN", payload)
