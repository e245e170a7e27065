"""My day (``/myday``): the agent's work list for the bank's business day — call-backs due and
overdue, broken promises, open tasks — most urgent first (:mod:`arrears.cases.myday`). A team lead
sees their team's. Customers' names are masked by role; the page writes nothing and reveals nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from arrears.auth.deps import DbSession
from arrears.auth.model import Role
from arrears.auth.tables import User
from arrears.cases.myday import DayItem, my_day
from arrears.cases.service import business_date_of
from arrears.kit.clock import utc_now
from arrears.web.i18n import N_
from arrears.web.render import render, settings_of
from arrears.web.security import page_role

router = APIRouter(include_in_schema=False)
#: The queue's roles (``pages.QUEUE_ROLES``): the people who work cases.
DayUser = Annotated[User, Depends(page_role(Role.AGENT, Role.TEAM_LEAD))]

#: What each item is, by task kind (the strategy's and the cycle's), call-back or promise.
WHAT = {
    "callback": N_("Call-back"), "broken_promise": N_("Broken promise"), "promise_short": N_("Promise paid short"),
    "call": N_("Call the customer"), "review_task": N_("Review the case"), "legal_review": N_("Legal review"),
    "agency_placement": N_("Agency placement"), "charge_off": N_("Charge-off proposal"),
    "missed_instalment": N_("Missed instalment"), "broken_plan": N_("Plan broken"),
}
#: The urgency tags shown (by rank of :mod:`arrears.cases.myday`).
URGENCY = (N_("Now"), N_("Overdue"), N_("Broken promise"), N_("Overdue"), N_("Later today"), N_("Due today"))


def what_of(item: DayItem) -> str:
    """The item's label (untranslated)."""
    if item.kind == "callback":
        return WHAT["callback"]
    if item.kind == "broken_promise":
        return WHAT["broken_promise"] if item.what == "broken" else WHAT["promise_short"]
    return WHAT.get(item.what, item.what)


@router.get("/myday")
def my_day_page(request: Request, session: DbSession, user: DayUser) -> Response:
    now = utc_now()
    zone = settings_of(request).timezone
    today = business_date_of(now, zone)
    day = my_day(session, user=user, now=now, today=today, zone=zone)
    return render(request, "myday.html", day=day, today=today, what_of=what_of, urgency=URGENCY,
                  team_view=user.role == Role.TEAM_LEAD)


__all__ = ["router"]
