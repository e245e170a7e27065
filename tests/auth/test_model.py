"""Masking rules, the policy table and the audit chain's canonical form (pure, no store)."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.auth.model import (
    GENESIS_HASH,
    HIDDEN,
    KINDS,
    POLICY,
    ROLES,
    ChainRow,
    can_reveal,
    canonical_record,
    chain_hash,
    check_role,
    json_safe,
    mask,
    masked,
    sees_all_teams,
    verify_rows,
)

DIGITS = "0123456789"
national_ids = st.text(DIGITS, min_size=17, max_size=17).flatmap(
    lambda s: st.sampled_from(DIGITS + "X").map(lambda c: s + c))
mobiles = st.tuples(st.sampled_from("3456789"), st.text(DIGITS, min_size=9, max_size=9)).map(lambda t: f"1{t[0]}{t[1]}")


def _hidden_digits_absent(out: str, value: str, head: int, tail: int) -> None:
    kept = value[:head] + value[len(value) - tail:]
    for d in set(value[head:len(value) - tail]) - set(kept):
        assert d not in out


@given(national_ids)
def test_national_id_keeps_region_and_last_four(value):
    out = masked("national_id", value)
    assert out == value[:3] + "*" * 11 + value[-4:]
    _hidden_digits_absent(out, value, 3, 4)


@given(mobiles, st.sampled_from(["", "+86", "86"]))
def test_mobile_keeps_three_and_four_digits(value, prefix):
    out = masked("phone", prefix + value)
    assert out == value[:3] + "****" + value[-4:]
    _hidden_digits_absent(out, value, 3, 4)


@given(st.text(DIGITS, min_size=2, max_size=3), st.text(DIGITS, min_size=7, max_size=8))
def test_landline_keeps_area_code_and_last_four(area, number):
    out = masked("phone", f"0{area}-{number}")
    assert out == f"0{area}-" + "*" * (len(number) - 4) + number[-4:]
    assert not set(number[:-4]) - set(f"0{area}" + number[-4:]) & set(out)
    # Without the dash the split is ambiguous, but the subscriber number still stays hidden.
    plain = masked("phone", f"0{area}{number}")
    assert plain.endswith(number[-4:]) and plain.count("*") >= 3


@given(st.text(min_size=0, max_size=40))
def test_any_phone_like_text_never_shows_more_than_its_last_four(value):
    out = masked("phone", value)
    assert sum(c.isdigit() for c in out) <= 8  # at most a 4-digit area code and the last four


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("广东省深圳市南山区科技园路1号", "广东省深圳市****"),
        ("北京市朝阳区建国路88号3单元", "北京市****"),
        ("内蒙古自治区呼和浩特市新城区中山路12号", "内蒙古自治区呼和浩特市****"),
        ("山东省济南市市中区经四路5号", "山东省济南市****"),
        ("四川省凉山彝族自治州西昌市长安路", "四川省凉山彝族自治州****"),
        ("Flat 3, 12 Baker Street", "****"),
    ],
)
def test_address_keeps_province_and_city_only(address, expected):
    assert masked("address", address) == expected


@given(st.text(min_size=1, max_size=60).filter(str.strip))
def test_address_shows_no_digit_and_only_a_prefix(value):
    out = masked("address", value)
    assert out.endswith(HIDDEN)
    assert value.strip().startswith(out[: -len(HIDDEN)])
    assert not any(c.isdigit() for c in out)


@given(st.text(string.ascii_letters + DIGITS + "._", min_size=1, max_size=20),
       st.text(string.ascii_lowercase + DIGITS, min_size=1, max_size=12))
def test_email_keeps_first_character_and_domain(local, domain):
    out = masked("email", f"{local}@{domain}.cn")
    assert out == f"{local[0]}{HIDDEN}@{domain}.cn"


def test_name_keeps_the_first_character():
    assert masked("name", "张三丰") == "张**"
    assert masked("name", "张三") == "张*"
    assert masked("name", "李") == "*"


# The policy, written out independently of the table it checks.
PLAIN = {("name", r) for r in ("agent", "team_lead", "supervisor", "compliance", "admin")}
REVEAL = {(k, r) for k in KINDS for r in ("compliance", "admin")} | PLAIN
DIAL = {("phone", r) for r in ("agent", "team_lead", "supervisor", "compliance", "admin")}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_only_permitted_roles_see_plain_values_or_may_unmask(kind, role):
    value = {"national_id": "110105194912310021", "phone": "13812345678", "address": "广东省深圳市南山区科技园路1号",
             "email": "zhangsan@example.com", "name": "张三丰"}[kind]
    shown = mask(kind, value, role)
    assert (shown == value) == ((kind, role) in PLAIN)
    if (kind, role) not in PLAIN:
        assert shown == masked(kind, value) != value
    assert can_reveal(kind, role) == ((kind, role) in REVEAL)
    assert can_reveal(kind, role, "dial") == ((kind, role) in DIAL)


def test_agents_see_masked_id_and_phone_and_auditors_see_nothing_plain():
    assert mask("national_id", "110105194912310021", "agent") == "110***********0021"
    assert mask("phone", "13812345678", "agent") == "138****5678"
    assert all(mask(k, "张三丰", "auditor") != "张三丰" for k in KINDS)
    assert mask("phone", None, "agent") is None


def test_unknown_kind_role_or_purpose_is_refused():
    with pytest.raises(ValueError, match="unknown kind"):
        mask("passport", "E123", "admin")
    with pytest.raises(ValueError, match="unknown role"):
        mask("phone", "13812345678", "root")
    with pytest.raises(ValueError, match="unknown purpose"):
        can_reveal("phone", "admin", "print")
    with pytest.raises(ValueError):
        check_role("superuser")


def test_policy_covers_every_kind_and_scope_roles():
    assert set(POLICY) == set(KINDS)
    assert [r for r in ROLES if sees_all_teams(r)] == ["supervisor", "compliance", "admin", "auditor"]


# --- canonical form -----------------------------------------------------------------------------

AT = datetime(2026, 11, 29, 8, 30, 0, 123456, tzinfo=UTC)


def test_canonical_form_is_stable_and_ignores_key_order_and_offset():
    a = canonical_record(seq=1, at=AT, actor="u", action="a", entity="e", entity_id="1", detail={"b": 1, "a": "张"})
    b = canonical_record(seq=1, at=AT.astimezone(timezone(timedelta(hours=8))), actor="u", action="a", entity="e",
                         entity_id="1", detail={"a": "张", "b": 1})
    assert a == b
    assert a == ('{"action":"a","actor":"u","at":"2026-11-29T08:30:00.123456+00:00","detail":{"a":"张","b":1},'
                 '"entity":"e","entity_id":"1","seq":1}')
    assert chain_hash(a, GENESIS_HASH) != chain_hash(a, "1" * 64)


def test_details_refuse_floats_and_normalise_decimals_and_dates():
    with pytest.raises(ValueError, match=r"detail.amount: floats"):
        json_safe({"amount": 1.5})
    assert json_safe({"amount": Decimal("12.30"), "on": date(2026, 1, 2), "xs": (1, None)}) == {
        "amount": "12.30", "on": "2026-01-02", "xs": [1, None]}
    with pytest.raises(ValueError, match="naive"):
        json_safe(datetime(2026, 1, 1))


def _chain(n: int) -> list[ChainRow]:
    rows, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        c = canonical_record(seq=seq, at=AT, actor="u", action="a", entity="e", entity_id=str(seq), detail={"n": seq})
        h = chain_hash(c, prev)
        rows.append(ChainRow(seq, AT, "u", "a", "e", str(seq), {"n": seq}, prev, h))
        prev = h
    return rows


def test_verify_rows_on_a_clean_chain_and_an_empty_one():
    rows = _chain(5)
    assert verify_rows(rows, head_seq=5, head_hash=rows[-1].hash) == []
    assert verify_rows([], head_seq=None, head_hash=None) == []


def test_verify_rows_names_a_changed_detail():
    rows = _chain(5)
    r = rows[2]
    rows[2] = ChainRow(r.seq, r.at, r.actor, r.action, r.entity, r.entity_id, {"n": 999}, r.prev_hash, r.hash)
    problems = verify_rows(rows, head_seq=5, head_hash=rows[-1].hash)
    assert [(p.seq, p.kind) for p in problems] == [(3, "changed")]
