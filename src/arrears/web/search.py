"""Find anything: one POST form (``/search``, CSRF-checked) over :mod:`arrears.cases.search`.

The value is POSTed, never put in the URL, so no phone or ID number lands in an access log, the browser's
history or a proxy's log; ``GET /search`` shows the empty form and never searches a ``q`` in its query.

Every role, within its case scope; personal values match on their full value only, results are
masked by role, every search is audited (``search``: kind and count, never the value) and limited
like reveals. A refused value is shown next to the field (422); too many searches answer 429 with the
refusal kept in the audit log (returned, not raised, so the record is committed).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from arrears.auth.deps import DbSession
from arrears.cases import search as finder
from arrears.web.i18n import LANGUAGE_NAMES, LOCALES, N_
from arrears.web.render import render, settings_of
from arrears.web.security import CsrfUser, WebUser

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


def _shown(q: str, kind: str) -> dict[str, object]:
    # the language links open the empty form: they never carry a query string that was typed in a URL
    return {"q": q, "kind": kind, "kinds": KIND_LABELS, "matched_words": MATCHED, "note_sources": NOTE_SOURCES,
            "max_query": finder.MAX_QUERY,
            "languages": [(code, LANGUAGE_NAMES[code], f"/search?lang={code}") for code in LOCALES]}


@router.get("/search")
def search_form(request: Request, user: WebUser) -> Response:
    """The empty search form: a value in the query string (an old bookmark) is never searched nor echoed."""
    return render(request, "search.html", results=None, **_shown("", "auto"))


@router.post("/search")
def search_page(request: Request, session: DbSession, user: WebUser, _: CsrfUser,
                q: Annotated[str, Form(max_length=finder.MAX_QUERY * 2)] = "",
                kind: Annotated[str, Form(max_length=32)] = "auto") -> Response:
    """The results of a search sent from the form, on the same page."""
    shown = _shown(q, kind)
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
