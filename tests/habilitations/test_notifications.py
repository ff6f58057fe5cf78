"""The lifecycle emails of DOMAIN §10 queued by the transitions: submission acknowledgement (with the
deadline and the appeal routes) and notice to the instructors, approval to the collectivité, the
responsable de traitement and the DPO plus the API-management team, refusal and revocation with their
reason to every party."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from habilitations.builders import Cast, Situation, build, make_cast, take
from tracker.habilitations.workflow import Actor, Event
from tracker.notify.models import OutboxMessage


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


def _queued(session: Session, request_id: int, since: int = 0) -> list[OutboxMessage]:
    return list(
        session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.habilitation_request_id == request_id, OutboxMessage.id > since)
            .order_by(OutboxMessage.id)
        ).scalars()
    )


def _mark(session: Session) -> int:
    return session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)) or 0


def test_a_submission_is_acknowledged_and_announced_to_the_instructors(session: Session, cast: Cast) -> None:
    request = build(session, cast, Situation.FRESH_DRAFT)
    mark = _mark(session)
    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    messages = {m.recipient: m for m in _queued(session, request.id, mark)}
    acknowledgement = messages[cast.collectivite.email]
    assert acknowledgement.subject == f"Demande {request.number} : soumission reçue par la DGFiP"
    assert f"au plus tard le {request.deadline_at:%d/%m/%Y}" in acknowledgement.body_text
    assert "réputée rejetée" in acknowledgement.body_text and "tribunal administratif" in acknowledgement.body_text
    notice = messages[cast.instructeur.email]
    assert notice.subject.startswith(f"Demande {request.number} à instruire")
    assert cast.rapporteur.email not in messages and cast.editeur.email not in messages


def test_an_approval_reaches_the_collectivite_its_named_contacts_and_the_api_management_team(
    app: Flask, session: Session, cast: Cast
) -> None:
    request = build(session, cast, Situation.SUBMITTED)
    mark = _mark(session)
    take(session, request, cast, Event.APPROVE, Actor.INSTRUCTEUR, reason="Bienvenue dans le service.")
    messages = _queued(session, request.id, mark)
    habilitation = request.habilitations[-1]
    recipients = {m.recipient for m in messages}
    # The builders' contacts all use contact@exemple.fr: the responsable and the DPO get one email.
    assert recipients == {cast.collectivite.email, "contact@exemple.fr", app.config["API_MANAGEMENT_EMAIL"]}
    approval = next(m for m in messages if m.recipient == cast.collectivite.email)
    assert approval.subject == f"Demande {request.number} validée : habilitation {habilitation.number}"
    assert "Bienvenue dans le service." in approval.body_text
    apim = next(m for m in messages if m.recipient == app.config["API_MANAGEMENT_EMAIL"])
    assert apim.subject.startswith(f"[BAS] Habilitation {habilitation.number} à ouvrir")


@pytest.mark.parametrize(
    ("situation", "event", "subject"),
    [
        (Situation.SUBMITTED, Event.REFUSE, "refusée"),
        (Situation.REOPENING_SUBMITTED, Event.REFUSE, "mise à jour refusée"),
        (Situation.VALIDATED, Event.REVOKE, "habilitations révoquées"),
    ],
)
def test_refusals_and_revocations_tell_every_party_why(
    session: Session, cast: Cast, situation: Situation, event: Event, subject: str
) -> None:
    request = build(session, cast, situation)
    mark = _mark(session)
    take(session, request, cast, event, Actor.INSTRUCTEUR, reason="Le cadre juridique ne couvre pas ce traitement.")
    messages = _queued(session, request.id, mark)
    assert {m.recipient for m in messages} == {cast.collectivite.email, cast.editeur.email, cast.hebergeur.email}
    assert all(m.subject.endswith(subject) for m in messages)
    assert all("Le cadre juridique ne couvre pas ce traitement." in m.body_text for m in messages)
