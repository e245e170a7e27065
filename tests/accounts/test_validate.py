from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.accounts import validate as v


def make_id(area: str, born: date, seq: str) -> str:
    body = f"{area}{born:%Y%m%d}{seq}"
    return body + v.national_id_check_char(body)


# -- national ID ---------------------------------------------------------------------------------


def test_known_national_ids():
    assert v.parse_national_id("11010519491231002X") == "11010519491231002X"
    assert v.parse_national_id("11010519491231002x") == "11010519491231002X"  # lower-case x accepted
    assert v.national_id_birth_date("11010519491231002X") == date(1949, 12, 31)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("110105194912310021", "checksum"),
        ("11010519491231002", "18 characters"),
        ("1101051949123100211", "18 characters"),
        ("1101051949123100A1", "17 digits"),
        ("X10105194912310021", "17 digits"),
        (make_id("110105", date(2000, 1, 1), "123")[:6] + "20230229" + "123" + "0", "checksum"),
    ],
)
def test_bad_national_ids(value, reason):
    with pytest.raises(ValueError, match=reason):
        v.parse_national_id(value)


def test_national_id_with_impossible_birth_date_is_refused_even_with_valid_checksum():
    body = "110105" + "20230229" + "123"  # 2023 is not a leap year
    with pytest.raises(ValueError, match="impossible birth date"):
        v.parse_national_id(body + v.national_id_check_char(body))
    body = "110105" + "18991231" + "123"
    with pytest.raises(ValueError, match="implausible"):
        v.parse_national_id(body + v.national_id_check_char(body))


def test_national_id_born_in_the_future_is_refused_when_today_is_given():
    valid = make_id("310101", date(2030, 5, 1), "456")
    assert v.parse_national_id(valid) == valid
    with pytest.raises(ValueError, match="future"):
        v.parse_national_id(valid, today=date(2026, 1, 1))


ids = st.builds(
    make_id,
    st.from_regex(r"[1-8][0-9]{5}", fullmatch=True),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
)


@given(ids)
def test_generated_ids_pass(national_id):
    assert v.parse_national_id(national_id) == national_id


@given(ids, st.integers(0, 17), st.integers(1, 10))
def test_any_single_character_change_fails(national_id, position, shift):
    alphabet = "0123456789X" if position == 17 else "0123456789"
    current = alphabet.index(national_id[position])
    replacement = alphabet[(current + shift) % len(alphabet)]
    if replacement == national_id[position]:  # shift == len(alphabet) for the body digits
        replacement = alphabet[(current + 1) % len(alphabet)]
    changed = national_id[:position] + replacement + national_id[position + 1 :]
    assert changed != national_id
    with pytest.raises(ValueError):
        v.parse_national_id(changed)


# -- phones, e-mail, zones -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086-138-0013-8000", "13800138000"),
        ("19912345678", "19912345678"),
        ("010-12345678", "010-12345678"),
        ("0755 12345678", "075512345678"),
        ("0571-1234567", "0571-1234567"),
    ],
)
def test_phone_normalisation(raw, stored):
    assert v.normalise_phone(raw) == stored


@pytest.mark.parametrize("raw", ["12800138000", "1380013800", "138001380001", "+1 415 555 0100", "10-12345678", "电话", ""])
def test_bad_phones(raw):
    with pytest.raises(ValueError, match="not a CN mobile"):
        v.normalise_phone(raw)


@pytest.mark.parametrize("raw", ["zhang.san@example.com", "li+si@mail.example.cn", "wang_wu@Example.COM"])
def test_emails(raw):
    assert v.parse_email(raw).split("@")[0] == raw.split("@")[0]
    assert v.parse_email("wang_wu@Example.COM") == "wang_wu@example.com"


@pytest.mark.parametrize("raw", ["zhangsan", "zhang san@example.com", "a@b", "a@@b.com", ".a@b.com", "a..b@c.com", "张三@例子.中国"])
def test_bad_emails(raw):
    with pytest.raises(ValueError, match="not an e-mail"):
        v.parse_email(raw)


def test_time_zones():
    assert v.parse_time_zone("Asia/Shanghai") == "Asia/Shanghai"
    assert v.parse_time_zone("Asia/Urumqi") == "Asia/Urumqi"
    for bad in ("Asia/Beijing", "CST+8", "../etc/passwd", ""):
        with pytest.raises(ValueError, match="time zone"):
            v.parse_time_zone(bad)


# -- dates, amounts, booleans, enums ------------------------------------------------------------------


def test_dates():
    assert v.parse_date("2024-02-29") == date(2024, 2, 29)
    assert v.parse_date(date(2024, 3, 1)) == date(2024, 3, 1)  # Parquet date32 arrives typed
    with pytest.raises(ValueError, match="impossible date"):
        v.parse_date("2026-02-30")
    for bad in ("2026/01/05", "20260105", "2026-1-5", "05-01-2026", "yesterday"):
        with pytest.raises(ValueError, match="YYYY-MM-DD"):
            v.parse_date(bad)


