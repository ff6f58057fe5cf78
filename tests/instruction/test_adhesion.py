"""The adhesion board (DOMAIN §3.5): each collectivité's status from its requests, counts by région and
département, stalled files, drill-down, and DGFiP only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import login, make_organization
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, build, make_cast
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind
from tracker.db import utcnow
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Actor, Event
from tracker.instruction import queries
from tracker.instruction.adhesion import Adhesion, AdhesionFacts, adhesion_of, is_stalled


@pytest.mark.parametrize(
    ("facts", "status"),
    [
        (AdhesionFacts(), Adhesion.NONE),
        (AdhesionFacts(sandbox_requests_open=1), Adhesion.SANDBOX_IN_PROGRESS),
        (AdhesionFacts(sandbox_requests_open=1, active_sandbox=1), Adhesion.SANDBOX_VALIDATED),
        (AdhesionFacts(active_sandbox=1, production_requests_open=1), Adhesion.PRODUCTION_IN_PROGRESS),
        (AdhesionFacts(active_production=1, revoked=2, expired_production=1), Adhesion.IN_PRODUCTION),
        (AdhesionFacts(expired_production=1, revoked=1), Adhesion.EXPIRED),
        (AdhesionFacts(revoked=1), Adhesion.REVOKED),
    ],
)
def test_the_most_advanced_request_decides(facts: AdhesionFacts, status: Adhesion) -> None:
    assert adhesion_of(facts) is status


def test_a_file_stalls_only_while_it_has_somewhere_to_go() -> None:
    now = utcnow()
    old = now - timedelta(days=61)
    assert is_stalled(Adhesion.SANDBOX_IN_PROGRESS, old, now, timedelta(days=60))
    assert not is_stalled(Adhesion.SANDBOX_IN_PROGRESS, now - timedelta(days=59), now, timedelta(days=60))
    assert not is_stalled(Adhesion.IN_PRODUCTION, old, now, timedelta(days=60))


def _commune(session: Session, departement: str, name: str) -> Cast:
    cast = make_cast(session)
    organization = cast.collectivite.memberships[0].organization
    organization.departement_code, organization.name = departement, name
    return cast


@pytest.fixture
def board(session: Session) -> dict[str, Cast]:
    casts = {
        "merignac": _commune(session, "33", "Mérignac"),
        "pessac": _commune(session, "33", "Pessac"),
        "ajaccio": _commune(session, "2A", "Ajaccio"),
        "roubaix": _commune(session, "59", "Roubaix"),
    }
    build(session, casts["merignac"], Situation.VALIDATED_PRODUCTION)
    build(session, casts["pessac"], Situation.SUBMITTED)
    build(session, casts["ajaccio"], Situation.PRODUCTION_SUBMITTED)
    build(session, casts["roubaix"], Situation.FRESH_DRAFT)  # never submitted: DGFiP does not see it
    make_organization(session, OrganizationKind.COLLECTIVITE, name="Talence", departement_code="33")
    session.commit()
    return casts


def test_each_collectivite_gets_its_status_in_one_statement(session: Session, board: dict) -> None:
    statuses = {row.name: adhesion_of(row.facts) for row in queries.adhesion_rows(session)}
    assert statuses == {
        "Ajaccio": Adhesion.PRODUCTION_IN_PROGRESS,
        "Mérignac": Adhesion.IN_PRODUCTION,
        "Pessac": Adhesion.SANDBOX_IN_PROGRESS,
        "Roubaix": Adhesion.NONE,
        "Talence": Adhesion.NONE,
    }
    gironde = {row.name for row in queries.adhesion_rows(session, departements=("33",))}
    assert gironde == {"Mérignac", "Pessac", "Talence"}


def test_a_revoked_collectivite(session: Session, board: dict) -> None:
    merignac = board["merignac"]
    request = session.execute(
        select(HabilitationRequest).where(
            HabilitationRequest.organization_id == merignac.collectivite.memberships[0].organization_id
        )
    ).scalar_one()
    services.apply_event(
        session, request, Event.REVOKE, principal=merignac.principal(Actor.INSTRUCTEUR), reason="Fin du service."
    )
    session.commit()
    statuses = {row.name: adhesion_of(row.facts) for row in queries.adhesion_rows(session)}
    assert statuses["Mérignac"] is Adhesion.REVOKED


def test_the_board_drills_down_from_france_to_a_departement(client: FlaskClient, session: Session, board: dict) -> None:
    login(client, session, board["merignac"].rapporteur)
    france = client.get("/adhesion").get_data(as_text=True)
    assert "Nouvelle-Aquitaine" in france and "Corse" in france and "Hauts-de-France" in france
    region = client.get("/adhesion?region=75").get_data(as_text=True)
    assert "/adhesion?departement=33" in region and "Corse" not in region.split("<table", 1)[1]
    departement = client.get("/adhesion?departement=33").get_data(as_text=True)
    for name in ("Mérignac", "Pessac", "Talence"):
        assert name in departement
    assert "Ajaccio" not in departement
    assert "En production (adhérente)" in departement and "Bac à sable en cours" in departement
    # With a threshold of one day nothing is stalled yet; files move « today » in the test.
    assert "Bloqué</p>" not in client.get("/adhesion?departement=33&inactif_depuis=1").get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "status"),
    [("instructeur", 200), ("rapporteur", 200), ("collectivite", 403), ("editeur", 403), ("hebergeur", 403)],
)
def test_the_board_is_for_the_dgfip(client: FlaskClient, session: Session, board: dict, role: str, status: int) -> None:
    login(client, session, getattr(board["pessac"], role))
    assert client.get("/adhesion").status_code == status


def test_the_board_exports_its_scope(client: FlaskClient, session: Session, board: dict) -> None:
    import csv
    import io

    from openpyxl import load_workbook

    login(client, session, board["merignac"].instructeur)
    response = client.get("/adhesion/export.csv?departement=33")
    assert response.status_code == 200
    header, *lines = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert {line[0] for line in lines} == {"Mérignac", "Pessac", "Talence"}
    assert header[:2] == ["Collectivité", "SIRET"] and "Région" in header
    assert "Dossier bloqué" not in header, "no file is stalled: the column is left out"
    workbook = client.get("/adhesion/export.xlsx")
    rows = list(load_workbook(io.BytesIO(workbook.data), read_only=True)["Adhesion"].iter_rows(values_only=True))
    workbook.close()
    assert len(rows) == 1 + 5
    login(client, session, board["pessac"].collectivite)
    assert client.get("/adhesion/export.csv").status_code == 403


def test_the_board_is_one_statement(session: Session, board: dict, connection) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import event

    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        rows = queries.adhesion_rows(session)
        [adhesion_of(row.facts) for row in rows]
    finally:
        event.remove(connection, "before_cursor_execute", record)
    assert len(rows) == 5 and len(statements) == 1
