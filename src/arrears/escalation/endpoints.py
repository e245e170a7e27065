"""Read-only REST endpoints of legal review: the queue and a case's bundle.

Only supervisors, compliance and admins (who see every team's cases) read the queue. The bundle carries
unmasked personal data: the masking policy decides who receives it (compliance and admin, the roles that
may unmask every kind in it), a reason is required, and building it is an audit record (docs/escalation.md,
docs/security.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from arrears.auth.deps import DbSession, require_role
from arrears.auth.model import Role
from arrears.auth.tables import User
from arrears.cases.schemas import MAX_INT, ErrorBody
from arrears.cases.service import business_date_of
from arrears.escalation import schemas as s
from arrears.escalation import service
from arrears.kit.clock import utc_now
from arrears.kit.inputs import IsoDate

#: Roles that read the legal queue and bundles.
LEGAL_READERS = (Role.SUPERVISOR, Role.COMPLIANCE, Role.ADMIN)

Reader = Annotated[User, Depends(require_role(*LEGAL_READERS))]
CaseId = Annotated[int, Path(ge=1, le=MAX_INT, description="case id")]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("no valid token or session"),
    403: _error("the caller's role may not do this"),
    422: _error("the request is malformed: the error names the field"),
}

router = APIRouter(tags=["legal"], responses=ERRORS)


@router.get("/legal/queue", summary="Cases in legal review, longest waiting first", response_model=s.LegalQueue)
def legal_queue(session: DbSession, user: Reader,
                on: Annotated[IsoDate | None, Query(alias="date", description="queue date, YYYY-MM-DD (default: today)")]
                = None,
                ) -> s.LegalQueue:
    day = on or business_date_of(utc_now())
    rows = service.legal_queue(session, on=day)
    return s.LegalQueue(business_date=day, cases=[s.LegalQueueRow(**r.__dict__) for r in rows])


@router.get("/cases/{case_id}/legal-bundle", summary="The case's legal bundle (zip; an audited read)",
            response_class=Response,
            responses={200: {"content": {"application/zip": {}}, "description": "the bundle"},
                       404: _error("no such case"), 409: _error("the case is not in legal_review")})
def legal_bundle(case_id: CaseId, session: DbSession, user: Reader,
                 reason: Annotated[str | None, Query(max_length=500, description=(
                     "why the bundle is needed (kept in the audit log); required"))] = None) -> Response:
    """Only for roles the masking policy lets unmask every kind of personal data in the bundle (compliance
    and admin; docs/security.md), with a reason."""
    bundle = service.build_bundle(session, case_id=case_id, actor=user.username, role=user.role,
                                  reason=reason or "")
    return Response(bundle.content, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="legal-bundle-case-{case_id}.zip"',
                             "X-Content-SHA256": bundle.sha256})