def test_fen_amounts():
    assert v.parse_fen("12345") == 12345
    assert v.parse_fen("-500") == -500
    assert v.parse_fen(7) == 7
    assert v.parse_fen("0", minimum=0) == 0
    with pytest.raises(ValueError, match="fractional"):
        v.parse_fen("12.50")
    with pytest.raises(ValueError, match="fractional"):
        v.parse_fen(".5")
    with pytest.raises(ValueError, match="not a whole number"):
        v.parse_fen("1,000")
    with pytest.raises(ValueError, match="not a whole number"):
        v.parse_fen("十元")
    with pytest.raises(ValueError, match="not a whole number"):
        v.parse_fen("١٢")  # non-ASCII digits
    with pytest.raises(ValueError, match="negative"):
        v.parse_fen("-1", minimum=0)
    with pytest.raises(ValueError, match="greater than zero"):
        v.parse_fen("0", positive=True)
    with pytest.raises(ValueError, match="negative"):
        v.parse_fen("-3", positive=True)
    with pytest.raises(ValueError, match="out of range"):
        v.parse_fen(str(2**63))


@given(st.integers(-(2**63) + 1, 2**63 - 1))
def test_fen_round_trips_every_bigint(n):
    assert v.parse_fen(str(n)) == n


def test_booleans_and_enums():
    for t in ("true", "TRUE", "1", "Y", "y", True):
        assert v.parse_bool(t) is True
    for f in ("false", "0", "N", False):
        assert v.parse_bool(f) is False
    with pytest.raises(ValueError, match="not a boolean"):
        v.parse_bool("maybe")
    assert v.parse_enum("wechat", ("wechat", "alipay")) == "wechat"
    with pytest.raises(ValueError, match="unknown value 'paypal'"):
        v.parse_enum("paypal", ("wechat", "alipay"))
    assert v.parse_int_between("28", 1, 28) == 28
    with pytest.raises(ValueError, match="between 1 and 28"):
        v.parse_int_between("29", 1, 28)
    assert v.parse_currency("CNY") == "CNY"
    with pytest.raises(ValueError, match="3 upper-case"):
        v.parse_currency("rmb")


def test_text_length():
    assert v.parse_text("  配偶 ", max_length=2) == "配偶"
    with pytest.raises(ValueError, match="longer than 2"):
        v.parse_text("配偶的", max_length=2)


def test_birth_date_helpers_agree():
    born = date(1990, 1, 1) + timedelta(days=1234)
    assert v.national_id_birth_date(make_id("440305", born, "001")) == born


# -- whole-column checks agree with the per-cell parsers --------------------------------------------

_TRICKY = st.sampled_from([
    "", " ", "0", "-0", "007", "+5", "1.5", "12", "-12", "999999999999999999", "9999999999999999999", "28", "29",
    "2026-02-28", "2026-02-29", "2024-02-29", "2026-13-01", "0999-01-01", "2026-1-1", " 2026-01-01",
    "true", "TRUE", "Y", "n", "yes", "maybe", "CNY", "cny", "Asia/Shanghai", "Asia/Beijing", "wechat", "WeChat",
    "张三", " 张三", "张三\u3000", "a\u00a0", "x\x1c", "13800138000", "+8613800138000", "a@b.cn", "a@B.CN",
])


@given(st.lists(st.one_of(_TRICKY, st.text(max_size=12)), min_size=1, max_size=30))
def test_vector_checks_only_vouch_for_cells_the_parsers_accept_unchanged(cells):
    arr = pa.array(cells, pa.string())
    checks = [
        (lambda a: v.vector_text(a, 5), lambda x: v.parse_text(x, max_length=5)),
        (lambda a: v.vector_fen(a, minimum=0), lambda x: v.parse_fen(x, minimum=0)),
        (lambda a: v.vector_fen(a, positive=True), lambda x: v.parse_fen(x, positive=True)),
        (lambda a: v.vector_int_between(a, 1, 28), lambda x: v.parse_int_between(x, 1, 28)),
        (v.vector_date, v.parse_date),
        (v.vector_bool, v.parse_bool),
        (v.vector_currency, v.parse_currency),
        (v.vector_time_zone, v.parse_time_zone),
        (lambda a: v.vector_enum(a, ("wechat", "alipay")), lambda x: v.parse_enum(x, ("wechat", "alipay"))),
    ]
    for vector, parse in checks:
        values, ok = vector(arr)
        for cell, value, good in zip(cells, values.to_pylist(), ok.to_pylist(), strict=True):
            if good:
                assert parse(cell) == value, (cell, value)


def test_vector_national_id_agrees_with_the_parser():
    today = date(2026, 3, 1)
    good = national_id_for(date(1985, 6, 15))
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    canonical_bad = [bad_check, national_id_for(date(2030, 1, 1)), national_id_for(date(1899, 12, 31)), "x",
                     "11010520260230123X"]
    _, ok, born = v.vector_national_id(pa.array([good, " " + good, *canonical_bad]), today=today)
    assert ok.to_pylist() == [True] + [False] * (1 + len(canonical_bad))
    assert v.parse_national_id(good, today=today) == good and born[0].as_py() == date(1985, 6, 15)
    assert v.parse_national_id(" " + good, today=today) == good  # left to the parser, which trims
    for cell in canonical_bad:
        with pytest.raises(ValueError):
            v.parse_national_id(cell, today=today)


def national_id_for(born: date) -> str:
    body = f"110105{born:%Y%m%d}123"
    return body + v.national_id_check_char(body)
