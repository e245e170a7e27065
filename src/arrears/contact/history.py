"""Reading the interaction log into best-time counts: calls and right-party contacts per customer per
customer-local hour of the week (see :mod:`arrears.contact.besttime`).

What counts: outbound calls (``channel = 'call'``, ``direction = 'outbound'``) made to reach the debtor —
to one of the debtor's own contact points, or with no contact point recorded. Calls to an emergency
contact's or anyone else's number are not attempts to reach the debtor at that hour and are left out.
An attempt is a right-party contact (RPC) when its outcome is one of
:data:`arrears.contact.besttime.RPC_OUTCOMES` (``right_party_contact``, ``promise_to_pay``, ``refused``,
``dispute``, ``hardship``, ``callback_requested``, ``complaint``): each means the debtor was on the line.

The store keeps ``started_at`` in UTC; the same SQL on SQLite and PostgreSQL reads it as epoch seconds
(:class:`~arrears.kit.arrowdb.ArrowReader`), and the local hour of the week is computed per customer zone
with Arrow's time-zone database (:func:`~arrears.contact.besttime.local_slots`), so daylight-saving days
put every call in the hour the customer's clock showed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.accounts.tables import Hold as LedgerHold
from arrears.auth.tables import User
from arrears.cases.model import OPEN_STATES
from arrears.cases.tables import (
    BUCKET_PROPENSITY_BP,
    OPEN_STATES_SQL,
    UNKNOWN_BUCKET_PROPENSITY_BP,
    Case,
    Interaction,
)
from arrears.cases.tables import Appointment as CaseAppointment
from arrears.contact.besttime import RPC_OUTCOMES, SlotCounts, local_slots, segment_key
from arrears.contact.plan import DueCase
from arrears.contact.policy import Appointment, Attempt, Hold, local_instant
from arrears.contact.repository import PERSON_HOLD_KINDS, wishes_by_customer
from arrears.kit.arrowdb import ArrowReader, epoch_days
from arrears.kit.errors import ArrearsError

_CALLS_SCHEMA = pa.schema([("customer_id", pa.int64()), ("time_zone", pa.string()), ("at", pa.int64()),
                           ("rpc", pa.int64())])
_PROFILE_SCHEMA = pa.schema([("customer_id", pa.int64()), ("time_zone", pa.string()), ("birth_date", pa.date32()),
                             ("bucket", pa.string())])


def _epoch_seconds(column: str, dialect: str) -> str:
    if dialect == "sqlite":
        return f"CAST(strftime('%s', {column}) AS INTEGER)"
    return f"CAST(extract(epoch FROM {column}) AS BIGINT)"


def _ts(value: datetime, dialect: str) -> str:
    if value.tzinfo is None:
        raise ValueError("history bounds must be timezone-aware")
    return str(int(value.timestamp()))


def calls_sql(dialect: str, *, since: datetime | None = None, until: datetime | None = None,
              customer_ids: Sequence[int] | None = None) -> str:
    """One row per counted call: customer id, customer zone, epoch seconds, 1 for an RPC."""
    at = _epoch_seconds("i.started_at", dialect)
    rpc = ", ".join(f"'{o}'" for o in sorted(RPC_OUTCOMES))
    where = ["i.channel = 'call'", "i.direction = 'outbound'",
             "(i.contact_point_id IS NULL OR (cp.owner = 'debtor' AND cp.customer_id = cu.id))"]
    if since is not None:
        where.append(f"{at} >= {_ts(since, dialect)}")
    if until is not None:
        where.append(f"{at} < {_ts(until, dialect)}")
    if customer_ids is not None:
        where.append(f"cu.id IN ({', '.join(str(int(c)) for c in customer_ids) or 'NULL'})")
    return f"""
        SELECT cu.id, cu.time_zone, {at}, CASE WHEN i.outcome IN ({rpc}) THEN 1 ELSE 0 END
        FROM interactions i
        JOIN cases c ON c.id = i.case_id
        JOIN accounts a ON a.id = c.account_id
        JOIN customers cu ON cu.id = a.customer_id
        LEFT JOIN contact_points cp ON cp.id = i.contact_point_id
        WHERE {' AND '.join(where)}
    """


def slot_counts(calls: pa.Table, universe: Sequence[int] | np.ndarray | None = None) -> SlotCounts:
    """Aggregate call rows (customer_id, time_zone, at epoch seconds, rpc 0/1) into :class:`SlotCounts`."""
    ids = calls.column("customer_id").to_numpy(zero_copy_only=False).astype(np.int64)
    zones = np.asarray(calls.column("time_zone").to_pylist(), dtype=object)
    at = calls.column("at").to_numpy(zero_copy_only=False).astype(np.int64)
    rpc = calls.column("rpc").to_numpy(zero_copy_only=False).astype(np.int64)
    slots = np.zeros(len(ids), dtype=np.int64)
    for tz in set(zones.tolist()):
        mask = zones == tz
        slots[mask] = local_slots(at[mask], tz)
    return SlotCounts.from_events(ids, slots, rpc, universe=universe)


def read_slot_counts(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
                     customer_ids: Sequence[int] | None = None, include: Sequence[int] = ()) -> SlotCounts:
    """Calls and RPCs per customer per local hour of the week, from calls started in [since, until).

    With ``customer_ids``, exactly those customers (zero rows for those never called); otherwise every
    customer with at least one counted call, plus the customers in ``include``.
    """
    with ArrowReader(engine) as reader:
        calls = reader.read(calls_sql(reader.dialect, since=since, until=until, customer_ids=customer_ids),
                            _CALLS_SCHEMA)
    universe = list(customer_ids) if customer_ids is not None else list(include)
    return slot_counts(calls, universe=universe)


@dataclass(frozen=True)
class CustomerProfile:
    customer_id: int
    time_zone: str
    birth_date: date | None
    #: the bucket of the customer's worst open case (None without an open case)
    bucket: str | None

    def segment(self, on: date) -> str:
        return segment_key(self.bucket, self.birth_date, on)


_BUCKET_ORDER = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7+")


def _worse(a: str | None, b: str | None) -> str | None:
    if a is None or b is None:
        return a or b
    rank = {k: i for i, k in enumerate(_BUCKET_ORDER)}
    return a if rank.get(a, -1) >= rank.get(b, -1) else b


def read_profiles(engine: Engine, customer_ids: Sequence[int] | None = None) -> dict[int, CustomerProfile]:
    """Zone, birth date and worst open bucket of customers (all customers when ``customer_ids`` is None)."""
    with ArrowReader(engine) as reader:
        d = reader.dialect
        where = "" if customer_ids is None else \
            f"WHERE cu.id IN ({', '.join(str(int(c)) for c in customer_ids) or 'NULL'})"
        table = reader.read(f"""
            SELECT cu.id, cu.time_zone, {epoch_days('cu.birth_date', d)}, c.bucket
            FROM customers cu
            LEFT JOIN accounts a ON a.customer_id = cu.id
            LEFT JOIN cases c ON c.account_id = a.id AND c.{OPEN_STATES_SQL}
            {where}
        """, _PROFILE_SCHEMA)
    out: dict[int, CustomerProfile] = {}
    for cid, tz, born, bucket in zip(*(table.column(i).to_pylist() for i in range(4))):
        seen = out.get(cid)
        out[cid] = CustomerProfile(cid, tz, born, _worse(seen.bucket if seen else None, bucket))
    return out


# -- the day's due cases and agents (for ``arrears contact plan``) ------------------------------------


def _phones(session: Session, customer_ids: Sequence[int]) -> dict[int, tuple[int, bool]]:
    """Each customer's phone to dial: (contact point id, opted out); verified and not opted out first."""
    out: dict[int, tuple[int, bool]] = {}
    best: dict[int, tuple[bool, bool, int]] = {}
    for part in _chunks(customer_ids):
        rows = session.execute(
            select(ContactPoint.customer_id, ContactPoint.id, ContactPoint.verified, ContactPoint.opted_out)
            .where(ContactPoint.customer_id.in_(part), ContactPoint.kind == "phone", ContactPoint.owner == "debtor")
        ).all()
        for cid, pid, verified, opted_out in rows:
            rank = (bool(opted_out), not verified, pid)
            if cid not in best or rank < best[cid]:
                best[cid] = rank
                out[cid] = (pid, bool(opted_out))
    return out


