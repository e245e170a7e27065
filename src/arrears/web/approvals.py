"""Agreements waiting for a second person's approval (four-eyes), within the approver's scope.

A team lead sees their own team's cases, a supervisor or compliance officer every team's (the API's
``case_scope``). Each row says whether the signed-in user may approve it (the service's own rule:
never the maker, the role's rank and settlement authority) and links to the case page's agreement
step, where the approval is made (``POST /case/{id}/agreements/{aid}/approve``).

Before that link, each agreement says why it is asked for: the maker's reason, the investigation
the options were made with (cause, income, spending, other debts, dependants, willingness, the
affordable monthly amount) and the largest instalment against that affordable amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from arrears.auth.deps import DbSession
from arrears.auth.model import mask
from arrears.auth.service import case_scope
from arrears.auth.tables import User
from arrears.cases.tables import Case, Investigation
from arrears.web import repository as repo
from arrears.web.casepage import APPROVERS, why_not_approver
from arrears.web.render import render
from arrears.web.security import page_role

router = APIRouter(include_in_schema=False)
ApproverViewer = Annotated[User, Depends(page_role(*APPROVERS))]


def affordable_share(instalment: int, affordable: int | None) -> Decimal | None:
    """The instalment as a whole percentage of the affordable monthly amount (half-up); None when
    the affordable amount is not known or not positive."""
    if not affordable or affordable <= 0:
        return None
    return (Decimal(instalment) * 100 / Decimal(affordable)).quantize(Decimal(1), rounding=ROUND_HALF_UP)


@router.get("/approvals")
def approvals_page(request: Request, session: DbSession, user: ApproverViewer) -> Response:
    rows = repo.pending_approvals(session, scope=case_scope(user, Case.team_id))
    return render(request, "approvals.html", rows=[
        {"agreement": r.agreement, "case": r.case, "account_ref": r.account_ref,
         "customer": mask("name", r.customer_name, user.role), "maker": r.maker,
         "why_not": why_not_approver(user, r.agreement),
         "investigation": session.get(Investigation, r.agreement.investigation_id)
         if r.agreement.investigation_id is not None else None,
         "share": affordable_share(int(r.agreement.largest_instalment), r.agreement.affordable)} for r in rows])
