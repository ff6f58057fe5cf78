"""Decisions on the instruction page (issue « DGFiP instruction »): confirmation dialogs, message templates
kept by DGFiP administrators, the preview of the emails a decision sends, the reason rules over HTTP and the
instruction deadline stopped by a request for changes and restarted by the next submission."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from factories import login, make_user
from flask.testing import FlaskClient
from habilitations.builders import (
    Cast,
    Situation,
    address_requested_changes,
    audit_actions_since,
    audit_mark,
    build,
    event_form,
    event_url,
    fingerprint,
    make_cast,
    sections_to_name,
    take,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import MembershipRole
from tracker.habilitations.deadlines import instruction_deadline
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Actor, Event, State
from tracker.instruction.messages import fill, unknown_variables
from tracker.instruction.models import MessageTemplate
from tracker.notify.models import OutboxMessage

S = Situation


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def admin(session: Session, cast: Cast):  # type: ignore[no-untyped-def]
    """A DGFiP administrator (an instructeur with the admin role of the DGFiP organization)."""
    dgfip = cast.instructeur.memberships[0].organization
    return make_user(session, dgfip, role=MembershipRole.ADMIN)


def _template(session: Session, event: Event, title: str, body: str) -> MessageTemplate:
    template = MessageTemplate(event=event.value, title=title, body=body)
    session.add(template)
    session.flush()
    return template


def _outbox_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(OutboxMessage))


# --- variables ----------------------------------------------------------------------------------------


def test_variables_are_filled_and_unknown_ones_are_named(session: Session, cast: Cast) -> None:
    request = build(session, cast, S.SUBMITTED)
    body = "Demande {numero} « {intitule} » de {collectivite} : {lien} ; {inconnue} et {numero}"
    filled = fill(body, request, "https://habilitations.exemple.fr/")
    assert filled == (
        f"Demande {request.number} « {request.intitule} » de {request.organization.name} : "
        f"https://habilitations.exemple.fr/demandes/{request.id} ; {{inconnue}} et {request.number}"
    )
    assert unknown_variables(body) == ["inconnue"]
    assert unknown_variables("Aucune variable, ni {} vide ? {numero}") == [""]


# --- templates kept by DGFiP administrators ----------------------------------------------------------


def test_an_administrator_creates_edits_and_deletes_a_template(client: FlaskClient, session: Session, admin) -> None:  # type: ignore[no-untyped-def]
    login(client, session, admin)
    mark = audit_mark(session)
    page = client.get("/instruction/modeles/nouveau?decision=refuse").get_data(as_text=True)
    assert '<option selected value="refuse">' in page
    response = client.post(
        "/instruction/modeles/nouveau",
        data={"event": "refuse", "title": "Cadre juridique absent", "body": "La demande {numero} n'a pas de base."},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("#decision-refuse")
    template = session.execute(select(MessageTemplate)).scalar_one()
    assert (template.event, template.title, template.updated_by_id) == ("refuse", "Cadre juridique absent", admin.id)

    response = client.post(
        f"/instruction/modeles/{template.id}",
        data={"event": "refuse", "title": "Cadre juridique absent", "body": "Texte revu pour {collectivite}."},
    )
    assert response.status_code == 302
    session.refresh(template)
    assert template.body == "Texte revu pour {collectivite}."
    listing = client.get("/instruction/modeles").get_data(as_text=True)
    assert "Texte revu pour {collectivite}." in listing and "Modifier" in listing

    assert client.post(f"/instruction/modeles/{template.id}/suppression").status_code == 302
    assert session.execute(select(MessageTemplate)).first() is None
    assert audit_actions_since(session, mark) == [
        "message_template.created",
        "message_template.updated",
        "message_template.deleted",
    ]


def test_a_template_with_an_unknown_variable_or_a_taken_title_is_refused_next_to_the_field(
    client: FlaskClient, session: Session, admin
) -> None:  # type: ignore[no-untyped-def]
    _template(session, Event.REFUSE, "Déjà là", "Texte.")
    session.commit()
    login(client, session, admin)
    typed = "Bonjour {nom_du_maire}, la demande {numero}…"
    response = client.post("/instruction/modeles/nouveau", data={"event": "refuse", "title": "Nouveau", "body": typed})
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    messages = page.split('id="body-messages"', 1)[1].split("</div>", 1)[0]
    assert "Variable inconnue : {nom_du_maire}" in messages and "{numero}" in messages
    assert typed in page, "what was typed is kept"

    response = client.post("/instruction/modeles/nouveau", data={"event": "refuse", "title": "Déjà là", "body": "X"})
    assert response.status_code == 422
    messages = html.unescape(response.get_data(as_text=True)).split('id="title-messages"', 1)[1].split("</div>", 1)[0]
    assert "Un modèle porte déjà ce titre pour « Refuser la demande »." in messages
    # The same title for another decision is fine.
    response = client.post("/instruction/modeles/nouveau", data={"event": "revoke", "title": "Déjà là", "body": "X"})
    assert response.status_code == 302
    assert session.scalar(select(func.count()).select_from(MessageTemplate)) == 2


@pytest.mark.parametrize(
    ("role", "read", "manage"),
    [
        ("instructeur", 200, 403),
        ("rapporteur", 200, 403),
        ("collectivite", 403, 403),
        ("editeur", 403, 403),
        ("hebergeur", 403, 403),
    ],
)
def test_only_administrators_manage_templates(
    client: FlaskClient, session: Session, cast: Cast, role: str, read: int, manage: int
) -> None:
    template = _template(session, Event.APPROVE, "Bienvenue", "Bienvenue dans le service.")
    session.commit()
    login(client, session, getattr(cast, role))
    listing = client.get("/instruction/modeles")
    assert listing.status_code == read
    if read == 200:
        assert "Bienvenue dans le service." in listing.get_data(as_text=True)
        assert "Ajouter un modèle" not in listing.get_data(as_text=True)
    assert client.get("/instruction/modeles/nouveau").status_code == manage
    data = {"event": "approve", "title": "Autre", "body": "Texte"}
    assert client.post("/instruction/modeles/nouveau", data=data).status_code == manage
    assert client.post(f"/instruction/modeles/{template.id}", data=data).status_code == manage
    assert client.post(f"/instruction/modeles/{template.id}/suppression").status_code == manage
    assert session.scalar(select(func.count()).select_from(MessageTemplate)) == 1


# --- the decision dialogs -------------------------------------------------------------------------------


def test_each_decision_sits_in_a_confirmation_dialog_with_its_templates_filled_in(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = build(session, cast, S.SUBMITTED)
    _template(session, Event.REFUSE, "Hors cadre", "La demande {numero} ({intitule}) est hors cadre : {lien}")
    session.commit()
    login(client, session, cast.instructeur)
    page = client.get(f"/demandes/{request.id}").get_data(as_text=True)
    for event in (Event.REQUEST_CHANGES, Event.APPROVE, Event.REFUSE):
        assert f'aria-controls="decision-{event.value}"' in page
        assert f'<dialog id="decision-{event.value}" class="fr-modal"' in page
    refuse_dialog = html.unescape(page.split('<dialog id="decision-refuse"', 1)[1].split("</dialog>", 1)[0])
    assert "Hors cadre" in refuse_dialog
    assert f"La demande {request.number} ({request.intitule}) est hors cadre : http" in refuse_dialog
    assert f"/demandes/{request.id}" in refuse_dialog
    assert "le motif est envoyé à toutes les parties" in refuse_dialog
    assert "Prévisualiser le courriel" in refuse_dialog and "Confirmer : refuser la demande" in refuse_dialog

    login(client, session, cast.rapporteur)
    page = client.get(f"/demandes/{request.id}").get_data(as_text=True)
    assert "<dialog" not in page and "/evenements/" not in page, "rapporteurs see everything and act on nothing"


def test_the_preview_shows_the_emails_and_changes_nothing(client: FlaskClient, session: Session, cast: Cast) -> None:
    request = build(session, cast, S.SUBMITTED)
    session.commit()
    login(client, session, cast.instructeur)
    before, outbox, mark = fingerprint(session, request.id), _outbox_count(session), audit_mark(session)
    data = {
        **event_form(request, Event.REFUSE, reason="Le cadre juridique ne couvre pas ce traitement."),
        "refuse-preview": "Prévisualiser le courriel",
    }
    response = client.post(event_url(request.id, Event.REFUSE), data=data)

    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert 'data-fr-opened="true" aria-controls="decision-refuse"' in page, "the dialog opens again"
    preview = page.split("Courriels qui partiront", 1)[1].split("</section>", 1)[0]
    assert f"Demande {request.number} : refusée" in preview
    assert "Le cadre juridique ne couvre pas ce traitement." in preview
    for party in (cast.collectivite, cast.editeur, cast.hebergeur):
        assert party.email in preview
    assert fingerprint(session, request.id) == before
    assert _outbox_count(session) == outbox and audit_actions_since(session, mark) == []
    assert "Le cadre juridique ne couvre pas ce traitement." in page.split('id="refuse-reason"', 1)[1]

    # Confirming afterwards sends exactly what was previewed.
    response = client.post(
        event_url(request.id, Event.REFUSE), data=event_form(request, Event.REFUSE, reason=data["refuse-reason"])
    )
    assert response.status_code == 302
    sent = session.scalars(select(OutboxMessage).where(OutboxMessage.habilitation_request_id == request.id)).all()
    refusals = [m for m in sent if m.subject == f"Demande {request.number} : refusée"]
    assert {m.recipient for m in refusals} == {cast.collectivite.email, cast.editeur.email, cast.hebergeur.email}
    assert refusals[0].body_text in preview


def test_the_preview_fills_in_the_chosen_template_when_scripts_are_off(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = build(session, cast, S.SUBMITTED)
    template = _template(session, Event.REQUEST_CHANGES, "Pièce manquante", "Merci de compléter {numero}.")
    session.commit()
    login(client, session, cast.instructeur)
    data = {
        **event_form(request, Event.REQUEST_CHANGES, reason="", sections=["projet"]),
        "request_changes-template": str(template.id),
        "request_changes-preview": "Prévisualiser le courriel",
    }
    page = html.unescape(client.post(event_url(request.id, Event.REQUEST_CHANGES), data=data).get_data(as_text=True))
    assert (
        f"Merci de compléter {request.number}."
        in page.split('id="request_changes-reason"', 1)[1].split("</textarea>")[0]
    )
    assert "Courriels qui partiront" in page and "Merci de compléter" in page.split("Courriels qui partiront", 1)[1]


def test_a_preview_without_the_mandatory_reason_says_so_next_to_the_field(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = build(session, cast, S.VALIDATED)
    session.commit()
    login(client, session, cast.instructeur)
    data = {**event_form(request, Event.REVOKE, reason=" "), "revoke-preview": "Prévisualiser le courriel"}
    response = client.post(event_url(request.id, Event.REVOKE), data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Un motif est obligatoire." in page.split('id="revoke-reason-messages"', 1)[1].split("</div>", 1)[0]
    assert 'data-fr-opened="true" aria-controls="decision-revoke"' in page
    assert "Courriels qui partiront" not in page


@pytest.mark.parametrize(
    ("situation", "event", "target"),
    [(S.SUBMITTED, Event.APPROVE, State.VALIDATED), (S.PRODUCTION_SUBMITTED, Event.CANCEL_PRODUCTION, State.VALIDATED)],
    ids=["approve", "cancel_production"],
)
def test_the_dgfip_message_is_optional_where_the_workflow_says_so(
    client: FlaskClient, session: Session, cast: Cast, situation: Situation, event: Event, target: State
) -> None:
    request = build(session, cast, situation)
    session.commit()
    login(client, session, cast.instructeur)
    response = client.post(event_url(request.id, event), data=event_form(request, event, reason=""))
    assert response.status_code == 302
    session.expire_all()
    assert session.get(HabilitationRequest, request.id).state is target  # type: ignore[union-attr]


def test_a_request_for_changes_must_name_sections(client: FlaskClient, session: Session, cast: Cast) -> None:
    request = build(session, cast, S.SUBMITTED)
    session.commit()
    login(client, session, cast.instructeur)
    before = fingerprint(session, request.id)
    data = event_form(request, Event.REQUEST_CHANGES, reason="À préciser", sections=[])
    response = client.post(event_url(request.id, Event.REQUEST_CHANGES), data=data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="request_changes-sections-messages"' in page
    assert fingerprint(session, request.id) == before


# --- the instruction deadline ---------------------------------------------------------------------------


def test_the_deadline_stops_on_a_request_for_changes_and_restarts_on_the_next_submission(
    session: Session, cast: Cast
) -> None:
    request = build(session, cast, S.SUBMITTED)
    first_start = request.deadline_started_at
    assert first_start is not None
    assert request.deadline_at == instruction_deadline(first_start)

    take(session, request, cast, Event.REQUEST_CHANGES, Actor.INSTRUCTEUR, sections=sections_to_name(request)[:1])
    assert (request.deadline_started_at, request.deadline_at) == (None, None)

    address_requested_changes(session, request, cast)
    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    restarted = request.deadline_started_at
    assert restarted is not None and restarted > first_start, "a new two-month period, not the rest of the old one"
    assert request.deadline_at == instruction_deadline(restarted)
    assert request.deadline_at - first_start > timedelta(days=59)

    take(session, request, cast, Event.APPROVE, Actor.INSTRUCTEUR)
    assert (request.deadline_started_at, request.deadline_at) == (None, None), "a decision stops it for good"
