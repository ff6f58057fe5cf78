"""Concurrent decisions on one request (SECURITY C15-C16): optimistic locking lets exactly one through.

PostgreSQL only: real concurrent transactions with row locks. These tests cannot use the savepoint-joined
``connection`` fixture (every thread needs its own transaction), so they commit their data through their
own engine and delete exactly the rows they created at the end (``committed_engine``): every table's rows
above the highest id seen at the start, in reverse dependency order, and the audit chain head put back.
Nothing else writes to the database while a test runs (the rest of the suite runs in rolled-back
transactions, one test at a time), so those rows are ours.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from factories import make_user
from flask import Flask
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from habilitations.builders import Situation, build, make_cast
from tracker.accounts.models import DgfipFunction, User
from tracker.accounts.principal import Principal
from tracker.audit.models import AuditChainHead, AuditEntry
from tracker.db import Base, make_engine
from tracker.habilitations import services
from tracker.habilitations.models import Habilitation, HabilitationRequest, HabilitationState, TimelineEntry
from tracker.habilitations.workflow import Event, State

pytestmark = pytest.mark.postgresql_only

PARALLEL_SUBMITS = 20
BARRIER_TIMEOUT = 30


def _high_water_marks(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.coalesce(func.max(table.c.id), 0)))
            for table in Base.metadata.sorted_tables
            if "id" in table.c and table.name != AuditChainHead.__tablename__
        }


def _chain_head(engine: Engine) -> tuple[int, str] | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(AuditChainHead.last_seq, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
        ).first()
    return None if row is None else (row.last_seq, row.last_hash)


def _delete_our_rows(engine: Engine, marks: dict[str, int], head: tuple[int, str] | None) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in marks:
                connection.execute(delete(table).where(table.c.id > marks[table.name]))
        if head is None:
            connection.execute(delete(AuditChainHead))
        else:
            connection.execute(
                update(AuditChainHead).where(AuditChainHead.id == 1).values(last_seq=head[0], last_hash=head[1])
            )


@pytest.fixture
def committed_engine(app: Flask, database_url: str, is_postgresql: bool) -> Iterator[Engine]:
    if not is_postgresql:
        pytest.skip("concurrent transactions and row locks need PostgreSQL (TRACKER_TEST_DATABASE_URL)")
    engine = make_engine(database_url, pool_size=PARALLEL_SUBMITS + 2, max_overflow=0)
    marks, head = _high_water_marks(engine), _chain_head(engine)
    try:
        yield engine
    finally:
        _delete_our_rows(engine, marks, head)
        assert _high_water_marks(engine) == marks, "rows left behind"
        engine.dispose()


@dataclass(frozen=True)
class Committed:
    request_id: int
    collectivite_id: int
    instructeur_ids: tuple[int, int]


def _commit_situation(app: Flask, engine: Engine, situation: Situation) -> Committed:
    with app.app_context(), Session(engine) as session:
        cast = make_cast(session)
        request = build(session, cast, situation)
        dgfip = cast.instructeur.memberships[0].organization
        second = make_user(session, dgfip, dgfip_function=DgfipFunction.INSTRUCTEUR)
        session.commit()
        return Committed(request.id, cast.collectivite.id, (cast.instructeur.id, second.id))


def _race(app: Flask, engine: Engine, request_id: int, attempts: list[tuple[Event, int, str | None]]) -> list[str]:
    """Each attempt in its own thread, session and transaction; all load the request, wait for each
    other, then take their event and commit. Returns « ok » or « stale » per attempt, in order."""
    barrier = threading.Barrier(len(attempts))
    factory = sessionmaker(bind=engine)

    def attempt(event: Event, user_id: int, reason: str | None) -> str:
        with app.app_context(), factory() as session:
            request = session.get(HabilitationRequest, request_id)
            user = session.get(User, user_id)
            assert request is not None and user is not None
            principal = Principal(user, user.memberships[0])
            services.facts_for(request)  # every relation the decision reads, loaded before the race
            barrier.wait(timeout=BARRIER_TIMEOUT)
            try:
                services.apply_event(session, request, event, principal=principal, reason=reason)
                session.commit()
            except services.StaleRequest:
                session.rollback()
                return "stale"
            return "ok"

    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        futures = [pool.submit(attempt, *arguments) for arguments in attempts]
        return [future.result(timeout=BARRIER_TIMEOUT * 2) for future in futures]


def _timeline_events(engine: Engine, request_id: int) -> Counter[Event]:
    with Session(engine) as session:
        return Counter(session.scalars(select(TimelineEntry.event).where(TimelineEntry.request_id == request_id)))


def _audit_actions(engine: Engine, request_id: int) -> Counter[str]:
    with Session(engine) as session:
        return Counter(
            session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.object_type == "habilitation_request", AuditEntry.object_id == str(request_id)
                )
            )
        )


def test_a_stale_request_is_heard_as_a_409() -> None:
    assert services.StaleRequest().http_status == 409


def test_two_simultaneous_submissions_let_exactly_one_through(app: Flask, committed_engine: Engine) -> None:
    world = _commit_situation(app, committed_engine, Situation.FRESH_DRAFT)

    results = _race(app, committed_engine, world.request_id, [(Event.SUBMIT, world.collectivite_id, None)] * 2)

    assert sorted(results) == ["ok", "stale"]
    assert _timeline_events(committed_engine, world.request_id)[Event.SUBMIT] == 1
    assert _audit_actions(committed_engine, world.request_id)["request.submit"] == 1
    with Session(committed_engine) as session:
        assert session.get(HabilitationRequest, world.request_id).state is State.SUBMITTED


def test_twenty_parallel_submissions_let_exactly_one_through(app: Flask, committed_engine: Engine) -> None:
    world = _commit_situation(app, committed_engine, Situation.FRESH_DRAFT)

    results = _race(
        app, committed_engine, world.request_id, [(Event.SUBMIT, world.collectivite_id, None)] * PARALLEL_SUBMITS
    )

    assert Counter(results) == {"ok": 1, "stale": PARALLEL_SUBMITS - 1}
    assert _timeline_events(committed_engine, world.request_id)[Event.SUBMIT] == 1
    assert _audit_actions(committed_engine, world.request_id)["request.submit"] == 1


def test_approve_and_refuse_at_the_same_moment_one_wins(app: Flask, committed_engine: Engine) -> None:
    world = _commit_situation(app, committed_engine, Situation.SUBMITTED)
    approver, refuser = world.instructeur_ids

    results = _race(
        app,
        committed_engine,
        world.request_id,
        [(Event.APPROVE, approver, None), (Event.REFUSE, refuser, "Dossier incomplet")],
    )

    assert sorted(results) == ["ok", "stale"]
    decisions = _timeline_events(committed_engine, world.request_id)
    assert decisions[Event.APPROVE] + decisions[Event.REFUSE] == 1
    with Session(committed_engine) as session:
        request = session.get(HabilitationRequest, world.request_id)
        habilitations = list(session.scalars(select(Habilitation).where(Habilitation.request_id == request.id)))
        if results[0] == "ok":  # the approval won
            assert request.state is State.VALIDATED
            assert [h.state for h in habilitations] == [HabilitationState.ACTIVE]
        else:
            assert request.state is State.REFUSED
            assert habilitations == []
