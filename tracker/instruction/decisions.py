"""The preview of the emails a decision will send, shown in the decision dialog before the instructor confirms.

The preview takes the decision for real inside a savepoint, reads the emails it queued and rolls everything
back: what the instructor reads is, by construction, what the confirmed decision sends (same recipients,
same wording, same reason rules), with no second copy of the notification rules to drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.principal import Principal
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Event
from tracker.notify.models import OutboxMessage


@dataclass(frozen=True)
class EmailPreview:
    recipients: tuple[str, ...]
    subject: str
    body_text: str


def _grouped(messages: Iterable[OutboxMessage]) -> list[EmailPreview]:
    """One preview per distinct message, with everyone who would receive it."""
    recipients: dict[tuple[str, str], list[str]] = {}
    for message in messages:
        recipients.setdefault((message.subject, message.body_text), []).append(message.recipient)
    return [EmailPreview(tuple(sorted(to)), subject, body) for (subject, body), to in recipients.items()]


def preview_emails(
    session: Session,
    request: HabilitationRequest,
    event: Event,
    *,
    principal: Principal,
    reason: str | None,
    sections: Iterable[str],
    expected_version: int | None,
) -> list[EmailPreview]:
    """The emails ``event`` would send; raises the ``WorkflowError`` the decision itself would raise.
    Nothing of the trial survives: the caller's request, and the session, are as before."""
    last_message_id = session.scalar(select(func.max(OutboxMessage.id))) or 0
    savepoint = session.begin_nested()
    try:
        services.apply_event(
            session,
            request,
            event,
            principal=principal,
            reason=reason,
            sections=sections,
            expected_version=expected_version,
        )
        queued = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.habilitation_request_id == request.id, OutboxMessage.id > last_message_id)
            .order_by(OutboxMessage.id)
        )
        return _grouped(queued)
    finally:
        savepoint.rollback()
