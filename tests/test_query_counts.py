"""Pages run a fixed number of SQL statements, whatever the size of what they show (no N+1)."""

from __future__ import annotations

from factories import login, make_organization, make_user, principal_for
from flask.testing import FlaskClient
from habilitations.builders import fill_every_section, sign_ready_attestations
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from statements import count_statements

from tracker.accounts.models import OrganizationKind
from tracker.habilitations import services
from tracker.habilitations.workflow import Actor, Event
from tracker.products.models import SoftwareProduct


def _request_with_history(session: Session, dpo, vendor, instructeur, rounds: int):  # type: ignore[no-untyped-def]
    request = services.create_request(session, principal=dpo, use_case="cantine_scolaire")
    request.editeur = request.hebergeur = vendor.organization
    fill_every_section(session, request, {Actor.COLLECTIVITE: dpo, Actor.EDITEUR: vendor}, except_keys=("projet",))
    services.save_section(
        session,
        request,
        "projet",
        {"intitule": "Cantine", "description": "Tarifs."},
        principal=dpo,
        expected_version=None,
    )
    for round_number in range(rounds):
        sign_ready_attestations(session, request, [dpo])
        services.accept_cgu(session, request, principal=dpo, expected_version=None)
        services.apply_event(session, request, Event.SUBMIT, principal=dpo)
        services.apply_event(
            session,
            request,
            Event.REQUEST_CHANGES,
            principal=instructeur,
            reason=f"Tour {round_number}",
            sections=["projet"],
        )
    sign_ready_attestations(session, request, [dpo])
    session.commit()
    return request


def _statements_for_detail(client: FlaskClient, connection: Connection, request_id: int) -> int:
    client.get(f"/demandes/{request_id}")  # warm-up: the session's last-seen touch may write once
    with count_statements(connection) as statements:
        response = client.get(f"/demandes/{request_id}")
    assert response.status_code == 200
    return len(statements)


def test_request_page_statement_count_does_not_grow_with_the_timeline(
    client: FlaskClient, session: Session, connection: Connection
) -> None:
    dpo = principal_for(make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE)))
    vendor = principal_for(make_user(session, make_organization(session, OrganizationKind.EDITEUR)))
    instructeur = principal_for(make_user(session, make_organization(session, OrganizationKind.DGFIP)))
    short = _request_with_history(session, dpo, vendor, instructeur, rounds=1)
    long = _request_with_history(session, dpo, vendor, instructeur, rounds=10)
    login(client, session, dpo.user)
    # auth session with user and membership, request with its parties, sections, habilitations,
    # attestations (which name the signers), timeline: six statements, however long the timeline.
    assert _statements_for_detail(client, connection, short.id) == 6
    assert _statements_for_detail(client, connection, long.id) == 6


def test_a_request_made_for_a_software_product_still_takes_six_statements(
    client: FlaskClient, session: Session, connection: Connection
) -> None:
    dpo = principal_for(make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE)))
    vendor = principal_for(make_user(session, make_organization(session, OrganizationKind.EDITEUR)))
    instructeur = principal_for(make_user(session, make_organization(session, OrganizationKind.DGFIP)))
    request = _request_with_history(session, dpo, vendor, instructeur, rounds=1)
    request.software_product = SoftwareProduct(editeur_id=vendor.organization.id, name="Cantine+", version="4.2")
    session.commit()
    login(client, session, dpo.user)
    assert _statements_for_detail(client, connection, request.id) == 6