def _chunks(ids: Sequence[int], size: int = 5_000) -> list[list[int]]:
    ids = list(ids)
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def read_due_cases(engine: Engine, *, day: date, bank_tz: str, history_days: int = 8) -> list[DueCase]:
    """Open cases due a call on ``day``: open state, contact not suppressed (a promise being waited for,
    a hold review pending — :func:`arrears.cases.service.contact_status`), with the facts the gate needs:
    the debtor's phone, active holds, call attempts of the last ``history_days`` days, today's appointment.

    Weight: balance x propensity to pay (the case's own, else the bucket's default), as the work queue.
    """
    from arrears.cases.repository import contact_suppressed_cases

    zone = ZoneInfo(bank_tz)
    day_start = local_instant(zone, day)
    day_end = local_instant(zone, day + timedelta(days=1))
    with Session(engine) as session:
        rows = session.execute(
            select(Case.id, Case.team_id, Case.balance, Case.propensity_bp, Case.bucket, Account.id,
                   Account.account_ref, Customer.id, Customer.time_zone, Account.product, Customer.jurisdiction)
            .join(Account, Account.id == Case.account_id).join(Customer, Customer.id == Account.customer_id)
            .where(Case.status.in_(OPEN_STATES)).order_by(Case.id)
        ).all()
        suppressed = contact_suppressed_cases(session, [r[0] for r in rows], on=day)
        rows = [r for r in rows if r[0] not in suppressed]
        phones = _phones(session, sorted({r[7] for r in rows}))
        account_ids = [r[5] for r in rows]
        case_ids = [r[0] for r in rows]
        customer_ids = sorted({r[7] for r in rows})
        holds: dict[int, list[Hold]] = {}
        person_holds: dict[int, list[tuple[int, Hold]]] = {}
        attempts: dict[int, list[Attempt]] = {}
        appointments: dict[int, Appointment] = {}

        def hold(kind: str, start: date, end: date | None) -> Hold:
            return Hold(kind, local_instant(zone, start), None if end is None else
                        local_instant(zone, end + timedelta(days=1)))

        in_force = (LedgerHold.start_date <= day, or_(LedgerHold.end_date.is_(None), LedgerHold.end_date >= day))
        for part in _chunks(account_ids):
            for acc, kind, start, end in session.execute(
                    select(LedgerHold.account_id, LedgerHold.kind, LedgerHold.start_date, LedgerHold.end_date)
                    .where(LedgerHold.account_id.in_(part), *in_force)):
                holds.setdefault(acc, []).append(hold(kind, start, end))
        since = day_start - timedelta(days=history_days)
        # one contact budget per person: the calls on every account of the customer (as the gate reads
        # them, :func:`arrears.contact.repository.customer_interactions`), and the person's holds
        for part in _chunks(customer_ids):
            for cust, acc, kind, start, end in session.execute(
                    select(Account.customer_id, LedgerHold.account_id, LedgerHold.kind, LedgerHold.start_date,
                           LedgerHold.end_date).join(Account, Account.id == LedgerHold.account_id)
                    .where(Account.customer_id.in_(part), LedgerHold.kind.in_(PERSON_HOLD_KINDS), *in_force)):
                person_holds.setdefault(cust, []).append((acc, hold(kind, start, end)))
            for cust, ref, at, outcome in session.execute(
                    select(Account.customer_id, Account.account_ref, Interaction.started_at, Interaction.outcome)
                    .join(Case, Case.id == Interaction.case_id).join(Account, Account.id == Case.account_id)
                    .where(Account.customer_id.in_(part), Interaction.channel == "call",
                           Interaction.direction == "outbound", Interaction.started_at >= since,
                           Interaction.started_at < day_end)):
                attempts.setdefault(cust, []).append(Attempt(at=at, conversation=outcome in RPC_OUTCOMES,
                                                             account_id=ref))
        for part in _chunks(case_ids):
            for cid, start, end in session.execute(
                    select(CaseAppointment.case_id, CaseAppointment.window_start, CaseAppointment.window_end)
                    .where(CaseAppointment.case_id.in_(part), CaseAppointment.status == "scheduled",
                           CaseAppointment.window_start < day_end, CaseAppointment.window_end > day_start)
                    .order_by(CaseAppointment.window_start)):
                appointments.setdefault(cid, Appointment(start, end))
        wishes = wishes_by_customer(session, customer_ids)
    out: list[DueCase] = []
    for case_id, team_id, balance, propensity, bucket, account_id, ref, customer_id, tz, product, where in rows:
        phone = phones.get(customer_id)
        bp = propensity if propensity is not None else BUCKET_PROPENSITY_BP.get(bucket, UNKNOWN_BUCKET_PROPENSITY_BP)
        out.append(DueCase(
            case_id=case_id, account_ref=ref, customer_id=customer_id, time_zone=tz,
            contact_point_id=phone[0] if phone else None, team_id=team_id, weight=max(balance, 0) * bp,
            opted_out=phone[1] if phone else False,
            holds=(*holds.get(account_id, ()), *(h for acc, h in person_holds.get(customer_id, ()) if acc != account_id)),
            attempts=tuple(sorted(attempts.get(customer_id, ()), key=lambda a: a.at)),
            appointment=appointments.get(case_id), wishes=wishes.get(customer_id), product=product,
            jurisdiction=where))
    return out


