"""New passwords follow NIST SP 800-63B: length, no username, not common, not guessable."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.auth.passwords import MIN_LENGTH, WeakPassword, check_new_password
from arrears.auth.service import create_user, get_user, set_password
from arrears.kit.db import transaction
from tests.auth.factories import add_user


@pytest.mark.parametrize("password, reason", [
    ("aaaaaaaaaa", "guessable"),
    (" " * 10, "guessable"),
    ("ops.admin1", "username"),
    ("OPS.ADMIN-2026", "username"),
    ("1234567890", "common"),
    ("woaini1314520", "common"),
    ("Password2026!", "common"),
    ("qwertyuiop", "common"),
    ("abcdefghijk", "guessable"),
    ("short", "too_short"),
    ("x" * 129, "too_long"),
    ("correct\x00horse battery", "control"),
])
def test_weak_passwords_are_refused_with_the_rule_they_break(password, reason):
    with pytest.raises(WeakPassword) as refused:
        check_new_password(password, username="ops.admin")
    assert refused.value.reason == reason and refused.value.status == 422


@pytest.mark.parametrize("password", ["correct horse battery", "蓝色的海豚在月光下游泳", "tg7#Lq2!vZp9"])
def test_strong_passwords_and_phrases_in_any_script_are_accepted(password):
    check_new_password(password, username="ops.admin")


@settings(max_examples=50, deadline=None)
@given(username=st.from_regex(r"[a-z]{3,12}(\.[a-z]{2,8})?", fullmatch=True),
       before=st.text(max_size=8), after=st.text(max_size=8))
def test_no_password_containing_the_username_is_ever_accepted(username, before, after):
    with pytest.raises(WeakPassword):
        check_new_password(f"{before}{username.upper()}{after}".ljust(MIN_LENGTH, "#"), username=username)


def test_the_store_refuses_a_weak_password_for_a_new_user_and_a_password_change(engine):
    with pytest.raises(WeakPassword), transaction(engine) as s:
        create_user(s, username="ops", password="aaaaaaaaaa", role="admin", actor="test")
    add_user(engine, "ops", role="admin", team=None)
    with pytest.raises(WeakPassword), transaction(engine) as s:
        set_password(s, user=get_user(s, "ops"), password="ops ops ops ops", actor="test")
