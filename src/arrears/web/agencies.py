"""Compliance's page of the outside collection agencies: the register (licence or registration,
contract dates, last and next review, status) and whether each may receive a new placement today
(:mod:`arrears.escalation.register`; GB/T 45251—2025 §5.4, docs/compliance.md "Outside agencies").

Compliance officers, auditors and administrators read it; compliance officers and administrators add
or change an agency (CSRF-protected, audited by the service as ``agency.register`` / ``agency.update``).
The register holds no personal data, so reading it is not audited.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from arrears.auth.deps import DbSession
from arrears.auth.model import Role
from arrears.auth.tables import User
from arrears.cases.service import business_date_of
from arrears.escalation.register import (
    AgencyFieldError,
    agencies,
    notice_days,
    placement_refusal,
    review_overdue,
    save_agency,
)
from arrears.escalation.tables import AGENCY_STATUSES
from arrears.kit.clock import utc_now
from arrears.web.compliance import COMPLIANCE_ROLES
from arrears.web.i18n import N_
from arrears.web.render import gettext, render
from arrears.web.security import CsrfUser, page_role

router = APIRouter(include_in_schema=False)

Reader = Annotated[User, Depends(page_role(*COMPLIANCE_ROLES))]
Editor = Annotated[User, Depends(page_role(Role.COMPLIANCE, Role.ADMIN))]
EDITORS = frozenset({Role.COMPLIANCE.value, Role.ADMIN.value})

STATUSES = {"active": N_("Active"), "suspended": N_("Suspended"), "terminated": N_("Terminated")}
#: The form's fields and their labels (a refusal names the field by its label).
FIELD_LABELS = {
    "code": N_("Code"), "name": N_("Name"), "licence": N_("Licence or registration number"),
    "contract_start": N_("Contract from"), "contract_end": N_("Contract until"), "last_review": N_("Last review"),
    "next_review": N_("Next review"), "status": N_("Status"),
}
DATE_FIELDS = ("contract_start", "contract_end", "last_review", "next_review")
#: The service's refusals, in the reader's language.
REFUSALS = {
    "is required": N_("Fill this in"),
    "the contract cannot end before it starts": N_("The contract cannot end before it starts."),
    "the next review cannot be before the last one": N_("The next review cannot be before the last one."),
    "lower-case letters, digits and _, starting with a letter":
        N_("Lower-case letters, digits and _, starting with a letter."),
}


def _page(request: Request, session: Session, user: User, *, form: dict[str, str] | None = None,
          error: tuple[str, str] | None = None, notice: str | None = None, status_code: int = 200) -> Response:
    today = business_date_of(utc_now())
    rows: list[dict[str, Any]] = [{"a": a, "overdue": review_overdue(a, today),
                                   "refusal": placement_refusal(session, a.code, today)} for a in agencies(session)]
    return render(request, "agencies.html", status_code=status_code, rows=rows, statuses=STATUSES,
                  labels=FIELD_LABELS, form=form or {}, error=error, notice=notice, today=today,
                  notice_days=notice_days(), can_edit=user.role in EDITORS)


@router.get("/compliance/agencies")
def agencies_page(request: Request, session: DbSession, user: Reader, notice: str | None = None) -> Response:
    return _page(request, session, user, notice=N_("The agency was saved.") if notice == "saved" else None)


def _date(value: str, field: str, *, required: bool = True) -> date | None:
    value = value.strip()
    if not value:
        if required:
            raise AgencyFieldError("is required", field=field)
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AgencyFieldError("not a date", field=field) from None


@router.post("/compliance/agencies")
def post_agency(
    request: Request, session: DbSession, user: Editor, _: CsrfUser,
    code: Annotated[str, Form(max_length=32)] = "", name: Annotated[str, Form(max_length=200)] = "",
    licence: Annotated[str, Form(max_length=100)] = "", contract_start: Annotated[str, Form(max_length=10)] = "",
    contract_end: Annotated[str, Form(max_length=10)] = "", last_review: Annotated[str, Form(max_length=10)] = "",
    next_review: Annotated[str, Form(max_length=10)] = "", status: Annotated[str, Form(max_length=16)] = "active",
) -> Response:
    """Add an agency to the register or change it (``escalation.register.save_agency``, audited)."""
    form = {"code": code, "name": name, "licence": licence, "contract_start": contract_start,
            "contract_end": contract_end, "last_review": last_review, "next_review": next_review, "status": status}
    try:
        if status not in AGENCY_STATUSES:
            raise AgencyFieldError("not a valid value", field="status")
        dates = {f: _date(form[f], f, required=f != "last_review") for f in DATE_FIELDS}
        save_agency(session, code=code.strip(), name=name, licence=licence, status=status, actor=user.username,
                    contract_start=dates["contract_start"], contract_end=dates["contract_end"],  # type: ignore[arg-type]
                    next_review=dates["next_review"], last_review=dates["last_review"])  # type: ignore[arg-type]
    except AgencyFieldError as exc:
        label = gettext(request, FIELD_LABELS.get(exc.field, N_("Status")))
        words = REFUSALS.get(exc.message)
        if words is None:
            words = N_("Not a date (YYYY-MM-DD)") if exc.message == "not a date" else N_("Not a valid value")
        return _page(request, session, user, form=form, status_code=422,
                     error=(exc.field, f"{label}: {gettext(request, words)}"))
    return RedirectResponse("/compliance/agencies?notice=saved", status_code=303)
