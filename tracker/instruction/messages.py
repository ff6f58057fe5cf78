"""Message templates: the wordings an instructor starts a decision's message from. DGFiP administrators
keep them; the instructor picks one in the decision dialog, edits the filled-in text and previews the email.

Variables are written ``{numero}``; only the known ones are filled in, anything else between braces is left
as typed (and refused when the template is saved, so that a typo never reaches a collectivité).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.principal import Principal
from tracker.audit.services import record
from tracker.db import utcnow
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.services import InvalidInput
from tracker.habilitations.workflow import Actor, ActorNotAllowed, Event
from tracker.instruction.models import MessageTemplate

# The decisions whose message (a reason, or the approval's optional message) reaches the parties.
DECISIONS: tuple[Event, ...] = (
    Event.APPROVE,
    Event.REQUEST_CHANGES,
    Event.REFUSE,
    Event.REVOKE,
    Event.CANCEL_REOPENING,
    Event.CANCEL_PRODUCTION,
)

VARIABLES: Mapping[str, str] = {
    "numero": "le numéro de la demande (D123)",
    "intitule": "l'intitulé du projet",
    "collectivite": "le nom de la collectivité",
    "lien": "l'adresse de la demande dans Habilitations DGFiP",
}

TITLE_MAX_LENGTH = 120
BODY_MAX_LENGTH = 5000
_VARIABLE = re.compile(r"\{([^{}\s]*)\}")


def unknown_variables(body: str) -> list[str]:
    return sorted({name for name in _VARIABLE.findall(body) if name not in VARIABLES})


def fill(body: str, request: HabilitationRequest, base_url: str) -> str:
    values = {
        "numero": request.number,
        "intitule": request.intitule or "Projet sans titre",
        "collectivite": request.organization.name,
        "lien": f"{base_url.rstrip('/')}/demandes/{request.id}",
    }
    return _VARIABLE.sub(lambda match: values.get(match.group(1), match.group(0)), body)


@dataclass(frozen=True)
class TemplateChoice:
    """A template as offered in a decision dialog: its variables already filled in for this request."""

    id: int
    title: str
    text: str


def templates_by_decision(session: Session) -> dict[Event, list[MessageTemplate]]:
    """Every template, grouped by decision, in one statement (the dialogs of one page need them all)."""
    grouped: dict[Event, list[MessageTemplate]] = {event: [] for event in DECISIONS}
    for template in session.scalars(select(MessageTemplate).order_by(MessageTemplate.title)):
        event = Event(template.event)
        if event in grouped:
            grouped[event].append(template)
    return grouped


def choices_for(
    templates: Mapping[Event, list[MessageTemplate]], request: HabilitationRequest, base_url: str
) -> dict[Event, list[TemplateChoice]]:
    return {
        event: [TemplateChoice(t.id, t.title, fill(t.body, request, base_url)) for t in event_templates]
        for event, event_templates in templates.items()
    }


def can_manage(principal: Principal) -> bool:
    """DGFiP administrators keep the templates; instructors and rapporteurs read them."""
    return principal.is_dgfip and principal.membership.is_admin and principal.actor is Actor.INSTRUCTEUR


def _check(principal: Principal, event: Event, title: str, body: str) -> tuple[str, str]:
    if not can_manage(principal):
        raise ActorNotAllowed("Seuls les administrateurs de la DGFiP gèrent les modèles de message.")
    if event not in DECISIONS:
        raise InvalidInput("Choisissez une décision.")
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise InvalidInput("Indiquez un titre et un texte.")
    if unknown := unknown_variables(body):
        listed = ", ".join(f"{{{name}}}" for name in unknown)
        known = ", ".join(f"{{{name}}}" for name in VARIABLES)
        raise InvalidInput(f"Variable inconnue : {listed}. Variables possibles : {known}.")
    return title, body


def _title_taken(session: Session, event: Event, title: str, except_id: int | None = None) -> bool:
    query = select(MessageTemplate.id).where(MessageTemplate.event == event.value, MessageTemplate.title == title)
    if except_id is not None:
        query = query.where(MessageTemplate.id != except_id)
    return session.scalar(query) is not None


class DuplicateTitle(InvalidInput):
    def __init__(self, event: Event) -> None:
        super().__init__(f"Un modèle porte déjà ce titre pour « {event.rule.label} ».")


def create_template(session: Session, *, principal: Principal, event: Event, title: str, body: str) -> MessageTemplate:
    title, body = _check(principal, event, title, body)
    if _title_taken(session, event, title):
        raise DuplicateTitle(event)
    template = MessageTemplate(
        event=event.value, title=title, body=body, updated_at=utcnow(), updated_by_id=principal.user.id
    )
    session.add(template)
    session.flush()
    _audit(session, principal, "message_template.created", template)
    return template


def update_template(
    session: Session, template: MessageTemplate, *, principal: Principal, event: Event, title: str, body: str
) -> MessageTemplate:
    title, body = _check(principal, event, title, body)
    if _title_taken(session, event, title, except_id=template.id):
        raise DuplicateTitle(event)
    template.event, template.title, template.body = event.value, title, body
    template.updated_at, template.updated_by_id = utcnow(), principal.user.id
    session.flush()
    _audit(session, principal, "message_template.updated", template)
    return template


def delete_template(session: Session, template: MessageTemplate, *, principal: Principal) -> None:
    if not can_manage(principal):
        raise ActorNotAllowed("Seuls les administrateurs de la DGFiP gèrent les modèles de message.")
    _audit(session, principal, "message_template.deleted", template)
    session.delete(template)
    session.flush()


def _audit(session: Session, principal: Principal, action: str, template: MessageTemplate) -> None:
    record(
        session,
        action,
        actor=principal.user,
        organization_id=principal.organization.id,
        object_type="message_template",
        object_id=template.id,
        details={"event": template.event, "title": template.title},
    )
