"""Taking a request in hand at the DGFiP. Flushes; the caller commits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.principal import Principal
from tracker.db import utcnow
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.services import audit_request
from tracker.habilitations.workflow import Actor, ActorNotAllowed, WorkflowError
from tracker.instruction.models import InternalNote, RequestAssignment


class InvalidNote(WorkflowError):
    http_status = 422


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


NOTE_MAX_LENGTH = 5000


def add_note(session: Session, request: HabilitationRequest, body: str, *, principal: Principal) -> InternalNote:
    """An instructor writes a note only the DGFiP will read; rapporteurs read them and write none."""
    _require_instructeur(principal)
    text = body.strip()
    if not text:
        raise InvalidNote("Écrivez la note avant de l'enregistrer.")
    if len(text) > NOTE_MAX_LENGTH:
        raise InvalidNote(f"{NOTE_MAX_LENGTH} caractères au maximum.")
    note = InternalNote(
        request_id=request.id,
        author_id=principal.user.id,
        author_name=principal.user.full_name,
        body=text,
        created_at=utcnow(),
    )
    session.add(note)
    session.flush()
    # The audit log says a note was written, not what it says (it may name people).
    audit_request(session, principal, request, "request.note_added", {"note": note.id})
    return note


def notes_of(session: Session, request: HabilitationRequest) -> list[InternalNote]:
    return list(
        session.execute(
            select(InternalNote).where(InternalNote.request_id == request.id).order_by(InternalNote.id.desc())
        ).scalars()
    )
