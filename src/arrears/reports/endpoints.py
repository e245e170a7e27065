"""Read-only REST endpoints of the reports: the self-service funnel.

The same roles and scope as the dashboards: a team lead reads their own team's figures (a ``team``
asked for is ignored), a supervisor or administrator the whole book or one team (``team``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from arrears.auth.deps import DbSession, require_role
from arrears.auth.model import Role
from arrears.auth.tables import Team, User
from arrears.cases.schemas import ErrorBody
from arrears.cases.service import business_date_of
from arrears.kit.clock import utc_now
from arrears.kit.errors import ArrearsError
from arrears.kit.inputs import IsoDate
from arrears.reports.portal_funnel import as_json, funnel_rows
from arrears.reports.service import window

#: Roles that read the reports (the dashboards' viewers).
REPORT_READERS = (Role.TEAM_LEAD, Role.SUPERVISOR, Role.ADMIN)
Reader = Annotated[User, Depends(require_role(*REPORT_READERS))]


class BadWindow(ArrearsError):
    status = 422


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


router = APIRouter(tags=["reports"], responses={
    401: _error("no valid token or session"), 403: _error("the caller's role may not do this"),
    422: _error("the request is malformed: the error names the field")})


@router.get("/reports/portal-funnel", summary="The self-service funnel: links sent, opened, verified, acted")
def portal_funnel(
    request: Request, session: DbSession, user: Reader,
    date_from: Annotated[IsoDate | None, Query(alias="from", description="first date links were sent, YYYY-MM-DD "
                                                                         "(default: 29 days before 'to')")] = None,
    date_to: Annotated[IsoDate | None, Query(alias="to", description="last date, YYYY-MM-DD (default: today)")] = None,
    team: Annotated[str, Query(max_length=32, pattern=r"^[^\x00]*$", description="one team's code (supervisor, admin)")] = "",
) -> dict[str, Any]:
    """Counts and rates (basis points) of the links sent in the window, overall, by bucket and by
    strategy; what the cardholders did (docs/self-service.md, "Sending the link and measuring it")."""
    zone = request.app.state.settings.timezone
    to = date_to or business_date_of(utc_now(), zone)
    start = date_from or window(to)[0]
    if start > to:
        raise BadWindow("from: the window's first date must not come after its last")
    if (to - start).days > 366:
        raise BadWindow("from: the window is at most 367 days")
    team_id: int | None = None
    code: str | None = None
    if user.role == Role.TEAM_LEAD:
        team_id = user.team_id if user.team_id is not None else -1  # a lead without a team sees nothing
        code = session.execute(select(Team.code).where(Team.id == team_id)).scalar_one_or_none()
    elif team:
        team_id = session.execute(select(Team.id).where(Team.code == team)).scalar_one_or_none()
        if team_id is None:
            raise BadWindow(f"team: no team {team!r}")
        code = team
    rows = funnel_rows(session, from_date=start, to_date=to, team_id=team_id, bank_zone=zone)
    return as_json(rows, from_date=start, to_date=to, team=code)
