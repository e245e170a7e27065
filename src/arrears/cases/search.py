"""Finding a case: by account reference, customer name, phone number or national ID number, and words
in the notes of interactions and investigations.

Personal values match on their **full** normalised value only (no prefix or substring): a phone may be
typed with spaces, dashes or +86 and matches the number as stored; an ID number matches with either
case of its check character. Notes match on a substring. Everything is within the caller's case scope
(:func:`arrears.auth.service.case_scope`): an account is found only through a case the caller may see,
except for the roles that see every team, who also find accounts without a case.

Each search is an audit record ``search`` (the kind searched and the number found, never the value);
searches per user are limited like reveals (settings ``reveal_limit`` per ``reveal_window_seconds``),
a refusal recorded as ``search.limited``. Masking is the caller's (``auth.model.mask``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from arrears.accounts.tables import Account, ContactPoint, Customer
from arrears.accounts.validate import normalise_phone, parse_national_id
from arrears.auth.audit import record
from arrears.auth.model import mask, sees_all_teams
from arrears.auth.service import case_scope, recent_actions
from arrears.auth.tables import User
from arrears.cases.tables import Case, Interaction, Investigation
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError

#: What a search may look for. ``auto``: decided from the shape of the value (a phone number, an ID
#: number, otherwise an account reference or a name).
KINDS: tuple[str, ...] = ("auto", "account", "name", "phone", "national_id", "notes")
#: The longest value a search takes (a name is at most 200 characters in the store).
MAX_QUERY = 200
#: The shortest words a notes search takes (one character would match nearly every note).
MIN_NOTES_QUERY = 2
#: Rows shown at most; beyond, the caller is told there are more.
LIMIT = 50
#: Characters of a note shown on either side of the words found.
SNIPPET_CONTEXT = 40

_SPACES = re.compile(r"\s+")
_ID_SHAPE = re.compile(r"\d{17}[\dXx]", re.ASCII)
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}", re.ASCII)
# personal values a note may hold, masked in snippets
_MOBILE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)", re.ASCII)
_ID_IN_TEXT = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])", re.ASCII)


class SearchRefused(ArrearsError):
    """A value a search cannot take; ``code`` says why (the page words it), ``field`` the input."""

    status = 422

    def __init__(self, message: str, *, code: str, field: str = "q") -> None:
        super().__init__(message)
        self.code = code
        self.field = field


class SearchLimited(ArrearsError):
    """Too many searches by one user within the window. The refusal is an audit record
    (``search.limited``): the entry point commits it instead of letting the exception roll it back."""

    status = 429
    code = "search_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Query:
    """A search as understood: the kinds looked for and the normalised values of each."""

    kind: str
    #: kind → the exact values matched (a phone may be stored in more than one well-formed spelling)
    values: dict[str, tuple[str, ...]]


def _phone_spellings(number: str) -> tuple[str, ...]:
    """The stored spellings of one normalised phone number: a mobile is stored as its 11 digits; a
    landline as written, with or without the hyphen after its 3- or 4-digit area code."""
    digits = number.replace("-", "")
    if not digits.startswith("0"):
        return (number,)
    candidates = {digits, f"{digits[:3]}-{digits[3:]}", f"{digits[:4]}-{digits[4:]}"}
    return tuple(sorted(c for c in candidates if _LANDLINE.fullmatch(c)))


def _phone(text: str) -> str | None:
    try:
        return normalise_phone(text)
    except ValueError:
        return None


def understand(kind: str, text: str | None) -> Query:
    """The search ``kind`` over ``text``, normalised; :class:`SearchRefused` when it cannot be searched."""
    if kind not in KINDS:
        raise SearchRefused(f"unknown kind of search {kind!r}; kinds are {', '.join(KINDS)}", code="kind",
                            field="kind")
    value = _SPACES.sub(" ", (text or "").strip())
    if not value:
        raise SearchRefused("type what to search for", code="empty")
    if len(value) > MAX_QUERY:
        raise SearchRefused(f"at most {MAX_QUERY} characters", code="too_long")
    if kind == "notes":
        if len(value) < MIN_NOTES_QUERY:
            raise SearchRefused(f"notes search needs at least {MIN_NOTES_QUERY} characters", code="too_short")
        return Query("notes", {"notes": (value,)})
    if kind == "auto":
        # an account reference is the bank's own text (it may be all digits): always looked for too
        compact = value.replace(" ", "")
        if _ID_SHAPE.fullmatch(compact):
            try:
                return Query("national_id", {"account": (value,), "national_id": (parse_national_id(compact),)})
            except ValueError:
                pass
        elif (number := _phone(value)) is not None:
            return Query("phone", {"account": (value,), "phone": _phone_spellings(number)})
        return Query("account_or_name", {"account": (value,), "name": (value,)})
    if kind == "phone":
        number = _phone(value)
        if number is None:
            raise SearchRefused("not a full phone number: a mobile is 11 digits (+86 allowed), a landline its "
                                "area code and number", code="not_phone")
        return Query("phone", {"phone": _phone_spellings(number)})
    if kind == "national_id":
        try:
            return Query("national_id", {"national_id": (parse_national_id(value.replace(" ", "")),)})
        except ValueError as exc:
            raise SearchRefused(f"not a valid ID number: {exc}", code="not_national_id") from None
    return Query(kind, {kind: (value,)})


# -- results ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseLink:
    id: int
    status: str
    bucket: str
    dpd: int
    opened_on: Any


@dataclass(frozen=True)
class AccountHit:
    """An account found, as the caller may see it: the customer's name and the matched value masked
    by role, and the account's cases within the caller's scope (none: an account without a case)."""

    account_ref: str
    product: str
    account_status: str
    customer_name: str
    #: how it was found: (kind, the matched value masked by role or None, the contact point's owner or None)
    matched: tuple[str, str | None, str | None]
    cases: tuple[CaseLink, ...]


@dataclass(frozen=True)
class NoteHit:
    case_id: int
    account_ref: str
    customer_name: str
    #: ``interaction`` or ``investigation``
    source: str
    at: datetime
    #: the words found with some context, personal numbers in it masked
    snippet: str


@dataclass
class Results:
    query: Query
    accounts: list[AccountHit] = field(default_factory=list)
    notes: list[NoteHit] = field(default_factory=list)
    #: more than :data:`LIMIT` rows matched
    more: bool = False

    @property
    def count(self) -> int:
        return len(self.accounts) + len(self.notes)


def _accounts(session: Session, query: Query, *, user: User, scope: ColumnElement[bool], limit: int
              ) -> tuple[list[AccountHit], bool]:
    role = user.role
    by_account: list[ColumnElement[bool]] = []
    by_customer: list[ColumnElement[bool]] = []
    phones: dict[int, tuple[str, str]] = {}
    for kind, values in query.values.items():
        if kind == "account":
            by_account.append(Account.account_ref.in_(values))
        elif kind == "name":
            by_customer.append(Customer.name.in_(values))
        elif kind == "national_id":
            by_customer.append(Customer.national_id.in_(values))
        elif kind == "phone":
            for customer_id, value, owner in session.execute(
                    select(ContactPoint.customer_id, ContactPoint.value, ContactPoint.owner)
                    .where(ContactPoint.kind == "phone", ContactPoint.value.in_(values))
                    .order_by(ContactPoint.owner != "debtor", ContactPoint.id)):
                phones.setdefault(int(customer_id), (value, owner))
            if phones:
                by_customer.append(Customer.id.in_(list(phones)))
    if not by_account and not by_customer:
        return [], False
    stmt = (select(Account, Customer).join(Customer, Customer.id == Account.customer_id)
            .where(or_(*by_account, *by_customer)))
    if not sees_all_teams(role):
        stmt = stmt.where(exists().where(Case.account_id == Account.id, scope))
    rows = session.execute(stmt.order_by(Account.account_ref).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [a.id for a, _ in rows]
    cases: dict[int, list[CaseLink]] = {}
    if ids:
        for c in session.scalars(select(Case).where(Case.account_id.in_(ids), scope)
                                 .order_by(Case.opened_on.desc(), Case.id.desc())):
            cases.setdefault(c.account_id, []).append(CaseLink(c.id, c.status, c.bucket, c.dpd, c.opened_on))
    out = []
    values = {k: set(v) for k, v in query.values.items()}
    for account, customer in rows:
        if account.account_ref in values.get("account", ()):
            matched: tuple[str, str | None, str | None] = ("account", None, None)
        elif customer.name in values.get("name", ()):
            matched = ("name", None, None)
        elif customer.national_id in values.get("national_id", ()):
            matched = ("national_id", mask("national_id", customer.national_id, role), None)
        else:
            value, owner = phones[customer.id]
            matched = ("phone", mask("phone", value, role), owner)
        out.append(AccountHit(account.account_ref, account.product, account.status,
                              mask("name", customer.name, role) or "", matched, tuple(cases.get(account.id, ()))))
    return out, more


def mask_numbers(text: str, role: str) -> str:
    """``text`` with the mobile numbers and ID numbers in it masked as ``role`` sees them (same length)."""
    text = _ID_IN_TEXT.sub(lambda m: mask("national_id", m.group(0), role) or "", text)
    return _MOBILE_IN_TEXT.sub(lambda m: mask("phone", m.group(0), role) or "", text)


def snippet(notes: str, words: str, *, role: str, context: int = SNIPPET_CONTEXT) -> str:
    """The part of ``notes`` around the first place ``words`` occur (case-insensitive), numbers masked."""
    shown = mask_numbers(notes, role)
    at = notes.lower().find(words.lower())
    if at < 0:
        at = 0
    start, end = max(0, at - context), min(len(notes), at + len(words) + context)
    return ("…" if start else "") + _SPACES.sub(" ", shown[start:end]) + ("…" if end < len(notes) else "")


def _notes(session: Session, query: Query, *, user: User, scope: ColumnElement[bool], limit: int
           ) -> tuple[list[NoteHit], bool]:
    (words,) = query.values["notes"]
    found: list[tuple[datetime, int, str, str, str, str]] = []
    for source, table, moment in (("interaction", Interaction, Interaction.started_at),
                                  ("investigation", Investigation, Investigation.recorded_at)):
        rows = session.execute(
            select(moment, table.case_id, table.notes, Account.account_ref, Customer.name)
            .join(Case, Case.id == table.case_id).join(Account, Account.id == Case.account_id)
            .join(Customer, Customer.id == Account.customer_id)
            .where(scope, table.notes.icontains(words, autoescape=True))
            .order_by(moment.desc(), table.id.desc()).limit(limit + 1))
        found.extend((at, int(case_id), notes, ref, name, source) for at, case_id, notes, ref, name in rows)
    found.sort(key=lambda r: r[0], reverse=True)
    more = len(found) > limit
    return [NoteHit(case_id, ref, mask("name", name, user.role) or "", source, at,
                    snippet(notes, words, role=user.role))
            for at, case_id, notes, ref, name, source in found[:limit]], more


def search(session: Session, *, user: User, kind: str, text: str | None, limit: int = LIMIT,
           max_searches: int, window_seconds: int, source: str = "web") -> Results:
    """Run one search for ``user`` (see the module's docstring): :class:`SearchRefused` for a value
    that cannot be searched (nothing recorded), :class:`SearchLimited` beyond ``max_searches`` within
    ``window_seconds`` (0: no limit; the refusal recorded), else the results, recorded as ``search``."""
    query = understand(kind, text)
    if max_searches > 0:
        since = utc_now() - timedelta(seconds=window_seconds)
        if recent_actions(session, user=user, action="search", since=since) >= max_searches:
            record(session, actor=user.username, action="search.limited", entity="search",
                   detail={"kind": query.kind, "limit": max_searches, "window_seconds": window_seconds,
                           "source": source})
            raise SearchLimited(f"too many searches: at most {max_searches} within {window_seconds} seconds; "
                                "try again shortly (the refusal is recorded)", retry_after=window_seconds)
    scope = case_scope(user, Case.team_id)
    results = Results(query)
    if query.kind == "notes":
        results.notes, results.more = _notes(session, query, user=user, scope=scope, limit=limit)
    else:
        results.accounts, results.more = _accounts(session, query, user=user, scope=scope, limit=limit)
    record(session, actor=user.username, action="search", entity="search",
           detail={"kind": query.kind, "count": results.count, "more": results.more, "role": user.role,
                   "source": source})
    return results


__all__ = ["KINDS", "LIMIT", "MAX_QUERY", "AccountHit", "CaseLink", "NoteHit", "Query", "Results", "SearchLimited",
           "SearchRefused", "mask_numbers", "search", "snippet", "understand"]
