"""What the cardholder does on their page besides paying and choosing a plan (docs/self-service.md):
promise a date, book a call-back (预约), tell us (a dispute, hardship or a complaint), and set their
contact preferences.

Every action is one plain form (no JavaScript), posted with the page's CSRF token by a verified
visit, validated with a message naming the field (nothing written on a refusal), recorded with
:func:`arrears.portal.service.record_self_service` (an inbound ``self_service`` interaction on the
account's case, its hold if the outcome places one, an audit record ``portal.<action>``), then
answered with a redirect to a page that says what happens next (POST → 303 → GET).

The call-back windows offered are those in which the compliance gate would allow a recorded call to
the customer (asked, per window, with the customer's own contact preferences) and in which the case's
owner has fewer than ``ARREARS_PORTAL_CALLBACKS_PER_SLOT`` call-backs already booked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.auth.model import sees_all_teams
from arrears.auth.tables import User
from arrears.cases.service import business_date_of, record_promise, schedule_appointment
from arrears.cases.tables import Appointment, Case, Interaction
from arrears.config import Settings
from arrears.contact import repository as contact_repo
from arrears.contact.policy import STOPPABLE_CHANNELS, PolicyPack, gate, local_instant, zone
from arrears.contact.service import candidate_for_case, pack_for_case
from arrears.contact.tables import ContactPreference
from arrears.kit.clock import utc_now
from arrears.kit.db import transaction, write_first
from arrears.kit.money import to_fen
from arrears.portal.pages import csrf_ok, expired_page, link_path, open_visit, portal_page, to_start
from arrears.portal.service import case_of, case_rules, overview, record_self_service
from arrears.portal.tables import PortalLink
from arrears.web.i18n import N_
from arrears.web.render import gettext, settings_of

router = APIRouter(include_in_schema=False)

#: The longest free text a customer may send with "Tell us" (characters).
TELL_MAX = 1000
#: What a customer may tell us: each is the agents' outcome of the same name (same holds, same reviews).
TELL_KINDS = ("dispute", "hardship", "complaint")
#: Actor of everything the cardholder does.
CARDHOLDER = "cardholder"
#: Weekday codes in the preferences form, Monday first (``day`` values 0 … 6).
DAY_COUNT = 7


def _engine(request: Request):  # type: ignore[no-untyped-def]
    return write_first(request.app.state.engine)


def _redirect(token: str, rest: str) -> Response:
    return RedirectResponse(link_path(token, rest), status_code=303)


# -- promise a date ------------------------------------------------------------------------------------

def promise_days(settings: Settings) -> int:
    """How far ahead a customer may promise to pay (``ARREARS_PORTAL_PROMISE_MAX_DAYS``)."""
    return settings.portal_promise_max_days


@router.get("/p/{token}/promise")
def promise_form(request: Request, token: str, saved: str = "") -> Response:
    settings = settings_of(request)
    with transaction(_engine(request)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        o = overview(session, link=link, time_zone=settings.timezone)
        has_case = case_of(session, link) is not None
    today = business_date_of(utc_now(), settings.timezone)
    return portal_page(request, "portal_promise.html", token, o=o, saved=bool(saved), has_case=has_case,
                       today=today, last_day=today + timedelta(days=promise_days(settings)),
                       amount=_yuan_text(o.amount_past_due), promised_date="", errors={})


def _yuan_text(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}" if fen > 0 else ""


def _parse_amount(text: str) -> int | None:
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("￥", "")
    if not cleaned or len(cleaned) > 15 or not all(c.isdigit() or c == "." for c in cleaned) \
            or cleaned.count(".") > 1 or (("." in cleaned) and len(cleaned.split(".")[1]) > 2):
        return None
    try:
        return to_fen(cleaned)
    except ValueError:
        return None


@router.post("/p/{token}/promise")
def promise_post(
    request: Request, token: str,
    amount: Annotated[str, Form(max_length=20)] = "",
    promised_date: Annotated[str, Form(max_length=10)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    settings = settings_of(request)
    today = business_date_of(utc_now(), settings.timezone)
    last_day = today + timedelta(days=promise_days(settings))
    errors: dict[str, str] = {}
    fen = _parse_amount(amount)
    if fen is None or fen <= 0:
        errors["amount"] = gettext(request, N_("Amount: enter an amount in yuan, for example 1234.50."))
    elif fen > 10_000_000_000:
        errors["amount"] = gettext(request, N_("Amount: this amount is too large."))
    day: date | None = None
    try:
        day = date.fromisoformat(promised_date.strip()) if len(promised_date.strip()) == 10 else None
    except ValueError:
        day = None
    if day is None:
        errors["promised_date"] = gettext(request, N_("Date: choose the day you will pay."))
    elif not today <= day <= last_day:
        errors["promised_date"] = gettext(
            request, N_("Date: choose a day from today to %(last)s.")) % {"last": last_day.isoformat()}
    with transaction(_engine(request)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        case = case_of(session, link)
        if case is None:
            errors["form"] = gettext(request, N_("This cannot be done on this page. Please call us."))
        if errors:
            o = overview(session, link=link, time_zone=settings.timezone)
        else:
            assert fen is not None and day is not None and case is not None
            recorded = record_self_service(session, link=link, outcome="promise_to_pay", action="promise",
                                           detail={"amount": fen, "promised_date": day.isoformat()})
            record_promise(session, case_id=case.id, amount=fen, promised_date=day, created_by=CARDHOLDER,
                           rules=case_rules(), created_on=today,
                           interaction_id=recorded.interaction.id if recorded is not None else None)
    if errors:
        return portal_page(request, "portal_promise.html", token, status_code=422, o=o, saved=False,
                           has_case=case is not None, today=today, last_day=last_day, amount=amount[:20],
                           promised_date=promised_date[:10], errors=errors)
    return _redirect(token, "/promise?saved=1")


# -- book a call-back -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Slot:
    """A call-back window [start, end) offered to the customer."""

    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return self.start.strftime("%Y%m%dT%H%MZ")


def callback_owner(session: Session, case: Case, *, now: datetime) -> User | None:
    """Who calls the customer back: the first active user able to take the case from their queue
    (in the case's team, or seeing every team) among

    1. the user holding the case (``held_by``: the live lease, or the last one not released);
    2. the agent who last recorded an interaction on the case;
    3. the team lead of the case's team (the longest-serving, by user id).

    None when nobody qualifies (the page then asks the customer to call)."""
    def fits(user: User | None) -> bool:
        return (user is not None and user.active and (sees_all_teams(user.role)
                                                      or (case.team_id is not None and user.team_id == case.team_id)))

    if case.held_by is not None:
        holder = session.get(User, case.held_by)
        if fits(holder):
            return holder
    last = session.scalars(
        select(User).join(Interaction, Interaction.agent_id == User.id)
        .where(Interaction.case_id == case.id, Interaction.started_at <= now)
        .order_by(Interaction.started_at.desc(), Interaction.id.desc()).limit(1)).first()
    if fits(last):
        return last
    if case.team_id is None:
        return None
    return session.scalars(
        select(User).where(User.team_id == case.team_id, User.role == "team_lead", User.active.is_(True))
        .order_by(User.id).limit(1)).first()


def _debtor_phone(session: Session, account_id: int) -> ContactPoint | None:
    return session.scalars(
        select(ContactPoint).join(Account, Account.customer_id == ContactPoint.customer_id)
        .where(Account.id == account_id, ContactPoint.kind == "phone", ContactPoint.owner == "debtor",
               ContactPoint.opted_out.is_(False))
        .order_by(ContactPoint.verified.desc(), ContactPoint.id).limit(1)).first()


def _booked(session: Session, owner_id: int, first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
    return [(a, b) for a, b in session.execute(
        select(Appointment.window_start, Appointment.window_end)
        .where(Appointment.owner_id == owner_id, Appointment.status == "scheduled",
               Appointment.window_end > first, Appointment.window_start < last)).all()]


def offered_slots(
    session: Session, *, case: Case, owner_id: int, now: datetime, settings: Settings,
    pack: PolicyPack | None = None,
) -> list[Slot]:
    """The call-back windows to offer: slots of ``ARREARS_PORTAL_CALLBACK_SLOT_MINUTES`` on the
    customer's clock, from the next slot boundary after ``now`` for ``ARREARS_PORTAL_CALLBACK_DAYS``
    days, in which the gate allows a recorded collection call to the debtor at the window's first
    and last second (every rule of the pack and the customer's own preferences; no appointment
    assumed), and in which the owner has fewer than ``ARREARS_PORTAL_CALLBACKS_PER_SLOT`` scheduled
    call-backs overlapping the window."""
    phone = _debtor_phone(session, case.account_id)
    if phone is None:
        return []
    pack = pack or pack_for_case(contact_repo.case_facts(session, case.id))
    base = candidate_for_case(session, case_id=case.id, channel="call", party="debtor", purpose="collection",
                              at=now, contact_point_id=phone.id, has_recording=True)
    base = replace(base, appointment=None)
    tz = zone(base.tz)
    step = settings.portal_callback_slot_minutes * 60
    horizon = now + timedelta(days=settings.portal_callback_days)
    booked = _booked(session, owner_id, now, horizon + timedelta(seconds=step))
    local = now.astimezone(tz)
    day = local.date()
    seconds = (local.hour * 3600 + local.minute * 60 + local.second) // step * step + step
    out: list[Slot] = []
    while True:
        if seconds >= 86400:
            day, seconds = day + timedelta(days=1), seconds - 86400
        start = local_instant(tz, day, seconds)
        if start >= horizon:
            break
        end = local_instant(tz, day, seconds + step) if seconds + step < 86400 else \
            local_instant(tz, day + timedelta(days=1), seconds + step - 86400)
        seconds += step
        if end <= start or start <= now:
            continue  # a wall-clock gap (clocks turned forward)
        taken = sum(1 for a, b in booked if a < end and b > start)
        if taken >= settings.portal_callbacks_per_slot:
            continue
        if all(gate(base.at_time(t), pack).allowed for t in (start, end - timedelta(seconds=1))):
            out.append(Slot(start, end))
    return out


def _lock_owner(session: Session, owner_id: int) -> None:
    """Serialise bookings for one owner, so two customers cannot both take the last place in a slot
    (SQLite: the visit's transaction already holds the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(User.id).where(User.id == owner_id).with_for_update())


@dataclass(frozen=True)
class _CallbackState:
    case: Case | None
    owner: User | None
    slots: Sequence[Slot]
    upcoming: Appointment | None
    tz: str


def _callback_state(session: Session, link: PortalLink, settings: Settings, now: datetime) -> _CallbackState:
    case = case_of(session, link)
    owner = callback_owner(session, case, now=now) if case is not None and case.closed_on is None else None
    slots = offered_slots(session, case=case, owner_id=owner.id, now=now, settings=settings) \
        if case is not None and owner is not None else []
    upcoming = session.scalars(
        select(Appointment).where(Appointment.case_id == case.id, Appointment.status == "scheduled",
                                  Appointment.window_end > now, Appointment.created_by == CARDHOLDER)
        .order_by(Appointment.window_start).limit(1)).first() if case is not None else None
    account = session.get(Account, link.account_id)
    assert account is not None
    customer = session.get(Customer, account.customer_id)
    tz = (customer.time_zone if customer is not None else None) or settings.timezone
    return _CallbackState(case, owner, slots, upcoming, tz)


def _slot_days(slots: Sequence[Slot], tz: str) -> list[tuple[date, list[Slot]]]:
    days: dict[date, list[Slot]] = {}
    for s in slots:
        days.setdefault(s.start.astimezone(zone(tz)).date(), []).append(s)
    return list(days.items())


def _day_of(state: _CallbackState) -> date | None:
    return state.upcoming.window_start.astimezone(zone(state.tz)).date() if state.upcoming is not None else None


def _shown_day(days: list[tuple[date, list[Slot]]], wanted: str, chosen: str = "") -> date | None:
    """The day whose windows the page lists: the one asked for (``?day=``), else the chosen slot's,
    else the first day with a free window (one day at a time keeps the page short on a phone)."""
    for day, slots in days:
        if day.isoformat() == wanted.strip() or (chosen and any(s.key == chosen for s in slots)):
            return day
    return days[0][0] if days else None


@router.get("/p/{token}/callback")
def callback_form(request: Request, token: str, saved: str = "", day: str = "") -> Response:
    settings = settings_of(request)
    now = utc_now()
    with transaction(_engine(request)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        state = _callback_state(session, link, settings, now)
    days = _slot_days(state.slots, state.tz)
    return portal_page(request, "portal_callback.html", token, days=days, shown=_shown_day(days, day[:10]),
                       tz=state.tz, upcoming=state.upcoming, upcoming_day=_day_of(state), saved=bool(saved), errors={},
                       chosen="",
                       service_phone=settings.bank_service_phone, slot_minutes=settings.portal_callback_slot_minutes)


@router.post("/p/{token}/callback")
def callback_post(
    request: Request, token: str,
    slot: Annotated[str, Form(max_length=40)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    settings = settings_of(request)
    now = utc_now()
    with transaction(_engine(request)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        case = case_of(session, link)
        owner = callback_owner(session, case, now=now) if case is not None and case.closed_on is None else None
        if owner is not None:
            _lock_owner(session, owner.id)
        state = _callback_state(session, link, settings, now)
        chosen = next((s for s in state.slots if s.key == slot.strip()), None)
        if chosen is not None and state.case is not None and state.owner is not None:
            appointment = schedule_appointment(
                session, case_id=state.case.id, owner_id=state.owner.id, window_start=chosen.start,
                window_end=chosen.end, created_by=CARDHOLDER, agreed_via="portal",
                notes="booked by the customer on their page: their consent to be called in this window")
            record_self_service(session, link=link, outcome="callback_requested", action="callback",
                                detail={"appointment_id": appointment.id, "owner_id": state.owner.id,
                                        "window_start": chosen.start.isoformat(),
                                        "window_end": chosen.end.isoformat()})
    if chosen is None:
        error = gettext(request, N_("Time: choose one of the times shown.")) if not slot.strip() else gettext(
            request, N_("Time: that time is no longer free. Please choose another."))
        return portal_page(request, "portal_callback.html", token, status_code=422,
                           days=_slot_days(state.slots, state.tz),
                           shown=_shown_day(_slot_days(state.slots, state.tz), "", slot.strip()[:40]),
                           tz=state.tz, upcoming=state.upcoming,
                           upcoming_day=_day_of(state), saved=False,
                           errors={"slot": error}, chosen=slot[:40], service_phone=settings.bank_service_phone,
                           slot_minutes=settings.portal_callback_slot_minutes)
    return _redirect(token, "/callback?saved=1")


# -- tell us ---------------------------------------------------------------------------------------------

@router.get("/p/{token}/tell")
def tell_form(request: Request, token: str, sent: str = "") -> Response:
    with transaction(_engine(request)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
    return portal_page(request, "portal_tell.html", token, sent=sent if sent in TELL_KINDS else "", kind="",
                       text="", errors={}, max_length=TELL_MAX,
                       service_phone=settings_of(request).bank_service_phone)


def _clean_text(text: str) -> str | None:
    """The message as stored (line ends normalised), or None when it holds control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in text):
        return None
    return text


@router.post("/p/{token}/tell")
def tell_post(
    request: Request, token: str,
    kind: Annotated[str, Form(max_length=20)] = "",
    text: Annotated[str, Form(max_length=TELL_MAX * 2)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    errors: dict[str, str] = {}
    if kind not in TELL_KINDS:
        errors["kind"] = gettext(request, N_("What it is about: choose one."))
    cleaned = _clean_text(text)
    if cleaned is None:
        errors["text"] = gettext(request, N_("Your message: please use ordinary text only."))
    elif not cleaned:
        errors["text"] = gettext(request, N_("Your message: please tell us in a few words."))
    elif len(cleaned) > TELL_MAX:
        errors["text"] = gettext(request, N_("Your message: at most %(n)d characters, please.")) % {"n": TELL_MAX}
    with transaction(_engine(request)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        if not errors and case_of(session, link) is None:
            errors["form"] = gettext(request, N_("This cannot be done on this page. Please call us."))
        if not errors:
            assert cleaned is not None
            record_self_service(session, link=link, outcome=kind, action="tell",
                                detail={"kind": kind, "characters": len(cleaned)}, notes=cleaned)
    if errors:
        return portal_page(request, "portal_tell.html", token, status_code=422, sent="", kind=kind[:20],
                           text=text[:TELL_MAX * 2], errors=errors, max_length=TELL_MAX,
                           service_phone=settings_of(request).bank_service_phone)
    return _redirect(token, f"/tell?sent={kind}")


# -- contact preferences -------------------------------------------------------------------------------

#: The times offered for the preferred hours (every half hour).
HALF_HOURS = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30))
CHANNEL_CHOICES = STOPPABLE_CHANNELS


def _prefs_row(session: Session, link: PortalLink) -> ContactPreference | None:
    account = session.get(Account, link.account_id)
    assert account is not None
    return session.scalars(select(ContactPreference)
                           .where(ContactPreference.customer_id == account.customer_id)).one_or_none()


def _prefs_view(row: ContactPreference | None) -> dict[str, object]:
    if row is None:
        return {"window_from": "", "window_to": "", "days": [], "preferred_channel": "", "stop": []}
    return {
        "window_from": row.window_start.strftime("%H:%M") if row.window_start else "",
        "window_to": row.window_end.strftime("%H:%M") if row.window_end else "",
        "days": [str(i) for i, f in enumerate(row.days or "") if f == "1"],
        "preferred_channel": row.preferred_channel or "",
        "stop": [c for c in (row.stopped_channels or "").split(",") if c],
    }


@router.get("/p/{token}/preferences")
def preferences_form(request: Request, token: str, saved: str = "") -> Response:
    with transaction(_engine(request)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        view = _prefs_view(_prefs_row(session, link))
    return portal_page(request, "portal_preferences.html", token, v=view, saved=bool(saved), errors={},
                       times=HALF_HOURS, channels=CHANNEL_CHOICES)


def _hhmm(text: str) -> time | None:
    text = text.strip()
    if len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        return None
    h, m = int(text[:2]), int(text[3:])
    return time(h, m) if h < 24 and m < 60 else None


@router.post("/p/{token}/preferences")
def preferences_post(
    request: Request, token: str,
    window_from: Annotated[str, Form(max_length=5)] = "",
    window_to: Annotated[str, Form(max_length=5)] = "",
    days: Annotated[list[str] | None, Form()] = None,
    preferred_channel: Annotated[str, Form(max_length=16)] = "",
    stop: Annotated[list[str] | None, Form()] = None,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if not csrf_ok(request, csrf_token):
        return expired_page(request, token)
    days, stop = (days or [])[:DAY_COUNT * 2], (stop or [])[:8]
    errors: dict[str, str] = {}
    start = _hhmm(window_from) if window_from.strip() else None
    end = _hhmm(window_to) if window_to.strip() else None
    if window_from.strip() and start is None:
        errors["window_from"] = gettext(request, N_("From: choose a time."))
    if window_to.strip() and end is None:
        errors["window_to"] = gettext(request, N_("Until: choose a time."))
    if not errors and (start is None) != (end is None):
        field = "window_to" if end is None else "window_from"
        errors[field] = gettext(request, N_("Preferred hours: choose both a start and an end, or neither."))
    if not errors and start is not None and start == end:
        errors["window_to"] = gettext(request, N_("Preferred hours: the end must differ from the start."))
    if any(d not in {str(i) for i in range(DAY_COUNT)} for d in days):
        errors["days"] = gettext(request, N_("Preferred days: choose from the days shown."))
    if preferred_channel not in ("", *CHANNEL_CHOICES):
        errors["preferred_channel"] = gettext(request, N_("Preferred way: choose one of those shown."))
    if any(c not in CHANNEL_CHOICES for c in stop):
        errors["stop"] = gettext(request, N_("Stop: choose from the ways shown."))
    elif preferred_channel and preferred_channel in stop:
        errors["preferred_channel"] = gettext(
            request, N_("Preferred way: you asked us to stop this one; choose another or none."))
    chosen_days = {int(d) for d in days if d.isdigit() and int(d) < DAY_COUNT}
    view = {"window_from": window_from[:5], "window_to": window_to[:5], "days": sorted(set(days)),
            "preferred_channel": preferred_channel[:16], "stop": sorted(set(stop))}
    with transaction(_engine(request)) as session:
        link = open_visit(request, session, token)
        if link is None:
            return to_start(token)
        if not errors:
            stopped = ",".join(c for c in CHANNEL_CHOICES if c in stop)
            mask = None if len(chosen_days) in (0, DAY_COUNT) else \
                "".join("1" if i in chosen_days else "0" for i in range(DAY_COUNT))
            row = _prefs_row(session, link)
            if row is None:
                account = session.get(Account, link.account_id)
                assert account is not None
                row = ContactPreference(customer_id=account.customer_id, updated_by=CARDHOLDER)
                session.add(row)
            row.window_start, row.window_end, row.days = start, end, mask
            row.preferred_channel = preferred_channel or None
            row.stopped_channels = stopped
            row.updated_at, row.updated_by = utc_now(), CARDHOLDER
            session.flush()
            record_self_service(session, link=link, outcome="preferences_changed", action="preferences",
                                detail={"window": [start.isoformat(timespec="minutes") if start else None,
                                                   end.isoformat(timespec="minutes") if end else None],
                                        "days": mask, "preferred_channel": preferred_channel or None,
                                        "stopped": stopped})
    if errors:
        return portal_page(request, "portal_preferences.html", token, status_code=422, v=view, saved=False,
                           errors=errors, times=HALF_HOURS, channels=CHANNEL_CHOICES)
    return _redirect(token, "/preferences?saved=1")

