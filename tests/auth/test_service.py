"""Passwords, login throttling, tokens, data scope and audited reveals, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from arrears.auth.model import AccountLocked, AuthError, Forbidden
from arrears.auth.service import (
    Throttle,
    case_scope,
    create_user,
    get_user,
    hash_password,
    issue_token,
    login,
    needs_rehash,
    reveal,
    revoke_token,
    set_password,
    unlock,
    verify,
    verify_password,
    verify_token,
)
from arrears.auth.tables import AuditRecord, AuthToken, LoginAttempt, Team, User
from arrears.kit.clock import frozen_at
from arrears.kit.db import transaction
from arrears.kit.errors import ArrearsError
from tests.auth.factories import PASSWORD, add_user

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


# --- passwords ----------------------------------------------------------------------------------


def test_passwords_are_argon2_hashed_and_verified():
    h = hash_password(PASSWORD)
    assert h.startswith("$argon2id$") and PASSWORD not in h
    assert verify_password(h, PASSWORD)
    assert not verify_password(h, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)
    assert hash_password(PASSWORD) != h  # salted
    with pytest.raises(ArrearsError, match="too short"):
        hash_password("short")


def test_the_hash_costs_are_the_settings_and_never_below_owasps_floor(monkeypatch):
    from pydantic import ValidationError

    from arrears.config import Settings, get_settings

    for name, value in (("TIME_COST", "2"), ("MEMORY_KIB", "19456"), ("PARALLELISM", "1")):
        monkeypatch.setenv(f"ARREARS_PASSWORD_HASH_{name}", value)
    get_settings.cache_clear()
    try:
        h = hash_password(PASSWORD)
        assert "$m=19456,t=2,p=1$" in h and verify_password(h, PASSWORD) and not needs_rehash(h)
        assert needs_rehash(PasswordHasher().hash(PASSWORD))  # the library's default costs differ: re-hashed
        monkeypatch.setenv("ARREARS_PASSWORD_HASH_MEMORY_KIB", "8192")  # 2 passes × 8 MiB: under the floor
        get_settings.cache_clear()
        with pytest.raises(ArrearsError, match="too cheap"):
            hash_password(PASSWORD)
        monkeypatch.setenv("ARREARS_PASSWORD_HASH_MEMORY_KIB", "4096")
        with pytest.raises(ValidationError):
            Settings()
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_a_weak_hash_is_replaced_at_the_next_login(engine):
    add_user(engine)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert needs_rehash(weak)
    with transaction(engine) as s:
        get_user(s, "li.na").password_hash = weak
    login(engine, username="li.na", password=PASSWORD)
    with transaction(engine) as s:
        stored = get_user(s, "li.na").password_hash
    assert stored != weak and not needs_rehash(stored) and verify_password(stored, PASSWORD)


def test_create_user_checks_role_team_and_uniqueness(engine):
    add_user(engine, "li.na", role="agent", team="T1")
    add_user(engine, "wang.wei", role="team_lead", team="T1")
    add_user(engine, "boss", role="supervisor", team=None)
    with transaction(engine) as s:
        assert s.scalars(select(Team.code)).all() == ["T1"]  # created once, reused
        assert get_user(s, "boss").team_id is None
    for kwargs, message in [
        ({"username": "x", "role": "agent", "team": None}, "must belong to a team"),
        ({"username": "x", "role": "root", "team": None}, "unknown role"),
        ({"username": "li.na", "role": "agent", "team": "T1"}, "already exists"),
    ]:
        with pytest.raises((ArrearsError, ValueError), match=message):
            with transaction(engine) as s:
                create_user(s, password=PASSWORD, actor="test", **kwargs)


# --- login and throttling -----------------------------------------------------------------------


def test_login_returns_the_user_and_records_the_attempt(engine):
    add_user(engine)
    with frozen_at(T0):
        user = login(engine, username="li.na", password=PASSWORD, remote="10.0.0.1")
    assert user.username == "li.na" and user.last_login_at == T0
    with transaction(engine) as s:
        attempts = s.execute(select(LoginAttempt.outcome, LoginAttempt.remote, LoginAttempt.at)).all()
    assert attempts == [("ok", "10.0.0.1", T0)]


def test_unknown_user_and_wrong_password_look_the_same(engine):
    add_user(engine)
    with pytest.raises(AuthError) as unknown:
        login(engine, username="nobody", password=PASSWORD)
    with pytest.raises(AuthError) as wrong:
        login(engine, username="li.na", password="wrong password!")
    assert str(unknown.value) == str(wrong.value) == "wrong username or password"
    with transaction(engine) as s:
        assert s.scalars(select(LoginAttempt.outcome).order_by(LoginAttempt.id)).all() == [
            "unknown_user", "bad_password"]


def _fail(engine, n: int, at: datetime) -> None:
    with frozen_at(at):
        for _ in range(n):
            with pytest.raises(AuthError):
                login(engine, username="li.na", password="wrong password!")


def test_five_failures_in_fifteen_minutes_refuse_that_address_until_the_oldest_leaves_the_window(engine):
    add_user(engine)
    _fail(engine, 4, T0)
    with frozen_at(T0 + timedelta(minutes=10)), pytest.raises(AuthError) as fifth:
        login(engine, username="li.na", password="wrong password!")
    assert not isinstance(fifth.value, AccountLocked)  # the fifth guess is still checked
    until = T0 + timedelta(minutes=15)  # when the first of the five leaves the window
    with frozen_at(T0 + timedelta(minutes=11)), pytest.raises(AccountLocked) as locked:
        login(engine, username="li.na", password="wrong password!")
    assert locked.value.until == until
    # While refused even the right password is refused, without the password being checked.
    with frozen_at(until - timedelta(seconds=1)), pytest.raises(AccountLocked):
        login(engine, username="li.na", password=PASSWORD)
    with frozen_at(until):
        assert login(engine, username="li.na", password=PASSWORD).username == "li.na"
    with transaction(engine) as s:
        outcomes = s.scalars(select(LoginAttempt.outcome).order_by(LoginAttempt.id)).all()
        actions = s.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)).all()
    assert outcomes == ["bad_password"] * 5 + ["locked", "locked", "ok"]
    assert actions.count("auth.login_throttled") == 2 and actions.count("auth.login_failed") == 5


def test_failures_spread_over_more_than_the_window_do_not_lock(engine):
    add_user(engine)
    _fail(engine, 4, T0)
    _fail(engine, 4, T0 + timedelta(minutes=16))  # the first four are outside the window now
    with frozen_at(T0 + timedelta(minutes=17)):
        assert login(engine, username="li.na", password=PASSWORD).locked_until is None


def test_a_successful_login_resets_the_count(engine):
    add_user(engine)
    _fail(engine, 4, T0)
    with frozen_at(T0 + timedelta(minutes=1)):
        login(engine, username="li.na", password=PASSWORD)
    _fail(engine, 4, T0 + timedelta(minutes=2))
    with frozen_at(T0 + timedelta(minutes=3)):
        login(engine, username="li.na", password=PASSWORD)


def test_an_unlock_restarts_the_count(engine):
    add_user(engine)
    add_user(engine, "boss", role="admin", team=None)
    _fail(engine, 5, T0)
    with frozen_at(T0 + timedelta(minutes=1)):
        with pytest.raises(AccountLocked):
            login(engine, username="li.na", password=PASSWORD)
        with transaction(engine) as s:
            unlock(s, user=get_user(s, "li.na"), actor="boss")
    with frozen_at(T0 + timedelta(minutes=2)):
        assert login(engine, username="li.na", password=PASSWORD).username == "li.na"


def test_an_unknown_username_is_refused_exactly_like_a_real_one(engine):
    """Same answers in the same order, whether or not the user exists (no account enumeration)."""
    add_user(engine)
    answers = {}
    for name in ("li.na", "no.such.user"):
        seen = []
        with frozen_at(T0):
            for _ in range(7):
                with pytest.raises(AuthError) as exc:
                    login(engine, username=name, password="wrong password!", remote="10.0.0.9")
                seen.append((type(exc.value).__name__, exc.value.status, str(exc.value)))
        answers[name] = seen
    assert answers["li.na"] == answers["no.such.user"]
    assert [status for _, status, _ in answers["li.na"]] == [401] * 5 + [423] * 2


def test_every_path_costs_one_password_check(engine, monkeypatch):
    """Right, wrong, unknown and refused sign-ins each verify exactly one argon2 hash (equal timing)."""
    import arrears.auth.service as service

    add_user(engine)
    calls: list[str] = []
    real = service.verify_password
    monkeypatch.setattr(service, "verify_password", lambda h, p: calls.append(p) or real(h, p))
    cases = [("li.na", PASSWORD)] + [("li.na", "wrong password!")] * 6 + [("nobody", "wrong password!")] * 6
    with frozen_at(T0):
        for name, password in cases:
            before = len(calls)
            try:
                login(engine, username=name, password=password, remote="10.0.0.7")
            except AuthError:
                pass
            assert len(calls) - before == 1, (name, password)


def test_one_address_cannot_lock_the_user_out_from_another(engine):
    add_user(engine, "boss", role="admin", team=None)
    with frozen_at(T0):
        for _ in range(8):
            with pytest.raises(AuthError):
                login(engine, username="boss", password="wrong password!", remote="203.0.113.9")
        assert login(engine, username="boss", password=PASSWORD, remote="10.1.1.1").username == "boss"


def test_guesses_from_many_addresses_lock_the_username_everywhere(engine):
    add_user(engine, "boss", role="admin", team=None)
    throttle = Throttle(per_pair=5, per_address=30, per_username=8)
    with frozen_at(T0):
        for i in range(8):
            with pytest.raises(AuthError) as exc:
                login(engine, username="boss", password="wrong password!", remote=f"198.51.100.{i}", throttle=throttle)
            assert not isinstance(exc.value, AccountLocked)
        with pytest.raises(AccountLocked) as locked:
            login(engine, username="boss", password=PASSWORD, remote="10.1.1.1", throttle=throttle)
    assert locked.value.until == T0 + throttle.window
    with transaction(engine) as s:
        assert get_user(s, "boss").locked_until == T0 + throttle.window
        assert s.scalars(select(AuditRecord.action).where(AuditRecord.action == "auth.locked")).all() == ["auth.locked"]


def test_one_address_spraying_many_usernames_is_refused(engine):
    add_user(engine)
    throttle = Throttle(per_pair=5, per_address=6, per_username=50)
    with frozen_at(T0):
        for i in range(6):
            with pytest.raises(AuthError) as exc:
                login(engine, username=f"user{i}", password="Winter2026!", remote="192.0.2.1", throttle=throttle)
            assert not isinstance(exc.value, AccountLocked)
        with pytest.raises(AccountLocked):
            login(engine, username="li.na", password=PASSWORD, remote="192.0.2.1", throttle=throttle)
        # the same user from elsewhere is not affected
        assert login(engine, username="li.na", password=PASSWORD, remote="192.0.2.2", throttle=throttle)


def test_a_sign_in_killed_while_checking_counts_as_a_failure(engine):
    """A process killed between reserving an attempt and recording its outcome leaves it pending:
    it counts, so killing requests mid-check cannot buy extra guesses."""
    add_user(engine)
    with frozen_at(T0), transaction(engine) as s:
        for _ in range(5):
            s.add(LoginAttempt(username="li.na", user_id=None, at=T0, outcome="pending", remote="10.0.0.1"))
    with frozen_at(T0 + timedelta(minutes=1)), pytest.raises(AccountLocked):
        login(engine, username="li.na", password=PASSWORD, remote="10.0.0.1")


def test_a_disabled_user_cannot_log_in(engine):
    add_user(engine)
    with transaction(engine) as s:
        get_user(s, "li.na").active = False
    with pytest.raises(AuthError, match="disabled"):
        login(engine, username="li.na", password=PASSWORD)


# --- tokens -------------------------------------------------------------------------------------


def test_tokens_are_stored_hashed_and_verify_until_they_expire(engine):
    add_user(engine)
    with frozen_at(T0), transaction(engine) as s:
        issued = issue_token(s, user=get_user(s, "li.na"), kind="session")
    assert issued.expires_at == T0 + timedelta(hours=12)
    with transaction(engine) as s:
        row = s.scalars(select(AuthToken)).one()
        assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
        assert issued.token not in {row.token_hash, row.label}
    with frozen_at(T0 + timedelta(hours=11, minutes=59)), transaction(engine) as s:
        assert verify_token(s, token=issued.token).username == "li.na"
        assert verify_token(s, token=issued.token, kind="session").username == "li.na"
        with pytest.raises(AuthError, match="invalid"):
            verify_token(s, token=issued.token, kind="api")
        with pytest.raises(AuthError, match="invalid"):
            verify_token(s, token=issued.token + "x")
        with pytest.raises(AuthError, match="invalid"):
            verify_token(s, token="")
    with frozen_at(T0 + timedelta(hours=12)), transaction(engine) as s, pytest.raises(AuthError, match="expired"):
        verify_token(s, token=issued.token)


def test_a_revoked_token_is_refused(engine):
    add_user(engine)
    with transaction(engine) as s:
        issued = issue_token(s, user=get_user(s, "li.na"), ttl=timedelta(days=1), label="ci")
        other = issue_token(s, user=get_user(s, "li.na"))
    assert issued.token != other.token
    with transaction(engine) as s:
        assert revoke_token(s, token=issued.token, actor="li.na") is True
        assert revoke_token(s, token=issued.token, actor="li.na") is False
    with transaction(engine) as s:
        with pytest.raises(AuthError, match="revoked"):
            verify_token(s, token=issued.token)
        assert verify_token(s, token=other.token).username == "li.na"
        actions = s.scalars(select(AuditRecord.action).order_by(AuditRecord.seq)).all()
    assert actions[-3:] == ["token.issue", "token.issue", "token.revoke"]


def test_changing_the_password_revokes_every_token(engine):
    add_user(engine)
    with transaction(engine) as s:
        issued = issue_token(s, user=get_user(s, "li.na"))
    with transaction(engine) as s:
        set_password(s, user=get_user(s, "li.na"), password="another long password", actor="admin")
    with transaction(engine) as s, pytest.raises(AuthError, match="revoked"):
        verify_token(s, token=issued.token)
    with pytest.raises(AuthError):
        login(engine, username="li.na", password=PASSWORD)
    assert login(engine, username="li.na", password="another long password").username == "li.na"


def test_tokens_of_a_disabled_user_stop_working(engine):
    add_user(engine)
    with transaction(engine) as s:
        issued = issue_token(s, user=get_user(s, "li.na"))
        get_user(s, "li.na").active = False
    with transaction(engine) as s, pytest.raises(AuthError, match="disabled"):
        verify_token(s, token=issued.token)


# --- scope and reveal ---------------------------------------------------------------------------


def test_case_scope_limits_agents_and_team_leads_to_their_team(engine):
    add_user(engine, "a1", role="agent", team="T1")
    add_user(engine, "a2", role="agent", team="T2")
    add_user(engine, "lead2", role="team_lead", team="T2")
    for role in ("supervisor", "compliance", "admin", "auditor"):
        add_user(engine, role, role=role, team=None)
    with transaction(engine) as s:
        everyone = set(s.scalars(select(User.username)).all())
        t1 = s.scalars(select(Team.id).where(Team.code == "T1")).one()
        for name in everyone:
            user = get_user(s, name)
            seen = set(s.scalars(select(User.username).where(case_scope(user, User.team_id))).all())
            # The default column is the one named team_id.
            assert seen == set(s.scalars(select(User.username).where(case_scope(user))).all())
            if user.role in ("agent", "team_lead"):
                team_ids = set(s.scalars(select(User.team_id).where(User.username.in_(seen))).all())
                assert team_ids == {user.team_id} and name in seen and seen != everyone
            else:
                assert seen == everyone
        assert set(s.scalars(select(User.username).where(User.team_id == t1)).all()) == {"a1"}


def test_case_scope_of_an_agent_without_a_team_sees_nothing(engine):
    add_user(engine, "a1", role="agent", team="T1")
    with transaction(engine) as s:
        orphan = User(username="x", password_hash="-", role="agent", team_id=None)
        assert s.scalars(select(User.username).where(case_scope(orphan, User.team_id))).all() == []


def test_reveal_returns_the_value_and_writes_an_audit_record(engine):
    add_user(engine, "comp", role="compliance", team=None)
    add_user(engine, "a1", role="agent", team="T1")
    with transaction(engine) as s:
        before = s.scalars(select(AuditRecord.seq)).all()
        value = reveal(s, user=get_user(s, "comp"), kind="national_id", value="110105194912310021",
                       subject="customer:C1")
        dialed = reveal(s, user=get_user(s, "a1"), kind="phone", value="13812345678", subject="customer:C1",
                        purpose="dial")
    assert value == "110105194912310021" and dialed == "13812345678"
    with transaction(engine) as s:
        new = s.scalars(select(AuditRecord).where(AuditRecord.seq.not_in(before)).order_by(AuditRecord.seq)).all()
        assert [(r.actor, r.action, r.entity, r.entity_id, r.detail) for r in new] == [
            ("comp", "pii.reveal", "personal_data", "customer:C1",
             {"kind": "national_id", "purpose": "view", "role": "compliance"}),
            ("a1", "pii.reveal", "personal_data", "customer:C1",
             {"kind": "phone", "purpose": "dial", "role": "agent"}),
        ]
        # The value itself never enters the append-only log.
        assert all("110105194912310021" not in str(r.detail) and "13812345678" not in str(r.detail) for r in new)
        assert verify(s) == []


@pytest.mark.parametrize(("role", "kind", "purpose"), [
    ("agent", "national_id", "view"), ("agent", "phone", "view"), ("team_lead", "address", "view"),
    ("supervisor", "email", "view"), ("auditor", "name", "view"), ("auditor", "phone", "dial"),
])
def test_reveal_is_refused_to_roles_the_policy_does_not_allow(engine, role, kind, purpose):
    add_user(engine, "u", role=role, team="T1" if role in ("agent", "team_lead") else None)
    with transaction(engine) as s:
        before = s.scalars(select(AuditRecord.seq)).all()
        with pytest.raises(Forbidden):
            reveal(s, user=get_user(s, "u"), kind=kind, value="secret", subject="customer:C1", purpose=purpose)
        assert s.scalars(select(AuditRecord.seq)).all() == before
