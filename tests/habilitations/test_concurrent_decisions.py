"""Concurrent writers on one request (PostgreSQL): optimistic locking lets exactly one win.

These tests commit for real (several connections must see each other's work), so they do not use the
rolled-back ``connection`` fixture; they empty every table afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from habilitations.builders import REASON, Cast, Situation, build, make_cast
from tracker.accounts.models import User
from tracker.accounts.principal import Principal
from tracker.db import make_engine
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest, TimelineEntry
from tracker.habilitations.workflow import Event, State
from tracker.models import Base

pytestmark = pytest.mark.postgresql_only


@pytest.fixture
def committing_sessions(app: Flask, database_url: str, is_postgresql: bool) -> Iterator[sessionmaker[Session]]:
    if not is_postgresql:
        pytest.skip("row-level concurrency is only meaningful on PostgreSQL")
    engine = make_engine(database_url, pool_size=25, max_overflow=0)
    try:
        yield sessionmaker(bind=engine, expire_on_commit=False)
    finally:
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        engine.dispose()


def _prepare(app: Flask, factory: sessionmaker[Session], situation: Situation) -> tuple[int, Cast]:
    with app.app_context(), factory() as session:
        cast = make_cast(session)
        request = build(session, cast, situation)
        session.commit()
        return request.id, cast


def _race(
    app: Flask,
    factory: sessionmaker[Session],
    request_id: int,
    attempts: list[tuple[Event, int]],
) -> list[str]:
    """Each attempt (event, user id) runs in its own thread and session; all read the request, then
    wait for each other before writing, so they truly collide. Returns each outcome."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[str] = [""] * len(attempts)

    def attempt(index: int, event: Event, user_id: int) -> None:
        with app.app_context(), factory() as session:
            request = session.get(HabilitationRequest, request_id)
            user = session.get(User, user_id)
            assert request is not None and user is not None
            services.facts_for(request)  # loads what the decision reads, before the race starts
            principal = Principal(user, user.memberships[0])
            barrier.wait(timeout=30)
            try:
                services.apply_event(
                    session, request, event, principal=principal, reason=REASON, expected_version=request.version
                )
                session.commit()
                outcomes[index] = "won"
            except services.StaleRequest:
                session.rollback()
                outcomes[index] = "stale"

    threads = [
        threading.Thread(target=attempt, args=(i, event, user_id)) for i, (event, user_id) in enumerate(attempts)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def _count(factory: Callable[[], Session], request_id: int, event: Event) -> int:
    with factory() as session:
        return session.execute(
            select(func.count())
            .select_from(TimelineEntry)
            .where(TimelineEntry.request_id == request_id, TimelineEntry.event == event)
        ).scalar_one()


def test_two_concurrent_submissions_one_wins(app: Flask, committing_sessions: sessionmaker[Session]) -> None:
    request_id, cast = _prepare(app, committing_sessions, Situation.FRESH_DRAFT)
    dpo = cast.collectivite.id
    outcomes = _race(app, committing_sessions, request_id, [(Event.SUBMIT, dpo), (Event.SUBMIT, dpo)])
    assert sorted(outcomes) == ["stale", "won"]
    assert _count(committing_sessions, request_id, Event.SUBMIT) == 1
    with committing_sessions() as session:
        assert session.get(HabilitationRequest, request_id).state is State.SUBMITTED  # type: ignore[union-attr]


def test_twenty_parallel_submissions_one_wins(app: Flask, committing_sessions: sessionmaker[Session]) -> None:
    request_id, cast = _prepare(app, committing_sessions, Situation.FRESH_DRAFT)
    outcomes = _race(app, committing_sessions, request_id, [(Event.SUBMIT, cast.collectivite.id)] * 20)
    assert outcomes.count("won") == 1 and outcomes.count("stale") == 19
    assert _count(committing_sessions, request_id, Event.SUBMIT) == 1


def test_approve_and_refuse_at_the_same_moment_one_wins(app: Flask, committing_sessions: sessionmaker[Session]) -> None:
    request_id, cast = _prepare(app, committing_sessions, Situation.SUBMITTED)
    with app.app_context(), committing_sessions() as session:
        from factories import make_user

        second_instructeur = make_user(session, session.get(User, cast.instructeur.id).memberships[0].organization)
        session.commit()
        second_id = second_instructeur.id
    outcomes = _race(
        app, committing_sessions, request_id, [(Event.APPROVE, cast.instructeur.id), (Event.REFUSE, second_id)]
    )
    assert sorted(outcomes) == ["stale", "won"]
    with committing_sessions() as session:
        state = session.get(HabilitationRequest, request_id).state  # type: ignore[union-attr]
    winner = Event.APPROVE if outcomes[0] == "won" else Event.REFUSE
    assert state is (State.VALIDATED if winner is Event.APPROVE else State.REFUSED)
    assert (
        _count(committing_sessions, request_id, Event.APPROVE) + _count(committing_sessions, request_id, Event.REFUSE)
        == 1
    )

