"""``arrears policy whatif``: a proposed pack replayed on a hand-built contact history (both stores),
the history as it would have been, and the forward simulation under a seed."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from arrears.accounts.tables import Account, ContactPoint
from arrears.auth.tables import AuditRecord
from arrears.cases.tables import Interaction, Promise
from arrears.config import get_settings
from arrears.contact.config import load_pack
from arrears.contact.policy_commands import policy_app
from arrears.contact.whatif import (
    StoredContact,
    StoredHistory,
    compare_history,
    complaint_rates,
    forward,
    read_history,
    replay,
)
from arrears.dialler.tables import DiallerCall
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError
from arrears.strategy.config import load_strategy
from tests.auth.factories import add_user
from tests.cases.support import new_case

ROOT = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")
app = typer.Typer()
app.add_typer(policy_app, name="policy")
runner = CliRunner()

PACK = """\
pack: {name}
version: "{version}"
title: {{en: Test pack, zh_CN: 测试规则}}
rules:
  - id: quiet_hours
    kind: quiet_hours
    title: {{en: Quiet hours, zh_CN: 禁止联系时段}}
    source: "test"
    applies_to:
      channels: [call, sms, email, app, visit]
    overridable_by: []
    params: {{allowed_from: "08:00", allowed_until: "{until}", customer_request_may_lift: false}}
  - id: daily_call_limit
    kind: attempt_limit
    title: {{en: Calls a day, zh_CN: 每日拨打次数}}
    source: "test"
    applies_to: {{channels: [call], parties: [debtor]}}
    overridable_by: []
    params: {{max_attempts: {calls}, window_days: {window}, rolling: false, scope: debtor, count_channels: [call]}}
"""


def write_pack(folder: Path, name: str, *, until: str, calls: int = 6, window: int = 1) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(PACK.format(name=name, version="2026.9", until=until, calls=calls, window=window),
                    encoding="utf-8")
    return path


def sh(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-03-``day`` ``hour``:``minute`` Shanghai time."""
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


#: (account, local time, channel, outcome, promise fen or None)
HISTORY = [
    ("ACC-A", sh(1, 21, 30), "call", "no_answer", None),                  # before the window
    ("ACC-A", sh(3, 10, 0), "call", "no_answer", None),
    ("ACC-A", sh(3, 20, 30), "call", "right_party_contact", None),
    ("ACC-A", sh(3, 21, 15), "call", "promise_to_pay", 50_000),          # blocked: RPC, promise 500.00
    ("ACC-A", sh(3, 21, 45), "call", "no_answer", None),                  # blocked
    ("ACC-A", sh(4, 21, 5), "sms", "left_message", None),                 # blocked (sms is in scope)
    ("ACC-A", sh(4, 21, 40), "letter", "left_message", None),             # a letter: quiet hours do not apply
    ("ACC-A", sh(5, 21, 20), "call", "complaint", None),                  # blocked: RPC, a complaint
    ("ACC-B", sh(3, 9, 0), "call", "right_party_contact", None),
    ("ACC-B", sh(3, 20, 59), "call", "refused", None),                    # the last allowed minute
    ("ACC-B", sh(3, 21, 0), "call", "promise_to_pay", None),              # blocked at 21:00 sharp: RPC, promise
    ("ACC-B", sh(6, 21, 30), "call", "no_answer", None),                  # after the window
]


def build_history(engine: Engine) -> None:
    cases = {ref: new_case(engine, ref) for ref in ("ACC-A", "ACC-B")}
    agent = add_user(engine, "li.na")
    with engine.begin() as conn:
        points = {}
        for ref in cases:
            customer = conn.execute(select(Account.customer_id).where(Account.account_ref == ref)).scalar_one()
            points[ref] = conn.execute(insert(ContactPoint).values(
                contact_ref=f"CP-{ref}", customer_id=customer, kind="phone", value="13900000000", owner="debtor",
                verified=True, opted_out=False, created_at=utc_now()).returning(ContactPoint.id)).scalar_one()
        for ref, at, channel, outcome, promise in HISTORY:
            iid = conn.execute(insert(Interaction).values(
                case_id=cases[ref], channel=channel, direction="outbound",
                party="nobody" if outcome == "no_answer" else "debtor", contact_point_id=points[ref],
                started_at=at.astimezone(UTC), outcome=outcome, created_at=utc_now()).returning(Interaction.id)
            ).scalar_one()
            if promise:
                conn.execute(insert(Promise).values(
                    case_id=cases[ref], interaction_id=iid, amount=promise, promised_date=date(2026, 3, 10),
                    created_on=at.date(), grace_days=3, tolerance=1000, created_by="test", created_at=utc_now()))
        # a call dialled at 21:50 whose outcome was never recorded: an attempt all the same (blocked)
        conn.execute(insert(DiallerCall).values(
            call_id="D-1", case_id=cases["ACC-B"], agent_id=agent, contact_point_id=points["ACC-B"], provider="tel",
            status="ended", requested_at=sh(5, 21, 50).astimezone(UTC)))
        # an inbound call at 21:30 is not a contact we made
        conn.execute(insert(Interaction).values(
            case_id=cases["ACC-B"], channel="call", direction="inbound", party="debtor", started_at=sh(4, 21, 30),
            outcome="right_party_contact", created_at=utc_now()))


