"""Tier S of PERFORMANCE.md (one département, 2,000 requests, about 20,000 timeline entries), seeded once
for this module: the instruction list, the instruction page and the adhesion board run a fixed number of
SQL statements whatever the page size and the timeline length (issue « DGFiP instruction and adhesion
tracking », acceptance 2); the generated data hold the mix PERFORMANCE.md sets and the invariants the
application relies on; seeding is deterministic.

The dataset lives in one transaction on one connection for the whole module, rolled back at its end;
each test works in a savepoint of it (as ``tests/conftest.py`` does for a single test), so nothing leaks
into other modules.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

import pytest
from factories import login
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from statements import count_statements

from tracker.accounts.models import DgfipFunction, Membership, Organization, OrganizationKind, User
from tracker.accounts.principal import Principal
from tracker.accounts.siret import siret_error
from tracker.attestations.models import Attestation
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.catalogue.definitions import FieldKind, ValidationContext
from tracker.catalogue.rules import content_sha256, validate_section
from tracker.datasets.cli import dataset_group
from tracker.datasets.generator import TIERS, SeedReport, seed, wipe
from tracker.db import db, utcnow
from tracker.documents.models import Document
from tracker.habilitations.deadlines import instruction_deadline
from tracker.habilitations.models import (
    Habilitation,
    HabilitationRequest,
    HabilitationState,
    RequestSection,
    TimelineEntry,
)
from tracker.habilitations.workflow import RULES, Actor, Event, SectionStatus, Stage, State
from tracker.instruction import queries
from tracker.instruction.adhesion import adhesion_of, is_stalled, tally
from tracker.instruction.filters import InstructionFilters, SortOrder
from tracker.models import Base

TIER = TIERS["S"]
SEED = 7
REFERENCE = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
# Not a hash any password matches: nobody logs in with a password in these tests.
NO_PASSWORD = "!dataset"


@pytest.fixture(scope="module")
def seeded(app: Flask, migrated_engine: Engine) -> Iterator[tuple[Connection, SeedReport]]:
    connection = migrated_engine.connect()
    transaction = connection.begin()
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        report = seed(session, TIER, seed=SEED, reference=REFERENCE, password_hash=NO_PASSWORD)
        session.commit()
    try:
        yield connection, report
    finally:
        transaction.rollback()
        connection.close()


@pytest.fixture
def connection(app: Flask, seeded: tuple[Connection, SeedReport]) -> Iterator[Connection]:
    """Replaces ``tests/conftest.py``'s for this module: the same savepoint-joined sessions, over the
    seeded data."""
    from tracker.extensions import limiter

    limiter.reset()
    connection, _report = seeded
    savepoint = connection.begin_nested()
    db.session.remove()
    db.session_factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield connection
    finally:
        db.session.remove()
        db.session_factory.configure(bind=db.engine, join_transaction_mode="conservative_savepoint")
        savepoint.rollback()


@pytest.fixture
def report(seeded: tuple[Connection, SeedReport]) -> SeedReport:
    return seeded[1]


@pytest.fixture
def instructor(session: Session) -> User:
    return (
        session.execute(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.dgfip_function == DgfipFunction.INSTRUCTEUR)
            .order_by(User.id)
        )
        .scalars()
        .first()
    )


def _page_statements(client: FlaskClient, connection: Connection, url: str) -> list[str]:
    with count_statements(connection) as statements:
        response = client.get(url)
    assert response.status_code == 200, url
    # A statement run twice by one page is the mark of a lazy load in a loop.
    assert len(set(statements)) == len(statements), statements
    return list(statements)


# --- the generated data -----------------------------------------------------------------------------


def test_tier_s_has_the_mix_of_performance_md(session: Session, report: SeedReport) -> None:
    kinds = dict(session.execute(select(Organization.kind, func.count()).group_by(Organization.kind)).all())
    assert kinds[OrganizationKind.COLLECTIVITE] == 400 + 12 + 80 + 2  # and the département's and région's councils
    communes = session.scalar(
        select(func.count()).where(Organization.siret.startswith("21"), Organization.departement_code == "33")
    )
    assert communes == 400

    by_state = select(HabilitationRequest.state, func.count()).group_by(HabilitationRequest.state)
    states = dict(session.execute(by_state).all())
    assert states == {
        State.VALIDATED: 1100,
        State.SUBMITTED: 300,
        State.CHANGES_REQUESTED: 200,
        State.DRAFT: 200,
        State.REFUSED: 100,
        State.ARCHIVED: 100,
    }
    assert report.states == {state.value: count for state, count in states.items()}

    reopened = session.scalar(
        select(func.count(func.distinct(TimelineEntry.request_id))).where(TimelineEntry.event == Event.REOPEN)
    )
    assert 0.29 <= reopened / 2000 <= 0.38, reopened  # « a third reopened at least once »
    both_stages = session.scalar(select(func.count()).where(HabilitationRequest.stage == Stage.PRODUCTION))
    assert 0.45 <= both_stages / 2000 <= 0.56, both_stages  # « half with both stages »
    entries = session.scalar(select(func.count()).select_from(TimelineEntry))
    assert 18_000 <= entries <= 22_000, entries

    created = session.execute(select(HabilitationRequest.created_at)).scalars().all()
    assert min(created) >= REFERENCE - timedelta(days=5 * 365) and max(created) <= REFERENCE
    per_month = Counter(moment.month for moment in created)
    others = [count for month, count in per_month.items() if month not in (9,)]
    assert per_month[9] > 1.5 * sum(others) / len(others), per_month  # the back-to-school peak

    longest = session.execute(
        select(TimelineEntry.request_id, func.count())
        .group_by(TimelineEntry.request_id)
        .order_by(func.count().desc())
        .limit(2)
    ).all()
    assert {request_id for request_id, _count in longest} == set(report.long_timeline_request_ids)
    assert {count for _request_id, count in longest} == {200}


def _entries_by_request(session: Session) -> dict[int, list[TimelineEntry]]:
    entries: dict[int, list[TimelineEntry]] = defaultdict(list)
    for entry in session.execute(select(TimelineEntry).order_by(TimelineEntry.created_at, TimelineEntry.id)).scalars():
        entries[entry.request_id].append(entry)
    return entries


def test_generated_requests_hold_the_invariants_the_application_relies_on(session: Session) -> None:
    organizations = {o.id: o for o in session.execute(select(Organization)).scalars()}
    assert all(siret_error(o.siret) is None for o in organizations.values())
    entries = _entries_by_request(session)
    habilitations: dict[int, list[Habilitation]] = defaultdict(list)
    for habilitation in session.execute(select(Habilitation).order_by(Habilitation.id)).scalars():
        habilitations[habilitation.request_id].append(habilitation)
    for request in session.execute(select(HabilitationRequest)).scalars():
        assert request.departement_code == organizations[request.organization_id].departement_code
        timeline = entries[request.id]
        moves = [e for e in timeline if e.event is not None]
        # The workflow table, step by step: who moved it, from where, with a reason where one is due.
        assert moves[0].event is Event.CREATE and moves[0].from_state is None
        for previous, entry in itertools.pairwise(moves):
            assert entry.from_state is previous.to_state, (request.id, entry.event)
        for entry in moves:
            rule = RULES[entry.event]
            assert Actor(entry.actor_party) in rule.actors, (request.id, entry.event, entry.actor_party)
            if Actor(entry.actor_party) in rule.reason_required_for:
                assert entry.reason
        assert moves[-1].to_state is request.state and moves[-1].stage is request.stage
        assert request.last_event_at == moves[-1].created_at
        submits = [e for e in moves if e.event is Event.SUBMIT]
        assert request.first_submitted_at == (submits[0].created_at if submits else None)
        # The deadline runs while, and only while, a request is under instruction (DOMAIN §9).
        if request.state is State.SUBMITTED:
            assert request.deadline_started_at == submits[-1].created_at
            assert request.deadline_at == instruction_deadline(request.deadline_started_at)
        else:
            assert request.deadline_at is None and request.deadline_started_at is None
        owned = habilitations[request.id]
        if request.state is State.VALIDATED:
            latest = [h for h in owned if h.stage is request.stage][-1]
            assert latest.state in (HabilitationState.ACTIVE, HabilitationState.EXPIRED)
        assert sum(h.state is HabilitationState.ACTIVE and h.stage is Stage.SANDBOX for h in owned) <= 1
        assert [f"H{h.id}" for h in owned] == [e.details["habilitation"] for e in moves if e.event is Event.APPROVE]


def test_sections_attestations_and_documents_agree_with_the_catalogue(session: Session) -> None:
    requests = {r.id: r for r in session.execute(select(HabilitationRequest)).scalars()}
    expired = set(
        session.execute(
            select(Habilitation.request_id).where(Habilitation.state == HabilitationState.EXPIRED)
        ).scalars()
    )
    attestations: dict[tuple[int, str], list[Attestation]] = defaultdict(list)
    for attestation in session.execute(select(Attestation)).scalars():
        attestations[attestation.request_id, attestation.kind].append(attestation)
    documents = {d.id: d for d in session.execute(select(Document)).scalars()}
    checked = 0
    for section in session.execute(select(RequestSection)).scalars():
        request = requests[section.request_id]
        definition = IMPOT_PARTICULIER.section(section.key)
        assert definition.stage is section.stage
        if section.status in (SectionStatus.COMPLETE, SectionStatus.ATTESTED) and request.id not in expired:
            context = ValidationContext(REFERENCE.date(), request.created_at.date(), request.use_case)
            assert validate_section(definition, section.data, context) == {}, (request.id, section.key)
            checked += 1
        covering = IMPOT_PARTICULIER.attestation_covering(section.key)
        valid = [a for a in attestations[request.id, covering.key] if a.is_valid]
        if section.status is SectionStatus.ATTESTED:
            assert section.attested_sha256 == content_sha256(section.data)
            assert len(valid) == 1 and valid[0].sections[section.key] == section.attested_sha256
        else:
            assert not valid and section.attested_sha256 is None
        for field in definition.fields:
            if field.kind is FieldKind.DOCUMENTS:
                for reference in section.data.get(field.key, []):
                    document = documents[reference["id"]]
                    assert (document.request_id, document.sha256) == (request.id, reference["sha256"])
    assert checked > 10_000


def _digest(session: Session) -> str:
    """Every row the generator writes, in primary-key order (the audit log, which dates its own
    entries, left out)."""
    digest = hashlib.sha256()
    for table in Base.metadata.sorted_tables:
        if table.name.startswith("audit"):
            continue
        for row in session.execute(select(table).order_by(*table.primary_key.columns)).all():
            digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_seeding_is_deterministic(session: Session, connection: Connection) -> None:
    before = _digest(session)
    wipe(session)
    assert session.scalar(select(func.count()).select_from(HabilitationRequest)) == 0
    again = seed(session, TIER, seed=SEED, reference=REFERENCE, password_hash=NO_PASSWORD)
    assert again.counts["habilitation_requests"] == 2000
    assert _digest(session) == before
    wipe(session)
    other = seed(session, TIER, seed=SEED + 1, reference=REFERENCE, password_hash=NO_PASSWORD)
    assert other.states == again.states and _digest(session) != before


def test_the_command_refuses_a_database_that_is_not_empty(app: Flask, connection: Connection) -> None:
    result = app.test_cli_runner().invoke(dataset_group, ["seed", "--tier", "S"])
    assert result.exit_code == 1
    assert "La base de données n'est pas vide" in result.output and "--force" in result.output


# --- a fixed number of statements -------------------------------------------------------------------


LIST_URLS = (
    "/instruction",
    "/instruction?page=2",
    "/instruction?page=7",  # the last, partial page
    "/instruction?page=400",  # past the end: no row at all
    "/instruction?etat=validated&etat=submitted&tri=collectivite&page=3",
    "/instruction?etape=production&cas=cantine_scolaire&tri=mouvement",
    "/instruction?departement=33&delai=depassee",
    "/instruction?region=75&pris_en_charge=personne&tri=numero",
    "/instruction?q=Commune+de+Saint",
    "/instruction?q=D1500",
    "/instruction?q=H20&etat=validated",
)


def test_the_instruction_list_runs_the_same_statements_whatever_it_shows(
    client: FlaskClient, session: Session, connection: Connection, instructor: User
) -> None:
    siret = session.scalar(select(Organization.siret).where(Organization.departement_code == "33").limit(1))
    login(client, session, instructor)
    client.get("/instruction")  # the login session's first touch may write once
    counts = {url: len(_page_statements(client, connection, url)) for url in (*LIST_URLS, f"/instruction?q={siret}")}
    # The login session, the count, the page, the instructors for the « pris en charge » filter, the
    # counters: five, from an empty page to a full one.
    assert set(counts.values()) == {5}, counts


@pytest.mark.parametrize(
    "filters",
    [
        InstructionFilters(states=tuple(State)),
        InstructionFilters(sort=SortOrder.ORGANIZATION, departement="33"),
        InstructionFilters(text="commune"),
    ],
    ids=["every-state", "departement-by-name", "text"],
)
def test_the_list_query_is_two_statements_whatever_the_page_size(
    session: Session, connection: Connection, instructor: User, filters: InstructionFilters
) -> None:
    principal = Principal(instructor, instructor.memberships[0])
    assert principal.organization.kind is OrganizationKind.DGFIP  # loaded before counting
    sizes = {}
    for page_size in (1, 50, 500, 5000):
        with count_statements(connection) as statements:
            rows, total = queries.search(session, principal, filters, now=utcnow(), page_size=page_size)
            [(row.assigned_to, row.organization_name) for row in rows]
        sizes[page_size] = len(statements)
        assert len(rows) == min(page_size, total)
    assert total > 500
    assert set(sizes.values()) == {2}, sizes


def test_the_instruction_page_runs_the_same_statements_whatever_the_timeline(
    client: FlaskClient, session: Session, connection: Connection, instructor: User, report: SeedReport
) -> None:
    lengths = dict(
        session.execute(
            select(TimelineEntry.request_id, func.count())
            .join(HabilitationRequest, HabilitationRequest.id == TimelineEntry.request_id)
            .where(HabilitationRequest.first_submitted_at.is_not(None))
            .group_by(TimelineEntry.request_id)
        ).all()
    )
    short = min(lengths, key=lambda request_id: (lengths[request_id], request_id))
    middle = next(request_id for request_id, count in sorted(lengths.items()) if count == 12)
    long = report.long_timeline_request_ids[0]
    assert (lengths[short], lengths[long]) == (2, 200)
    login(client, session, instructor)
    client.get(f"/demandes/{short}")
    statements = {
        request_id: _page_statements(client, connection, f"/demandes/{request_id}")
        for request_id in (short, middle, long)
    }
    assert len({len(s) for s in statements.values()}) == 1, {k: len(v) for k, v in statements.items()}


def test_the_adhesion_board_runs_the_same_statements_at_every_level(
    client: FlaskClient, session: Session, connection: Connection, instructor: User
) -> None:
    login(client, session, instructor)
    client.get("/adhesion")
    counts = {
        url: len(_page_statements(client, connection, url))
        for url in ("/adhesion", "/adhesion?region=75", "/adhesion?departement=33", "/adhesion?inactif_depuis=30")
    }
    # The login session, and the board's one statement: counts by status for France and a région, one
    # row per collectivité for a département (494 here).
    assert set(counts.values()) == {2}, counts


def test_the_board_counted_by_the_database_matches_adhesion_of(session: Session) -> None:
    now, stalled_after = utcnow(), timedelta(days=60)
    rows = queries.adhesion_rows(session)
    assert len(rows) == 494
    expected = tally(
        [
            (adhesion_of(r.facts), is_stalled(adhesion_of(r.facts), r.facts.last_move_at, now, stalled_after))
            for r in rows
        ]
    )
    counted = queries.adhesion_tallies(session, now=now, stalled_after=stalled_after)
    assert set(counted) == {"33"}
    assert (counted["33"].counts, counted["33"].stalled) == (expected.counts, expected.stalled)
    assert expected.stalled > 0 and sum(1 for count in expected.counts.values() if count) >= 4
    assert queries.adhesion_tallies(session, departements=("2A",), now=now, stalled_after=stalled_after) == {}


def test_the_dataset_kinds_are_those_of_the_territory(session: Session) -> None:
    """EPCI, syndicats and the councils carry the SIREN prefixes INSEE gives them."""
    prefixes = Counter(
        siret[:2]
        for siret in session.execute(
            select(Organization.siret).where(Organization.kind == OrganizationKind.COLLECTIVITE)
        ).scalars()
    )
    assert prefixes == {"21": 400, "24": 12, "25": 80, "22": 1, "23": 1}
