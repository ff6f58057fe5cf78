"""Who may see and touch which request (DOMAIN §4, SECURITY §B).

A request outside a user's reach answers 404 with the very body a missing request gets, whatever the
door: the URL, the quick-access form field, or a hidden field naming another request. Inside their reach,
a party that may not act gets 403, and a locked section 409; nothing changes in any of these cases.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from factories import login, make_organization, make_user
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from habilitations.builders import (
    Cast,
    Situation,
    audit_actions_since,
    audit_mark,
    build,
    complete_data,
    event_form,
    event_url,
    fingerprint,
    make_cast,
    take,
)
from tracker.accounts.models import DgfipFunction, OrganizationKind
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Actor, Event, SectionStatus, State

MISSING_OFFSET = 1_000_000


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def stranger(session: Session) -> Cast:
    """Another collectivité with its own éditeur and hébergeur, strangers to ``cast``'s requests."""
    return make_cast(session)


def _committed(session: Session, cast: Cast, situation: Situation) -> HabilitationRequest:
    request = build(session, cast, situation)
    session.commit()
    return request


def _section_form(request: HabilitationRequest, **fields: Any) -> dict[str, Any]:
    data = complete_data(IMPOT_PARTICULIER.section("projet"), variant="(intrusion)")
    return {**data, "version": str(request.version), "action": "save", **fields}


def _normalized(response: TestResponse, *request_ids: int) -> str:
    body = html.unescape(response.get_data(as_text=True))
    # The CSRF token carries a timestamp: two pages rendered a second apart differ there only.
    body = re.sub(r'(name="csrf_token" value=")[^"]*', r"\1<csrf>", body)
    for request_id in request_ids:  # as a path segment or a number « D123 »
        body = re.sub(rf"(?<=[/D]){request_id}\b", "<id>", body)
    return body


# Every door to a request, as (name, call(client, request_id, own_request)).
Door = Callable[[FlaskClient, int, HabilitationRequest], TestResponse]
DOORS: dict[str, Door] = {
    "detail": lambda client, rid, own: client.get(f"/demandes/{rid}"),
    "section_page": lambda client, rid, own: client.get(f"/demandes/{rid}/sections/projet"),
    "section_post": lambda client, rid, own: client.post(f"/demandes/{rid}/sections/projet", data=_section_form(own)),
    "attest_page": lambda client, rid, own: client.get(f"/demandes/{rid}/attestations/cadre_juridique"),
    "attest": lambda client, rid, own: client.post(
        f"/demandes/{rid}/attestations/cadre_juridique",
        data={
            "version": str(own.version),
            "statement_version": "2026-11",
            "signer_name": "Intrus",
            "signer_function": "Aucune",
            "confirm": "y",
        },
    ),
    "event_post": lambda client, rid, own: client.post(
        event_url(rid, Event.ARCHIVE), data=event_form(own, Event.ARCHIVE, request_id=rid)
    ),
    "cgu": lambda client, rid, own: client.post(
        f"/demandes/{rid}/cgu",
        data={"version": str(own.version), "accept_cgu": "y", "dpo_informed": "y", "commitment": "y"},
    ),
    "quick_access": lambda client, rid, own: client.get(f"/demandes/aller?numero=D{rid}"),
}


@pytest.mark.parametrize("door", list(DOORS), ids=str)
@pytest.mark.parametrize("situation", [Situation.FRESH_DRAFT, Situation.SUBMITTED], ids=str)
def test_another_collectivites_request_is_a_404_like_a_missing_one(
    client: FlaskClient, session: Session, cast: Cast, stranger: Cast, door: str, situation: Situation
) -> None:
    foreign = _committed(session, cast, situation)
    own = _committed(session, stranger, Situation.FRESH_DRAFT)
    login(client, session, stranger.collectivite)
    before, mark = fingerprint(session, foreign.id), audit_mark(session)

    response = DOORS[door](client, foreign.id, own)

    assert response.status_code == 404
    assert fingerprint(session, foreign.id) == before
    assert audit_actions_since(session, mark) == ["access_refused"]
    missing = DOORS[door](client, foreign.id + MISSING_OFFSET, own)
    assert missing.status_code == 404
    assert _normalized(response, foreign.id) == _normalized(missing, foreign.id + MISSING_OFFSET)
    assert "Page introuvable" in _normalized(response)


