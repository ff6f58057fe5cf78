"""The DGFiP instruction list (issue « DGFiP instruction and adhesion tracking »): search by number, SIRET,
name or text; filters by state, stage, use case, département, région, assignee and deadline; sort;
pagination; filters kept in the URL; a fixed number of statements; and who may use it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from factories import login, make_user
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, audit_actions_since, audit_mark, build, make_cast
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tracker.accounts.models import DgfipFunction
from tracker.db import utcnow
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Actor, Stage, State
from tracker.instruction import queries
from tracker.instruction.filters import DEFAULT_STATES, DeadlineFilter, InstructionFilters, SortOrder, parse_filters
from tracker.instruction.services import take_over

USE_CASES = frozenset({"cantine_scolaire", "place_creche"})


def _cast_in(session: Session, departement: str, name: str) -> Cast:
    cast = make_cast(session)
    organization = cast.collectivite.memberships[0].organization
    organization.departement_code = departement
    organization.name = name
    return cast


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    """Requests of three communes in three départements, in several states."""
    gironde = _cast_in(session, "33", "Commune de Mérignac")
    corse = _cast_in(session, "2A", "Commune d'Ajaccio")
    nord = _cast_in(session, "59", "Commune de Roubaix")
    requests = {
        "submitted": build(session, gironde, Situation.SUBMITTED),
        "changes": build(session, corse, Situation.CHANGES_REQUESTED),
        "validated": build(session, nord, Situation.VALIDATED),
        "production": build(session, gironde, Situation.PRODUCTION_SUBMITTED),
        "draft": build(session, nord, Situation.FRESH_DRAFT),
    }
    session.commit()
    return {"casts": {"gironde": gironde, "corse": corse, "nord": nord}, "requests": requests}


def _ids(session: Session, principal: Any, **filters: Any) -> set[int]:
    rows, total = queries.search(session, principal, InstructionFilters(**filters), now=utcnow())
    assert total == len(rows)
    return {row.id for row in rows}


def test_filters_are_read_from_the_url_and_written_back(session: Session) -> None:
    parsed = parse_filters(
        {
            "q": ["  D12 "],
            "etat": ["submitted", "inconnu"],
            "etape": ["production"],
            "cas": ["cantine_scolaire"],
            "departement": ["2a"],
            "region": ["94"],
            "pris_en_charge": ["moi"],
            "delai": ["depassee"],
            "tri": ["collectivite"],
            "page": ["3"],
        },
        use_cases=USE_CASES,
    )
    assert parsed == InstructionFilters(
        text="D12",
        states=(State.SUBMITTED,),
        stage=Stage.PRODUCTION,
        use_case="cantine_scolaire",
        departement="2A",
        region="94",
        assigned="moi",
        deadline=DeadlineFilter.OVERDUE,
        sort=SortOrder.ORGANIZATION,
        page=3,
    )
    as_url = parse_qs(urlencode(parsed.query_args(), doseq=True))
    assert parse_filters(as_url, use_cases=USE_CASES) == parsed
    # Nonsense is ignored, never an error; defaults hide validated and deleted requests.
    junk = parse_filters(
        {"etape": ["lune"], "cas": ["piscine"], "departement": ["999"], "page": ["-2"], "tri": ["x"]},
        use_cases=USE_CASES,
    )
    assert junk == InstructionFilters() and State.VALIDATED not in DEFAULT_STATES
    assert InstructionFilters().query_args() == {}
    assert InstructionFilters().query_args(page=2) == {"page": 2}


def test_default_list_hides_drafts_validated_and_archived(session: Session, world: dict) -> None:
    instructeur = world["casts"]["gironde"].principal(Actor.INSTRUCTEUR)
    requests = world["requests"]
    assert _ids(session, instructeur) == {requests["submitted"].id, requests["changes"].id, requests["production"].id}
    everything = _ids(session, instructeur, states=tuple(State))
    assert requests["validated"].id in everything and requests["draft"].id not in everything


def test_search_by_number_siret_name_and_text(session: Session, world: dict) -> None:
    instructeur = world["casts"]["gironde"].principal(Actor.INSTRUCTEUR)
    requests, all_states = world["requests"], tuple(State)
    submitted = requests["submitted"]
    assert _ids(session, instructeur, text=f"D{submitted.id}") == {submitted.id}
    assert _ids(session, instructeur, text=str(submitted.id)) == {submitted.id}
    validated = requests["validated"]
    habilitation = validated.habilitations[0]
    assert _ids(session, instructeur, text=habilitation.number, states=all_states) == {validated.id}
    siret = submitted.organization.siret
    assert _ids(session, instructeur, text=siret) == {submitted.id, requests["production"].id}
    assert _ids(session, instructeur, text=siret[:9]) == {submitted.id, requests["production"].id}
    assert _ids(session, instructeur, text="ajaccio") == {requests["changes"].id}
    # Any text of the request: here a value of the « Les personnes impliquées » section.
    assert _ids(session, instructeur, text="contact@exemple") == {
        submitted.id,
        requests["changes"].id,
        requests["production"].id,
    }
    assert _ids(session, instructeur, text="100%_") == set(), "LIKE wildcards are taken literally"


def test_filters_by_stage_use_case_departement_and_region(session: Session, world: dict) -> None:
    instructeur = world["casts"]["gironde"].principal(Actor.INSTRUCTEUR)
    requests = world["requests"]
    assert _ids(session, instructeur, stage=Stage.PRODUCTION) == {requests["production"].id}
    assert _ids(session, instructeur, use_case="place_creche") == set()
    assert len(_ids(session, instructeur, use_case="cantine_scolaire")) == 3
    assert _ids(session, instructeur, departement="2A") == {requests["changes"].id}
    assert _ids(session, instructeur, region="94") == {requests["changes"].id}  # Corse
    assert _ids(session, instructeur, region="75") == {requests["submitted"].id, requests["production"].id}
    assert _ids(session, instructeur, region="32", states=tuple(State)) == {requests["validated"].id}


def test_filters_by_assignee_and_deadline(session: Session, world: dict) -> None:
    cast = world["casts"]["gironde"]
    instructeur = cast.principal(Actor.INSTRUCTEUR)
    colleague_user = make_user(session, instructeur.organization, dgfip_function=DgfipFunction.INSTRUCTEUR)
    requests = world["requests"]
    take_over(session, requests["submitted"], principal=instructeur)
    session.commit()
    assert _ids(session, instructeur, assigned="moi") == {requests["submitted"].id}
    assert _ids(session, instructeur, assigned="personne") == {requests["changes"].id, requests["production"].id}
    assert _ids(session, instructeur, assigned=str(colleague_user.id)) == set()

    # Submitted requests run their two months; a request for changes stops the clock.
    deadline = requests["submitted"].deadline_at
    assert deadline is not None and requests["changes"].deadline_at is None
    due = InstructionFilters(deadline=DeadlineFilter.DUE_SOON)
    overdue = InstructionFilters(deadline=DeadlineFilter.OVERDUE)
    soon = deadline - timedelta(days=10)
    assert {r.id for r in queries.search(session, instructeur, due, now=soon)[0]} >= {requests["submitted"].id}
    assert queries.search(session, instructeur, overdue, now=soon)[1] == 0
    late = deadline + timedelta(days=1)
    assert requests["submitted"].id in {r.id for r in queries.search(session, instructeur, overdue, now=late)[0]}


def test_sort_orders(session: Session, world: dict) -> None:
    instructeur = world["casts"]["gironde"].principal(Actor.INSTRUCTEUR)
    by_name = queries.search(session, instructeur, InstructionFilters(sort=SortOrder.ORGANIZATION), now=utcnow())[0]
    assert [r.organization_name for r in by_name] == sorted(r.organization_name for r in by_name)
    by_number = queries.search(session, instructeur, InstructionFilters(sort=SortOrder.NUMBER), now=utcnow())[0]
    assert [r.id for r in by_number] == sorted((r.id for r in by_number), reverse=True)
    by_deadline = queries.search(session, instructeur, InstructionFilters(), now=utcnow())[0]
    deadlines = [r.deadline_at for r in by_deadline if r.deadline_at]
    assert deadlines == sorted(deadlines) and by_deadline[-1].deadline_at is None  # stopped clocks last


def test_the_list_runs_two_statements_whatever_the_page_size(
    session: Session, world: dict, connection: Connection
) -> None:
    instructeur = world["casts"]["gironde"].principal(Actor.INSTRUCTEUR)
    take_over(session, world["requests"]["production"], principal=instructeur)
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        for size in (1, 50):
            statements.clear()
            rows, _total = queries.search(
                session, instructeur, InstructionFilters(states=tuple(State)), now=utcnow(), page_size=size
            )
            [row.assigned_to for row in rows]
            assert len(statements) == 2, statements
    finally:
        event.remove(connection, "before_cursor_execute", record)


def test_the_page_keeps_filters_in_links_and_highlights_deadlines(
    client: FlaskClient, session: Session, world: dict
) -> None:
    cast = world["casts"]["gironde"]
    login(client, session, cast.instructeur)
    page = client.get("/instruction?departement=33&tri=numero").get_data(as_text=True)
    assert f"D{world['requests']['submitted'].id}" in page and f"D{world['requests']['changes'].id}" not in page
    assert 'value="33"' in page and 'value="numero" selected' in page
    assert "correspondant à la recherche" in page
    empty = client.get("/instruction?q=aucune-demande-ne-contient-ceci").get_data(as_text=True)
    assert "Aucune demande ne correspond à ces critères." in empty


ROLES = ("instructeur", "rapporteur", "collectivite", "editeur", "hebergeur", "anonyme")


@pytest.mark.parametrize("role", ROLES)
def test_instruction_routes_by_role(client: FlaskClient, session: Session, world: dict, role: str) -> None:
    """Rapporteurs see the list and act on nothing; the parties and anonymous users reach neither."""
    cast = world["casts"]["gironde"]
    request = world["requests"]["submitted"]
    if role != "anonyme":
        login(client, session, getattr(cast, role))
    listing = client.get("/instruction")
    mark = audit_mark(session)
    assignment = client.post(f"/demandes/{request.id}/prise-en-charge", data={"action": "prendre"})
    expected = {
        "instructeur": (200, 302),
        "rapporteur": (200, 403),
        "collectivite": (403, 403),
        "editeur": (403, 403),
        "hebergeur": (403, 403),
        "anonyme": (302, 302),
    }[role]
    assert (listing.status_code, assignment.status_code) == expected
    if role == "anonyme":
        assert "/connexion" in listing.headers["Location"] and "/connexion" in assignment.headers["Location"]
    if role == "instructeur":
        assert audit_actions_since(session, mark) == ["request.assigned"]
    elif role != "anonyme":
        assert audit_actions_since(session, mark) == ["access_refused"]


def test_taking_over_and_releasing_leave_the_request_version_alone(
    client: FlaskClient, session: Session, world: dict
) -> None:
    cast = world["casts"]["gironde"]
    request = world["requests"]["submitted"]
    version = request.version
    colleague = make_user(session, cast.instructeur.memberships[0].organization, full_name="Inès Colleague")
    session.commit()
    login(client, session, cast.instructeur)
    client.post(f"/demandes/{request.id}/prise-en-charge", data={"action": "prendre"})
    login(client, session, colleague)
    page = client.get(f"/demandes/{request.id}").get_data(as_text=True)
    assert cast.instructeur.full_name in page and "Reprendre la demande" in page
    client.post(f"/demandes/{request.id}/prise-en-charge", data={"action": "prendre"})
    session.expire_all()
    reloaded = session.get(HabilitationRequest, request.id)
    assert reloaded.assignment is not None and reloaded.assignment.user_id == colleague.id
    client.post(f"/demandes/{request.id}/prise-en-charge", data={"action": "liberer"})
    session.expire_all()
    reloaded = session.get(HabilitationRequest, request.id)
    assert reloaded.assignment is None and reloaded.version == version
    assert services.facts_for(reloaded).state is State.SUBMITTED


@pytest.mark.parametrize(
    "query", ["page=²", "pris_en_charge=²", "pris_en_charge=999999999999999999999999999999", "page=99999999999"]
)
def test_odd_numbers_in_the_url_are_ignored_not_a_500(
    client: FlaskClient, session: Session, world: dict, query: str
) -> None:
    login(client, session, world["casts"]["gironde"].instructeur)
    assert client.get(f"/instruction?{query}").status_code == 200


def test_text_search_ignores_case_with_accents(session: Session, world: dict) -> None:
    cast = world["casts"]["corse"]
    request = world["requests"]["changes"]
    # « Mon projet » is the section DGFiP asked to change, hence open.
    projet = request.section(Stage.SANDBOX, "projet").data  # type: ignore[union-attr]
    projet = {**projet, "description": f"{projet['description']} Référente : Bérénice Éloi."}
    services.save_section(
        session, request, "projet", projet, principal=cast.principal(Actor.COLLECTIVITE), expected_version=None
    )
    session.commit()
    instructeur = cast.principal(Actor.INSTRUCTEUR)
    for text in ("bérénice", "BÉRÉNICE", "Éloi", "éloi"):
        assert _ids(session, instructeur, text=text) == {request.id}, text


def test_counters_of_the_list(client: FlaskClient, session: Session, world: dict) -> None:
    instructeur = world["casts"]["gironde"].principal(Actor.INSTRUCTEUR)
    now = utcnow()
    assert queries.counters(session, instructeur, now=now) == queries.Counters(2, 0, 0, 1)
    deadline = world["requests"]["submitted"].deadline_at
    assert queries.counters(session, instructeur, now=deadline - timedelta(days=3)).due_soon == 2
    assert queries.counters(session, instructeur, now=deadline + timedelta(days=1)).overdue == 2
    login(client, session, world["casts"]["gironde"].instructeur)
    page = client.get("/instruction").get_data(as_text=True)
    assert "en cours d&#39;instruction" in page and "delai=depassee" in page
