"""The permission matrix of every instruction route (issue « DGFiP instruction », acceptance 1).

Each route is tried by each role: the instructeur, the rapporteur, the three parties of the request (so a
refusal is about the role, not about a foreign request), an anonymous visitor, and, for the routes that
manage message templates, a DGFiP administrator. Rapporteurs see everything and act on nothing; a refused
POST changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from factories import login, make_user
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, build, event_form, fingerprint, make_cast
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import MembershipRole
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Event
from tracker.instruction.models import InternalNote, MessageTemplate, RequestAssignment

ROLES = ("instructeur", "rapporteur", "collectivite", "editeur", "hebergeur", "anonyme", "administrateur")


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    situation: Situation
    path: Callable[[HabilitationRequest, MessageTemplate], str]
    # Expected status per role; « anonyme » is always sent to the login page (302 to /connexion).
    statuses: dict[str, int]
    data: Callable[[HabilitationRequest, MessageTemplate], dict[str, Any]] | None = None


READ = {"instructeur": 200, "rapporteur": 200, "administrateur": 200}
DGFIP_ONLY_READ = {**READ, "collectivite": 403, "editeur": 403, "hebergeur": 403}
DECISION = {
    "instructeur": 302,
    "administrateur": 302,
    "rapporteur": 403,
    "collectivite": 403,
    "editeur": 403,
    "hebergeur": 403,
}
MANAGE = {
    "administrateur": 302,
    "instructeur": 403,
    "rapporteur": 403,
    "collectivite": 403,
    "editeur": 403,
    "hebergeur": 403,
}


def _request_page(request: HabilitationRequest, _template: MessageTemplate) -> str:
    return f"/demandes/{request.id}"


def _decision(event: Event, situation: Situation, *, preview: bool = False) -> Route:
    def data(request: HabilitationRequest, _template: MessageTemplate) -> dict[str, Any]:
        form = event_form(request, event, reason="Motif de la décision")
        return {**form, f"{event.value}-preview": "Prévisualiser le courriel"} if preview else form

    statuses = {**DECISION, "instructeur": 200, "administrateur": 200} if preview else dict(DECISION)
    if event in (Event.CANCEL_REOPENING, Event.CANCEL_PRODUCTION):
        statuses["collectivite"] = 409  # its own cancellation, but not once submitted (DOMAIN §3.2)
    return Route(
        f"{event.value}{' (aperçu)' if preview else ''}",
        "POST",
        situation,
        lambda request, _template: f"/demandes/{request.id}/evenements/{event.value}",
        statuses,
        data,
    )


def _template_data(_request: HabilitationRequest, _template: MessageTemplate) -> dict[str, Any]:
    return {"event": "refuse", "title": "Titre modifié", "body": "Texte modifié pour {numero}."}


ROUTES = (
    Route("liste d'instruction", "GET", Situation.SUBMITTED, lambda r, t: "/instruction?q=D", DGFIP_ONLY_READ),
    Route("export CSV", "GET", Situation.SUBMITTED, lambda r, t: "/instruction/export.csv", DGFIP_ONLY_READ),
    Route("export XLSX", "GET", Situation.SUBMITTED, lambda r, t: "/instruction/export.xlsx", DGFIP_ONLY_READ),
    Route(
        "page d'instruction",
        "GET",
        Situation.SUBMITTED,
        _request_page,
        {**READ, "collectivite": 200, "editeur": 200, "hebergeur": 200},
    ),
    Route("tableau d'adhésion", "GET", Situation.SUBMITTED, lambda r, t: "/adhesion", DGFIP_ONLY_READ),
    Route(
        "adhésion d'un département",
        "GET",
        Situation.SUBMITTED,
        lambda r, t: "/adhesion?departement=33",
        DGFIP_ONLY_READ,
    ),
    Route("export de l'adhésion", "GET", Situation.SUBMITTED, lambda r, t: "/adhesion/export.csv", DGFIP_ONLY_READ),
    Route("statistiques", "GET", Situation.SUBMITTED, lambda r, t: "/statistiques", DGFIP_ONLY_READ),
    Route("modèles de message", "GET", Situation.SUBMITTED, lambda r, t: "/instruction/modeles", DGFIP_ONLY_READ),
    Route(
        "nouveau modèle (page)",
        "GET",
        Situation.SUBMITTED,
        lambda r, t: "/instruction/modeles/nouveau",
        {**MANAGE, "administrateur": 200},
    ),
    Route(
        "nouveau modèle",
        "POST",
        Situation.SUBMITTED,
        lambda r, t: "/instruction/modeles/nouveau",
        MANAGE,
        _template_data,
    ),
    Route(
        "modifier un modèle",
        "POST",
        Situation.SUBMITTED,
        lambda r, t: f"/instruction/modeles/{t.id}",
        MANAGE,
        _template_data,
    ),
    Route(
        "supprimer un modèle",
        "POST",
        Situation.SUBMITTED,
        lambda r, t: f"/instruction/modeles/{t.id}/suppression",
        MANAGE,
    ),
    Route(
        "prendre en charge",
        "POST",
        Situation.SUBMITTED,
        lambda r, t: f"/demandes/{r.id}/prise-en-charge",
        DECISION,
        lambda r, t: {"action": "prendre"},
    ),
    Route(
        "note interne",
        "POST",
        Situation.SUBMITTED,
        lambda r, t: f"/demandes/{r.id}/notes",
        # The parties must not even learn that notes exist: 404, as for a request they cannot see.
        {**DECISION, "collectivite": 404, "editeur": 404, "hebergeur": 404},
        lambda r, t: {"note": "Vérifier la délibération."},
    ),
    _decision(Event.APPROVE, Situation.SUBMITTED),
    _decision(Event.APPROVE, Situation.SUBMITTED, preview=True),
    _decision(Event.REQUEST_CHANGES, Situation.SUBMITTED),
    _decision(Event.REFUSE, Situation.SUBMITTED),
    _decision(Event.REFUSE, Situation.SUBMITTED, preview=True),
    _decision(Event.REVOKE, Situation.VALIDATED),
    _decision(Event.CANCEL_REOPENING, Situation.REOPENING_SUBMITTED),
    _decision(Event.CANCEL_PRODUCTION, Situation.PRODUCTION_SUBMITTED),
)


def _state(session: Session, request: HabilitationRequest) -> dict[str, Any]:
    """Everything a route of the matrix could change."""
    counts = {
        model.__name__: session.scalar(select(func.count()).select_from(model))
        for model in (InternalNote, RequestAssignment)
    }
    templates = sorted(session.execute(select(MessageTemplate.id, MessageTemplate.title, MessageTemplate.body)).all())
    return {"request": fingerprint(session, request.id), "counts": counts, "templates": templates}


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_permission_matrix(client: FlaskClient, session: Session, cast: Cast, route: Route, role: str) -> None:
    request = build(session, cast, route.situation)
    template = MessageTemplate(event="refuse", title="Hors cadre", body="La demande {numero} est hors cadre.")
    session.add(template)
    session.flush()
    if role == "administrateur":
        dgfip = cast.instructeur.memberships[0].organization
        login(client, session, make_user(session, dgfip, role=MembershipRole.ADMIN))
    elif role != "anonyme":
        login(client, session, getattr(cast, role))
    session.commit()
    before = _state(session, request)

    path = route.path(request, template)
    data = route.data(request, template) if route.data else {}
    response = client.get(path) if route.method == "GET" else client.post(path, data=data)
    response.close()  # exports stream from a temporary file, closed with the response

    if role == "anonyme":
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]
    else:
        assert response.status_code == route.statuses[role]
    acted = route.method == "POST" and response.status_code == 302 and role != "anonyme"
    if not acted:
        assert _state(session, request) == before, "a refused or read-only call changes nothing"