def test_a_hidden_field_naming_another_request_is_a_404(
    client: FlaskClient, session: Session, cast: Cast, stranger: Cast
) -> None:
    foreign = _committed(session, cast, Situation.FRESH_DRAFT)
    own = _committed(session, stranger, Situation.FRESH_DRAFT)
    login(client, session, stranger.collectivite)
    before_foreign, before_own = fingerprint(session, foreign.id), fingerprint(session, own.id)

    for event in (Event.ARCHIVE, Event.SUBMIT):
        response = client.post(event_url(own.id, event), data=event_form(own, event, request_id=foreign.id))
        assert response.status_code == 404

    assert fingerprint(session, foreign.id) == before_foreign
    assert fingerprint(session, own.id) == before_own


def test_a_missing_number_in_quick_access_is_a_404(client: FlaskClient, session: Session, cast: Cast) -> None:
    login(client, session, cast.collectivite)

    assert client.get(f"/demandes/aller?numero=D{MISSING_OFFSET}").status_code == 404


def test_quick_access_to_an_own_request_redirects_to_it(client: FlaskClient, session: Session, cast: Cast) -> None:
    request = _committed(session, cast, Situation.FRESH_DRAFT)
    login(client, session, cast.collectivite)

    for numero in (f"D{request.id}", f"d {request.id}", str(request.id)):
        response = client.get("/demandes/aller", query_string={"numero": numero})
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/demandes/{request.id}")


@pytest.mark.parametrize("kind", [OrganizationKind.EDITEUR, OrganizationKind.HEBERGEUR], ids=str)
def test_a_provider_not_attached_to_the_request_gets_404(
    client: FlaskClient, session: Session, cast: Cast, kind: OrganizationKind
) -> None:
    request = _committed(session, cast, Situation.SUBMITTED)
    outsider = make_user(session, make_organization(session, kind))
    login(client, session, outsider)
    before = fingerprint(session, request.id)

    assert client.get(f"/demandes/{request.id}").status_code == 404
    assert client.get(f"/demandes/{request.id}/sections/projet").status_code == 404
    response = client.post(event_url(request.id, Event.APPROVE), data=event_form(request, Event.APPROVE))
    assert response.status_code == 404
    assert fingerprint(session, request.id) == before


@pytest.mark.parametrize("actor", [Actor.EDITEUR, Actor.HEBERGEUR], ids=str)
def test_attached_providers_see_the_request(client: FlaskClient, session: Session, cast: Cast, actor: Actor) -> None:
    request = _committed(session, cast, Situation.FRESH_DRAFT)
    login(client, session, cast.user(actor))

    response = client.get(f"/demandes/{request.id}")

    assert response.status_code == 200
    assert request.number in response.get_data(as_text=True)


@pytest.mark.parametrize("function", list(DgfipFunction), ids=str)
def test_dgfip_sees_a_request_only_once_submitted(
    client: FlaskClient, session: Session, cast: Cast, function: DgfipFunction
) -> None:
    request = _committed(session, cast, Situation.FRESH_DRAFT)
    login(client, session, cast.user(Actor(function.value)))

    assert client.get(f"/demandes/{request.id}").status_code == 404
    assert client.get(f"/demandes/aller?numero={request.number}").status_code == 404
    assert client.get(f"/demandes/{request.id}/sections/projet").status_code == 404

    take(session, request, cast, Event.SUBMIT, Actor.COLLECTIVITE)
    session.commit()

    assert client.get(f"/demandes/{request.id}").status_code == 200
    assert client.get(f"/demandes/{request.id}/sections/projet").status_code == 200

    # Once submitted, always visible: even when back in draft for changes.
    take(session, request, cast, Event.REQUEST_CHANGES, Actor.INSTRUCTEUR, sections=["projet"])
    session.commit()
    assert client.get(f"/demandes/{request.id}").status_code == 200


