"""Taking a request in hand at the DGFiP. Flushes; the caller commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tracker.accounts.principal import Principal
from tracker.db import utcnow
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.services import audit_request
from tracker.habilitations.workflow import Actor, ActorNotAllowed
from tracker.instruction.models import RequestAssignment


def _require_instructeur(principal: Principal) -> None:
    if principal.actor is not Actor.INSTRUCTEUR:
        raise ActorNotAllowed("Seul un instructeur de la DGFiP prend une demande en charge.")


def assignment_of(session: Session, request: HabilitationRequest) -> RequestAssignment | None:
    return session.get(RequestAssignment, request.id)


def take_over(session: Session, request: HabilitationRequest, *, principal: Principal) -> RequestAssignment:
    """The instructor takes the request in hand, from whoever had it (said in the audit log)."""
    _require_instructeur(principal)
    assignment = assignment_of(session, request)
    previous = assignment.user_id if assignment else None
    if assignment is None:
        assignment = RequestAssignment(request_id=request.id, user_id=principal.user.id, assigned_at=utcnow())
        session.add(assignment)
    else:
        assignment.user_id = principal.user.id
        assignment.assigned_at = utcnow()
    session.flush()
    audit_request(session, principal, request, "request.assigned", {"user": principal.user.id, "previous": previous})
    return assignment


def release(session: Session, request: HabilitationRequest, *, principal: Principal) -> None:
    _require_instructeur(principal)
    assignment = assignment_of(session, request)
    if assignment is None:
        return
    previous = assignment.user_id
    session.delete(assignment)
    session.flush()
    audit_request(session, principal, request, "request.released", {"previous": previous})