def test_replay_blocks_exactly_the_contacts_at_21(engine: Engine, tmp_path: Path) -> None:
    build_history(engine)
    current = load_pack(write_pack(tmp_path, "now", until="22:00"))
    proposed = load_pack(write_pack(tmp_path, "stop-at-21", until="21:00"))
    history = read_history(engine, first=date(2026, 3, 2), last=date(2026, 3, 5), bank_tz="Asia/Shanghai")
    assert len(history.contacts) == 11  # in the window, outbound, gated channels, and the dialled call
    report = compare_history(history, current, proposed, first=date(2026, 3, 2), last=date(2026, 3, 5))
    blocked = sorted(datetime.fromisoformat(b["local_time"]).strftime("%d %H:%M %Z")
                     for b in report.blocked)
    assert [datetime.fromisoformat(b["local_time"]).replace(tzinfo=None) for b in sorted(
        report.blocked, key=lambda b: b["at"])] == [
        datetime(2026, 3, 3, 21, 0), datetime(2026, 3, 3, 21, 15), datetime(2026, 3, 3, 21, 45),
        datetime(2026, 3, 4, 21, 5), datetime(2026, 3, 5, 21, 20), datetime(2026, 3, 5, 21, 50)], blocked
    assert [b["dialler_call_id"] is not None for b in report.blocked] == [False] * 5 + [True]
    assert report.blocked_current.contacts == 0
    p = report.blocked_proposed
    # hand count: RPCs promise_to_pay (A), complaint (A), promise_to_pay (B); promises: A's row, B's outcome
    assert (p.contacts, p.right_party, p.promises, p.promised_fen, p.complaints) == (6, 3, 2, 50_000, 1)
    assert report.newly_blocked.contacts == 6 and report.newly_allowed.contacts == 0
    assert dict(report.by_rule) == {"quiet_hours": 6}
    assert dict(report.by_channel) == {"call": 5, "sms": 1}
    assert dict(report.by_hour) == {21: 6}
    # the other way round, the stricter pack in force: the looser one gives the same five back
    back = compare_history(history, proposed, current, first=date(2026, 3, 2), last=date(2026, 3, 5))
    assert back.blocked_proposed.contacts == 0 and back.newly_allowed.contacts == 6


def _contact(n: int, at: datetime, outcome: str = "no_answer") -> StoredContact:
    return StoredContact(interaction_id=n, case_id=1, account_id=1, account_ref="ACC-1", customer_id=1,
                         time_zone="Asia/Shanghai", at=at.astimezone(UTC), channel="call", party="debtor",
                         reached="nobody", outcome=outcome)


def test_blocked_contacts_do_not_count_later(tmp_path: Path) -> None:
    """The history as it would have been: a call the proposed pack blocks at 21:30 did not happen, so
    it does not use up the next day's one call in two days; as it happened, it does."""
    contacts = (_contact(1, sh(3, 21, 30)), _contact(2, sh(4, 10, 0)))
    history = StoredHistory(since=sh(3, 0), until=sh(5, 0), contacts=contacts, earlier={}, holds={},
                            person_holds={}, appointments={})
    proposed = load_pack(write_pack(tmp_path, "strict", until="21:00", calls=1, window=2))
    would = replay(history, proposed, as_it_would_have_been=True)
    did = replay(history, proposed, as_it_would_have_been=False)
    assert [d.allowed for d in would] == [False, True]
    assert [d.allowed for d in did] == [False, False]
    assert [b.rule_id for b in did[1].blocks] == ["daily_call_limit"]
    # contacts before the window count as they happened
    earlier = StoredHistory(since=sh(4, 0), until=sh(5, 0), contacts=contacts[1:], earlier={1: contacts[:1]},
                            holds={}, person_holds={}, appointments={})
    assert [d.allowed for d in replay(earlier, proposed, as_it_would_have_been=True)] == [False]