@dataclass(frozen=True)
class AgentRow:
    user_id: int
    username: str
    team_id: int | None


def read_agents(engine: Engine) -> list[AgentRow]:
    """Active users with the agent role, with their team."""
    with Session(engine) as session:
        rows = session.execute(select(User.id, User.username, User.team_id)
                               .where(User.role == "agent", User.active.is_(True)).order_by(User.id)).all()
    return [AgentRow(*r) for r in rows]


def account_customer(engine: Engine, ref_or_id: str) -> tuple[int, str, str, int | None]:
    """(customer id, zone, account ref, open case id) of an account given by the bank's id or the store's id."""
    with Session(engine) as session:
        cond = Account.account_ref == ref_or_id
        if ref_or_id.isdigit():
            cond = or_(cond, Account.id == int(ref_or_id))
        row = session.execute(select(Account.id, Account.account_ref, Customer.id, Customer.time_zone)
                              .join(Customer, Customer.id == Account.customer_id).where(cond)).first()
        if row is None:
            raise ArrearsError(f"no account {ref_or_id!r}")
        case_id = session.execute(select(Case.id).where(Case.account_id == row[0], Case.status.in_(OPEN_STATES))
                                  ).scalar_one_or_none()
    return row[2], row[3], row[1], case_id


def scheduled_appointments(engine: Engine, case_id: int, *, after: datetime) -> list[tuple[datetime, datetime]]:
    with Session(engine) as session:
        rows = session.execute(select(CaseAppointment.window_start, CaseAppointment.window_end)
                               .where(CaseAppointment.case_id == case_id, CaseAppointment.status == "scheduled",
                                      CaseAppointment.window_end > after)
                               .order_by(CaseAppointment.window_start)).all()
    return [(a, b) for a, b in rows]