def test_a_rapporteur_reads_but_every_event_is_refused(client: FlaskClient, session: Session, cast: Cast) -> None:
    request = _committed(session, cast, Situation.SUBMITTED)
    login(client, session, cast.rapporteur)

    page = client.get(f"/demandes/{request.id}")
    assert page.status_code == 200
    assert "evenements/" not in page.get_data(as_text=True)  # no action offered

    before = fingerprint(session, request.id)
    for event in Event:
        if event is Event.CREATE:
            continue  # not an event of an existing request (see test_transitions_http)
        mark = audit_mark(session)
        response = client.post(event_url(request.id, event), data=event_form(request, event))
        assert (event, response.status_code) == (event, 403)
        assert audit_actions_since(session, mark) == ["access_refused"]
    assert fingerprint(session, request.id) == before


@pytest.mark.parametrize("actor", [Actor.EDITEUR, Actor.HEBERGEUR], ids=str)
def test_a_party_cannot_write_a_section_it_does_not_own(
    client: FlaskClient, session: Session, cast: Cast, actor: Actor
) -> None:
    request = _committed(session, cast, Situation.FRESH_DRAFT)
    login(client, session, cast.user(actor))
    before, mark = fingerprint(session, request.id), audit_mark(session)

    saved = client.post(f"/demandes/{request.id}/sections/projet", data=_section_form(request))
    attested = client.post(
        f"/demandes/{request.id}/attestations/cadre_juridique",
        data={
            "version": str(request.version),
            "statement_version": "2026-11",
            "signer_name": "Intrus",
            "signer_function": "Aucune",
            "confirm": "y",
        },
    )
    cgu = client.post(
        f"/demandes/{request.id}/cgu",
        data={"version": str(request.version), "accept_cgu": "y", "dpo_informed": "y", "commitment": "y"},
    )

    assert (saved.status_code, attested.status_code, cgu.status_code) == (403, 403, 403)
    assert fingerprint(session, request.id) == before
    assert audit_actions_since(session, mark) == ["access_refused"] * 3


def test_the_section_page_is_read_only_for_other_parties(client: FlaskClient, session: Session, cast: Cast) -> None:
    request = _committed(session, cast, Situation.FRESH_DRAFT)
    login(client, session, cast.editeur)

    page = client.get(f"/demandes/{request.id}/sections/projet")

    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "lecture seule" in body
    assert 'value="save"' not in body


@pytest.mark.parametrize(
    "situation",
    [Situation.SUBMITTED, Situation.VALIDATED, Situation.REFUSED, Situation.ARCHIVED, Situation.PRODUCTION_DRAFT],
    ids=str,
)
def test_a_locked_section_answers_409_and_keeps_its_content(
    client: FlaskClient, session: Session, cast: Cast, situation: Situation
) -> None:
    request = _committed(session, cast, situation)
    login(client, session, cast.collectivite)
    before = fingerprint(session, request.id)

    response = client.post(f"/demandes/{request.id}/sections/projet", data=_section_form(request))

    assert response.status_code == 409
    assert "n'est pas modifiable en ce moment" in html.unescape(response.get_data(as_text=True))
    assert fingerprint(session, request.id) == before


def test_only_the_named_sections_open_while_changes_are_requested(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = _committed(session, cast, Situation.SUBMITTED)
    take(session, request, cast, Event.REQUEST_CHANGES, Actor.INSTRUCTEUR, sections=["projet"])
    session.commit()
    login(client, session, cast.collectivite)

    response = client.post(f"/demandes/{request.id}/sections/projet", data=_section_form(request))

    assert response.status_code == 302
    assert session.get(HabilitationRequest, request.id).section(request.stage, "projet").is_change_requested


def test_extra_fields_cannot_set_state_or_owner(
    client: FlaskClient, session: Session, cast: Cast, stranger: Cast
) -> None:
    request = _committed(session, cast, Situation.FRESH_DRAFT)
    login(client, session, cast.collectivite)
    other_organization = stranger.collectivite.memberships[0].organization

    response = client.post(
        f"/demandes/{request.id}/sections/projet",
        data=_section_form(
            request,
            state="validated",
            organization_id=str(other_organization.id),
            stage="production",
            approved_by="1",
            status="attested",
        ),
    )

    assert response.status_code == 302
    session.expire_all()
    saved = session.get(HabilitationRequest, request.id)
    assert (saved.state, saved.organization_id) == (State.DRAFT, cast.collectivite.memberships[0].organization_id)
    section = saved.section(saved.stage, "projet")
    assert section.status is SectionStatus.COMPLETE
    assert set(section.data) <= {f.key for f in IMPOT_PARTICULIER.section("projet").fields}