def test_contacts_with_others_are_replayed_as_reestablishing_contact(tmp_path: Path) -> None:
    path = tmp_path / "parties.yaml"
    path.write_text("""\
pack: parties
version: "1"
title: {en: Parties, zh_CN: 联系对象}
rules:
  - id: debtor_only
    kind: party_purpose
    title: {en: Debtor only, zh_CN: 仅债务人}
    source: "test"
    overridable_by: []
    params: {allowed: {debtor: [collection], emergency_contact: [reestablish_contact]}}
""", encoding="utf-8")
    pack = load_pack(path)
    base = _contact(1, sh(3, 10, 0))
    others = [StoredContact(**{**base.__dict__, "interaction_id": n, "party": party, "reached": "emergency_contact"})
              for n, party in ((2, "emergency_contact"), (3, "third_party"))]
    history = StoredHistory(since=sh(3, 0), until=sh(4, 0), contacts=(base, *others), earlier={}, holds={},
                            person_holds={}, appointments={})
    assert [d.allowed for d in replay(history, pack, as_it_would_have_been=True)] == [True, True, False]


def test_complaint_rates_by_local_hour() -> None:
    contacts = [_contact(i, sh(3, 21, i)) for i in range(9)] + [_contact(9, sh(3, 21, 30), "complaint")]
    contacts += [_contact(10 + i, sh(3, 10, i)) for i in range(10)]
    rates = complaint_rates(contacts, strength=10)
    assert (rates.contacts, rates.complaints, rates.overall) == (20, 1, 0.05)
    assert rates.at(21) == pytest.approx((1 + 10 * 0.05) / 20)
    assert rates.at(10) == pytest.approx(0.5 / 20)
    assert rates.at(3) == pytest.approx(0.05)
    assert complaint_rates([]).overall == 0.0


