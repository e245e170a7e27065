"""Agreements waiting for a second person's approval (four-eyes), within the approver's scope.

A team lead sees their own team's cases, a supervisor or compliance officer every team's (the API's
``case_scope``). Each row says whether the signed-in user may approve it (the service's own rule:
never the maker, the role's rank and settlement authority) and links to the case page's agreement
step, where the approval is made (``POST /case/{id}/agreements/{aid}/approve``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from arrears.auth.deps import DbSession
from arrears.auth.model import mask
from arrears.auth.service import case_scope
from arrears.auth.tables import User
from arrears.cases.tables import Case
from arrears.web import repository as repo
from arrears.web.casepage import APPROVERS, why_not_approver
from arrears.web.render import render
from arrears.web.security import page_role

router = APIRouter(include_in_schema=False)
ApproverViewer = Annotated[User, Depends(page_role(*APPROVERS))]


@router.get("/approvals")
def approvals_page(request: Request, session: DbSession, user: ApproverViewer) -> Response:
    rows = repo.pending_approvals(session, scope=case_scope(user, Case.team_id))
    return render(request, "approvals.html", rows=[
        {"agreement": r.agreement, "case": r.case, "account_ref": r.account_ref,
         "customer": mask("name", r.customer_name, user.role), "maker": r.maker,
         "why_not": why_not_approver(user, r.agreement)} for r in rows])
