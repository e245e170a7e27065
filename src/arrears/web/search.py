"""Find anything: one GET form (``/search?q=…&kind=…``) over :mod:`arrears.cases.search`.

Every role, within its case scope; personal values match on their full value only, results are
masked by role, every search is audited (``search``: kind and count, never the value) and limited
like reveals. A refused value is shown next to the field (422); too many searches answer 429 with the
refusal kept in the audit log (returned, not raised, so the record is committed).
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from arrears.auth.deps import DbSession
from arrears.cases import search as finder
from arrears.web.i18n import N_
from arrears.web.render import render, settings_of
from arrears.web.security import WebUser

router = APIRouter(include_in_schema=False)

#: The kinds offered in the form, in order, with their words.
KIND_LABELS: dict[str, str] = {
    "auto": N_("Anything (account, name, phone or ID number)"),
    "account": N_("Account"),
    "name": N_("Customer name"),
    "phone": N_("Phone number"),
    "national_id": N_("ID number"),
    "notes": N_("Words in notes"),
}
#: How each result was found.
MATCHED = {"account": N_("Account"), "name": N_("Customer name"), "phone": N_("Phone number"),
           "national_id": N_("ID number")}
NOTE_SOURCES = {"interaction": N_("Contact note"), "investigation": N_("Investigation note")}
#: Why a value is refused, in words (SearchRefused.code).
REFUSALS: dict[str, str] = {
    "empty": N_("Type what to search for."),
    "too_long": N_("At most %(max)s characters."),
    "too_short": N_("Type at least %(min)s characters to search the notes."),
    "not_phone": N_("Not a full phone number: type all 11 digits of a mobile (spaces, dashes and +86 are "
                    "fine) or a landline with its area code. Part of a number finds nothing."),
    "not_national_id": N_("Not a valid ID number: type all 18 characters."),
    "kind": N_("Choose what to search for."),
}


@router.get("/search")
def search_page(request: Request, session: DbSession, user: WebUser,
                q: str | None = Query(None, max_length=finder.MAX_QUERY * 2),
                kind: str = Query("auto", max_length=32)) -> Response:
    """The search form, and the results when ``q`` is given."""
    shown = {"q": q or "", "kind": kind, "kinds": KIND_LABELS, "matched_words": MATCHED,
             "note_sources": NOTE_SOURCES, "max_query": finder.MAX_QUERY}
    if q is None:
        return render(request, "search.html", results=None, **shown)
    settings = settings_of(request)
    try:
        results = finder.search(session, user=user, kind=kind, text=q, max_searches=settings.reveal_limit,
                                window_seconds=settings.reveal_window_seconds)
    except finder.SearchRefused as exc:
        return render(request, "search.html", status_code=422, results=None, error_field=exc.field,
                      error=REFUSALS.get(exc.code, N_("Please check the form")),
                      error_args={"max": finder.MAX_QUERY, "min": finder.MIN_NOTES_QUERY}, **shown)
    except finder.SearchLimited as exc:
        response = render(request, "search.html", status_code=429, results=None, limited=True, **shown)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return render(request, "search.html", results=results, **shown)


__all__ = ["router"]