def test_forward_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    strategies = [load_strategy(ROOT / "strategies" / "early-gentle.yaml")]
    pack = load_pack(write_pack(tmp_path, "p", until="21:00"))
    rates = complaint_rates([_contact(0, sh(3, 21, 0), "complaint"), _contact(1, sh(3, 10, 0))], strength=0)
    runs = [forward(pack, strategies=strategies, days=3, accounts=40, seed=s, start=date(2026, 3, 9), rates=rates)
            for s in (7, 7, 8)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert runs[0].calls > 0 and runs[0].expected_complaints >= 0
    # agents who call until 22:00: the pack that stops at 21:00 blocks the late calls, the other none
    late = {name: forward(load_pack(write_pack(tmp_path, name, until=until)), strategies=strategies, days=3,
                          accounts=40, seed=7, start=date(2026, 3, 9), rates=rates, agent_hours=range(8, 22))
            for name, until in (("now", "22:00"), ("stop-at-21", "21:00"))}
    assert late["now"].contacts_blocked == 0 < late["stop-at-21"].contacts_blocked
    assert late["stop-at-21"].expected_complaints < late["now"].expected_complaints


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Settings of this test only: no store but the one a test names, strategies from the repository."""
    monkeypatch.setenv("ARREARS_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.sqlite'}")
    monkeypatch.setenv("ARREARS_STRATEGY_DIR", str(ROOT / "strategies"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_whatif(store_url: str, tmp_path: Path, settings: None) -> None:
    from arrears.kit.db import make_engine

    engine = make_engine(store_url)
    try:
        build_history(engine)
    finally:
        engine.dispose()
    now = write_pack(tmp_path, "now", until="22:00")
    proposed = write_pack(tmp_path, "stop-at-21", until="21:00")
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    args = ["policy", "whatif", "--pack", str(proposed), "--current", str(now), "--from", "2026-03-02",
            "--to", "2026-03-05", "--store", store_url, "--days", "3", "--accounts", "30", "--seed", "4",
            "--strategy", str(ROOT / "strategies" / "early-gentle.yaml"), "--json", str(out_json),
            "--csv", str(out_csv)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "stop-at-21 2026.9 instead of now 2026.9" in r.stdout
    assert "quiet_hours" in r.stdout and "expected complaints" in r.stdout
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["replay"]["blocked_proposed"] == {"contacts": 6, "right_party_contacts": 3, "promises": 2,
                                                  "promised_fen": 50_000, "complaints": 1}
    assert data["replay"]["blocked_by_local_hour"] == {"21": 6}
    fwd = data["forward"]
    assert fwd["complaint_rate"]["contacts"] == 11 and fwd["complaint_rate"]["complaints"] == 1
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert {"section": "blocked by rule", "item": "quiet_hours", "current": "0", "proposed": "6"} in rows
    assert any(r["section"] == "forward" and r["item"] == "recovered_fen" for r in rows)
    # the same seed gives the same forward numbers
    again = tmp_path / "again.json"
    r = runner.invoke(app, [*args[:-4], "--json", str(again)])
    assert r.exit_code == 0, r.output
    assert json.loads(again.read_text(encoding="utf-8"))["forward"] == fwd
    # --days 0: the history only
    r = runner.invoke(app, [*args[:12], "--days", "0", "--json", str(again)])
    assert r.exit_code == 0, r.output
    assert "forward" not in json.loads(again.read_text(encoding="utf-8")) and "Forward" not in r.stdout
    # without --current: each customer's own pack, with the proposed cn in place of the shipped one
    text = (ROOT / "src" / "arrears" / "contact" / "packs" / "cn.yaml").read_text(encoding="utf-8")
    cn21 = tmp_path / "cn-21.yaml"
    cn21.write_text(text.replace('allowed_until: "22:00"', 'allowed_until: "21:00"', 1), encoding="utf-8")
    r = runner.invoke(app, ["policy", "whatif", "--pack", str(cn21), *args[6:12], "--days", "1", "--accounts", "10",
                            "--strategy", str(ROOT / "strategies" / "early-gentle.yaml"), "--json", str(again)])
    assert r.exit_code == 0, r.output
    assert "instead of each customer's pack" in " ".join(r.stdout.split())
    auto = json.loads(again.read_text(encoding="utf-8"))
    assert auto["replay"]["blocked_proposed"]["contacts"] == 6 and auto["replay"]["blocked_current"]["contacts"] == 0
    assert auto["forward"]["current"]["pack"].startswith("cn ")
    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            audits = session.scalars(select(AuditRecord).where(AuditRecord.action == "policy.whatif")).all()
        assert len(audits) == 4 and audits[0].entity_id == "stop-at-21"
    finally:
        engine.dispose()


def test_cli_bad_pack_names_file_line_and_field(tmp_path: Path, settings: None) -> None:
    bad = write_pack(tmp_path, "bad", until="25:00")
    r = runner.invoke(app, ["policy", "whatif", "--pack", str(bad), "--from", "2026-03-02", "--to", "2026-03-05",
                            "--days", "0"])
    assert r.exit_code == 1
    assert f"{bad}, line 12, field 'rules[0].params.allowed_until'" in " ".join(r.stderr.split())
    r = runner.invoke(app, ["policy", "whatif", "--pack", str(tmp_path / "none.yaml"), "--from", "2026-03-02",
                            "--to", "2026-03-05"])
    assert r.exit_code == 2 and "none.yaml: no such file" in r.stderr
    r = runner.invoke(app, ["policy", "whatif", "--pack", str(bad), "--from", "2026-03-05", "--to", "2026-03-02"])
    assert r.exit_code == 2 and "before --from" in r.stderr
    r = runner.invoke(app, ["policy", "whatif", "--pack", str(write_pack(tmp_path, "ok", until="21:00")),
                            "--from", "2026-03-02", "--to", "2026-03-05", "--agent-hours", "21-08"])
    assert r.exit_code == 1 and "--agent-hours: '21-08' is not FROM-UNTIL" in r.stderr


CONNECTED = """\
pack: three-a-day
version: "1"
title: {en: Three conversations a day, zh_CN: 每日接通三次}
rules:
  - id: daily_connected_limit
    kind: connected_limit
    title: {en: Three connected conversations a day, zh_CN: 每日接通不超过三次}
    source: "test"
    applies_to: {channels: [call], parties: [debtor]}
    overridable_by: []
    params: {max_conversations: 3, window_days: 1, rolling: false, scope: debtor}
  - id: refused_contact
    kind: refused_contact
    title: {en: Refused further contact, zh_CN: 已拒绝再联系}
    source: "test"
    overridable_by: []
"""


def test_three_connected_conversations_a_day_and_a_recorded_refusal(engine: Engine, tmp_path: Path) -> None:
    """Five conversations on one day: the fourth and fifth are lost under three a day (the fourth did
    not happen, so it is not counted against the fifth either: three are); a call to the emergency
    contact after their recorded refusal is blocked under either pack."""
    from arrears.contact.cn_tables import ContactRefusal

    case_id = new_case(engine, "ACC-C")
    with engine.begin() as conn:
        customer = conn.execute(select(Account.customer_id).where(Account.account_ref == "ACC-C")).scalar_one()
        phone, friend = (conn.execute(insert(ContactPoint).values(
            contact_ref=f"CP-C{n}", customer_id=customer, kind="phone", value="13900000000", owner=owner,
            verified=True, opted_out=False, created_at=utc_now()).returning(ContactPoint.id)).scalar_one()
            for n, owner in ((1, "debtor"), (2, "emergency")))
        for hour in (10, 11, 12, 13, 14):
            conn.execute(insert(Interaction).values(
                case_id=case_id, channel="call", direction="outbound", party="debtor", contact_point_id=phone,
                started_at=sh(3, hour).astimezone(UTC), outcome="right_party_contact", created_at=utc_now()))
        conn.execute(insert(Interaction).values(
            case_id=case_id, channel="call", direction="outbound", party="emergency_contact", contact_point_id=friend,
            started_at=sh(4, 15).astimezone(UTC), outcome="third_party", created_at=utc_now()))
        conn.execute(insert(ContactRefusal).values(contact_point_id=friend, refused_at=sh(4, 9).astimezone(UTC),
                                                   recorded_by="test"))
    path = tmp_path / "three.yaml"
    path.write_text(CONNECTED, encoding="utf-8")
    proposed = load_pack(path)
    current = load_pack(write_pack(tmp_path, "now", until="22:00"))
    history = read_history(engine, first=date(2026, 3, 3), last=date(2026, 3, 4), bank_tz="Asia/Shanghai")
    report = compare_history(history, current, proposed, first=date(2026, 3, 3), last=date(2026, 3, 4))
    lost = [(datetime.fromisoformat(b["local_time"]).hour, b["rules"]) for b in report.blocked]
    assert lost == [(13, ["daily_connected_limit"]), (14, ["daily_connected_limit"]), (15, ["refused_contact"])]
    assert report.newly_blocked.contacts == 3 and report.blocked_proposed.right_party == 2


def test_each_customer_keeps_their_own_pack(engine: Engine, tmp_path: Path, settings: None) -> None:
    """Without --current, a proposed ``cn`` takes the place of ``cn`` for the customers judged by it;
    a New York customer stays under us-reg-f and the New York City layer."""
    from arrears.accounts.tables import Customer
    from arrears.contact.whatif import customer_pack, in_place_of

    build_history(engine)
    case_id = new_case(engine, "ACC-NY")
    ny = ZoneInfo("America/New_York")
    with engine.begin() as conn:
        customer = conn.execute(select(Account.customer_id).where(Account.account_ref == "ACC-NY")).scalar_one()
        conn.execute(Customer.__table__.update().where(Customer.id == customer).values(
            jurisdiction="US-NY-NYC", time_zone="America/New_York"))
        conn.execute(insert(Interaction).values(
            case_id=case_id, channel="call", direction="outbound", party="debtor",
            started_at=datetime(2026, 3, 3, 20, 30, tzinfo=ny).astimezone(UTC), outcome="no_answer",
            created_at=utc_now()))
    text = (ROOT / "src" / "arrears" / "contact" / "packs" / "cn.yaml").read_text(encoding="utf-8")
    path = tmp_path / "cn-stop-at-20.yaml"
    path.write_text(text.replace('allowed_until: "22:00"', 'allowed_until: "20:00"', 1), encoding="utf-8")
    proposed = load_pack(path)
    history = read_history(engine, first=date(2026, 3, 2), last=date(2026, 3, 5), bank_tz="Asia/Shanghai")
    mine = compare_history(history, customer_pack, in_place_of(proposed), first=date(2026, 3, 2),
                           last=date(2026, 3, 5))
    assert mine.current == "each customer's pack" and mine.blocked_current.contacts == 0
    blocked_cases = {b["case_id"] for b in mine.blocked}
    assert case_id not in blocked_cases and len(blocked_cases) == 2
    # one pack for every contact: the New York call at 20:30 is judged by cn's hours too
    everyone = compare_history(history, customer_pack, proposed, first=date(2026, 3, 2), last=date(2026, 3, 5))
    assert case_id in {b["case_id"] for b in everyone.blocked}
    with pytest.raises(ArrearsError, match="takes the place of no pack in use"):
        in_place_of(load_pack(write_pack(tmp_path, "stop-at-21", until="21:00")))
