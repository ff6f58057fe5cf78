"""The instruction list: search and filters over the requests DGFiP sees, in two statements (the count
and the page), whatever the page size."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, or_, select, union
from sqlalchemy.orm import Session, aliased

from tracker.accounts.models import Organization, OrganizationKind, User
from tracker.accounts.principal import Principal
from tracker.accounts.queries import dgfip_instructors
from tracker.habilitations.deadlines import DUE_SOON_DAYS
from tracker.habilitations.models import Habilitation, HabilitationRequest, HabilitationState, RequestSection
from tracker.habilitations.queries import visible_requests
from tracker.habilitations.workflow import Stage, State
from tracker.instruction.adhesion import CAN_STALL, PROGRESSION, REACHED_BY, Adhesion, AdhesionFacts, Tally
from tracker.instruction.filters import ASSIGNED_TO_ME, UNASSIGNED, DeadlineFilter, InstructionFilters, SortOrder
from tracker.instruction.models import RequestAssignment
from tracker.instruction.territories import departements_of

PAGE_SIZE = 50
# A bare number of nine digits is a SIREN, not a request number.
REQUEST_NUMBER = re.compile(r"^(?:[dD](\d{1,9})|(\d{1,8}))$")
HABILITATION_NUMBER = re.compile(r"^[hH](\d{1,9})$")
SIRET = re.compile(r"^\d{14}$")
SIREN = re.compile(r"^\d{9}$")


@dataclass(frozen=True)
class InstructionRow:
    id: int
    intitule: str
    state: State
    stage: Stage
    is_reopening: bool
    use_case: str | None
    organization_name: str
    organization_siret: str
    departement_code: str | None
    last_event_at: datetime
    deadline_at: datetime | None
    assigned_to: str | None

    @property
    def number(self) -> str:
        return f"D{self.id}"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_condition(text: str, dialect: str):  # type: ignore[no-untyped-def]
    """« D123 », « 123 » → that request; « H45 » → the request of that habilitation; 14 digits → a SIRET;
    9 digits → a SIREN; anything else → the title, the organization's name or any text of the request.

    On PostgreSQL the titles, the organizations' names and the sections' text have trigram indexes
    (migration 7a3f9e2c1d43): the matching requests are gathered through them, instead of reading every
    request's sections (800 ms on 50,000 requests). SQLite has no such index: probing each candidate
    request's own sections is the cheaper way there."""
    compact = re.sub(r"\s+", "", text)
    if match := REQUEST_NUMBER.match(compact):
        return HabilitationRequest.id == int(match.group(1) or match.group(2))
    if match := HABILITATION_NUMBER.match(compact):
        return exists().where(Habilitation.request_id == HabilitationRequest.id, Habilitation.id == int(match.group(1)))
    if SIRET.match(compact):
        return Organization.siret == compact
    if SIREN.match(compact):
        return Organization.siret.startswith(compact)
    pattern = f"%{_escape_like(text.lower())}%"

    def contains(column):  # type: ignore[no-untyped-def]
        return func.lower(column).like(pattern, escape="\\")

    section_text = contains(cast(RequestSection.data, String))
    title = contains(HabilitationRequest.intitule)
    if dialect == "postgresql":
        # Each set is read from its index once, then checked against the list's rows by hashing.
        # Aliases: the subqueries must not correlate with the list's own request and organization.
        titled, organization = aliased(HabilitationRequest), aliased(Organization)
        return or_(
            HabilitationRequest.organization_id.in_(select(organization.id).where(contains(organization.name))),
            HabilitationRequest.id.in_(
                union(
                    select(titled.id).where(contains(titled.intitule)),
                    select(RequestSection.request_id).where(section_text),
                )
            ),
        )
    return or_(
        title,
        contains(Organization.name),
        exists().where(RequestSection.request_id == HabilitationRequest.id, section_text),
    )


def _conditions(principal: Principal, filters: InstructionFilters, now: datetime, dialect: str) -> list:  # type: ignore[type-arg]
    conditions = [visible_requests(principal), HabilitationRequest.state.in_(filters.states)]
    if filters.text:
        conditions.append(_text_condition(filters.text, dialect))
    if filters.stage:
        conditions.append(HabilitationRequest.stage == filters.stage)
    if filters.use_case:
        conditions.append(HabilitationRequest.use_case == filters.use_case)
    if filters.departement:
        conditions.append(HabilitationRequest.departement_code == filters.departement)
    if filters.region:
        conditions.append(HabilitationRequest.departement_code.in_(departements_of(filters.region)))
    if filters.assigned == ASSIGNED_TO_ME:
        conditions.append(RequestAssignment.user_id == principal.user.id)
    elif filters.assigned == UNASSIGNED:
        conditions.append(RequestAssignment.user_id.is_(None))
    elif filters.assigned:
        conditions.append(RequestAssignment.user_id == int(filters.assigned))
    if filters.deadline is DeadlineFilter.OVERDUE:
        conditions.append(HabilitationRequest.deadline_at <= now)
    elif filters.deadline is DeadlineFilter.DUE_SOON:
        conditions.append(
            and_(
                HabilitationRequest.deadline_at > now,
                HabilitationRequest.deadline_at <= now + timedelta(days=DUE_SOON_DAYS),
            )
        )
    return conditions


ORDERS = {
    SortOrder.DEADLINE: (HabilitationRequest.deadline_at.is_(None), HabilitationRequest.deadline_at),
    SortOrder.LAST_MOVE: (HabilitationRequest.last_event_at.desc(),),
    SortOrder.NUMBER: (HabilitationRequest.id.desc(),),
    SortOrder.ORGANIZATION: (Organization.name,),
}


def _rows_query(principal: Principal, filters: InstructionFilters, now: datetime, dialect: str):  # type: ignore[no-untyped-def]
    return (
        select(
            HabilitationRequest.id,
            HabilitationRequest.intitule,
            HabilitationRequest.state,
            HabilitationRequest.stage,
            HabilitationRequest.is_reopening,
            HabilitationRequest.use_case,
            Organization.name,
            Organization.siret,
            HabilitationRequest.departement_code,
            HabilitationRequest.last_event_at,
            HabilitationRequest.deadline_at,
            User.full_name,
        )
        .join(Organization, Organization.id == HabilitationRequest.organization_id)
        .outerjoin(RequestAssignment, RequestAssignment.request_id == HabilitationRequest.id)
        .outerjoin(User, User.id == RequestAssignment.user_id)
        .where(*_conditions(principal, filters, now, dialect))
        .order_by(*ORDERS[filters.sort], HabilitationRequest.id)
    )


def search(
    session: Session, principal: Principal, filters: InstructionFilters, *, now: datetime, page_size: int = PAGE_SIZE
) -> tuple[list[InstructionRow], int]:
    dialect = session.get_bind().dialect.name
    base = (
        select(HabilitationRequest.id)
        .join(Organization, Organization.id == HabilitationRequest.organization_id)
        .outerjoin(RequestAssignment, RequestAssignment.request_id == HabilitationRequest.id)
        .where(*_conditions(principal, filters, now, dialect))
    )
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(
        _rows_query(principal, filters, now, dialect).limit(page_size).offset((filters.page - 1) * page_size)
    ).all()
    return [InstructionRow(*row) for row in rows], total


def all_rows(
    session: Session, principal: Principal, filters: InstructionFilters, *, now: datetime
) -> Iterator[InstructionRow]:
    """Every row of the filtered list, fetched in batches: exports stream them with flat memory."""
    dialect = session.get_bind().dialect.name
    result = session.execute(_rows_query(principal, filters, now, dialect).execution_options(yield_per=500))
    for row in result:
        yield InstructionRow(*row)


def instructors(session: Session) -> list[tuple[int, str]]:
    """DGFiP users who can take a request in hand, for the « pris en charge par » filter."""
    return [(user.id, user.full_name) for user in dgfip_instructors(session)]


@dataclass(frozen=True)
class Counters:
    submitted: int
    overdue: int
    due_soon: int
    changes_requested: int


def counters(session: Session, principal: Principal, *, now: datetime) -> Counters:
    """The figures at the top of the list, in one statement: requests under instruction, those past or
    within 15 days of their deadline, and those waiting for the parties' changes. Only those two states
    are read (a deadline runs only while a request is submitted): the index on the state spares the
    database the other requests, nine in ten on a national dataset."""
    row = session.execute(
        select(
            _sum(HabilitationRequest.state == State.SUBMITTED),
            _sum(HabilitationRequest.deadline_at <= now),
            _sum(
                and_(
                    HabilitationRequest.deadline_at > now,
                    HabilitationRequest.deadline_at <= now + timedelta(days=DUE_SOON_DAYS),
                )
            ),
            _sum(HabilitationRequest.state == State.CHANGES_REQUESTED),
        ).where(
            visible_requests(principal),
            HabilitationRequest.state.in_((State.SUBMITTED, State.CHANGES_REQUESTED)),
        )
    ).one()
    return Counters(*(int(value) for value in row))


OPEN_STATES = (State.DRAFT, State.SUBMITTED, State.CHANGES_REQUESTED)


@dataclass(frozen=True)
class CollectiviteRow:
    id: int
    name: str
    siret: str
    departement_code: str | None
    facts: AdhesionFacts


def _collectivites_of(departements: tuple[str, ...]):  # type: ignore[no-untyped-def]
    return select(Organization.id).where(
        Organization.kind == OrganizationKind.COLLECTIVITE, Organization.departement_code.in_(departements)
    )


def _adhesion_facts(departements: tuple[str, ...] | None):  # type: ignore[no-untyped-def]
    """One row per collectivité (of the given départements): its id, name, SIRET, département, and the
    fields of ``AdhesionFacts`` as columns of the same names. Only requests submitted at least once
    count: DGFiP never sees a first draft (DOMAIN §4). Restricting the two aggregates to the chosen
    départements' collectivités keeps a département's board from counting the whole country."""
    seen = HabilitationRequest.first_submitted_at.is_not(None)
    requests = select(
        HabilitationRequest.organization_id.label("organization_id"),
        _sum(and_(HabilitationRequest.stage == Stage.PRODUCTION, HabilitationRequest.state.in_(OPEN_STATES))).label(
            "production_open"
        ),
        _sum(and_(HabilitationRequest.stage == Stage.SANDBOX, HabilitationRequest.state.in_(OPEN_STATES))).label(
            "sandbox_open"
        ),
        func.max(HabilitationRequest.last_event_at).label("last_move_at"),
    ).where(seen, HabilitationRequest.state != State.ARCHIVED)
    habilitations = select(
        HabilitationRequest.organization_id.label("organization_id"),
        _sum(and_(Habilitation.stage == Stage.PRODUCTION, Habilitation.state == HabilitationState.ACTIVE)).label(
            "active_production"
        ),
        _sum(and_(Habilitation.stage == Stage.SANDBOX, Habilitation.state == HabilitationState.ACTIVE)).label(
            "active_sandbox"
        ),
        _sum(and_(Habilitation.stage == Stage.PRODUCTION, Habilitation.state == HabilitationState.EXPIRED)).label(
            "expired_production"
        ),
        _sum(Habilitation.state == HabilitationState.REVOKED).label("revoked"),
    ).join(HabilitationRequest, HabilitationRequest.id == Habilitation.request_id)
    collectivites = Organization.kind == OrganizationKind.COLLECTIVITE
    if departements is not None:
        requests = requests.where(HabilitationRequest.organization_id.in_(_collectivites_of(departements)))
        habilitations = habilitations.where(HabilitationRequest.organization_id.in_(_collectivites_of(departements)))
        collectivites = and_(collectivites, Organization.departement_code.in_(departements))
    per_request = requests.group_by(HabilitationRequest.organization_id).subquery()
    per_habilitation = habilitations.group_by(HabilitationRequest.organization_id).subquery()
    return (
        select(
            Organization.id,
            Organization.name,
            Organization.siret,
            Organization.departement_code,
            func.coalesce(per_habilitation.c.active_production, 0).label("active_production"),
            func.coalesce(per_request.c.production_open, 0).label("production_requests_open"),
            func.coalesce(per_habilitation.c.active_sandbox, 0).label("active_sandbox"),
            func.coalesce(per_request.c.sandbox_open, 0).label("sandbox_requests_open"),
            func.coalesce(per_habilitation.c.expired_production, 0).label("expired_production"),
            func.coalesce(per_habilitation.c.revoked, 0).label("revoked"),
            per_request.c.last_move_at,
        )
        .outerjoin(per_request, per_request.c.organization_id == Organization.id)
        .outerjoin(per_habilitation, per_habilitation.c.organization_id == Organization.id)
        .where(collectivites)
    )


FACT_FIELDS = tuple(field.name for field in fields(AdhesionFacts))


def adhesion_rows(session: Session, *, departements: tuple[str, ...] | None = None) -> list[CollectiviteRow]:
    """Every collectivité (of the given départements) with what its requests have reached, in one
    statement."""
    query = _adhesion_facts(departements).order_by(Organization.name, Organization.id)
    return [
        CollectiviteRow(
            id=row.id,
            name=row.name,
            siret=row.siret,
            departement_code=row.departement_code,
            facts=AdhesionFacts(**{name: getattr(row, name) for name in FACT_FIELDS}),
        )
        for row in session.execute(query)
    ]


def adhesion_tallies(
    session: Session, *, departements: tuple[str, ...] | None = None, now: datetime, stalled_after: timedelta
) -> dict[str, Tally]:
    """The board's counts by département ("" when unknown): collectivités per adhesion status and stalled
    files, counted by the database in one statement (a national board never ships 45,000 rows to Python).
    The status is ``adhesion_of`` written as SQL, from the same ``PROGRESSION`` and ``REACHED_BY``."""
    facts = _adhesion_facts(departements).subquery()
    status = case(
        *((facts.c[fact] > 0, status.value) for status in PROGRESSION if (fact := REACHED_BY[status]) is not None),
        else_=Adhesion.NONE.value,
    )
    statuses = select(
        facts.c.departement_code.label("departement_code"),
        status.label("status"),
        facts.c.last_move_at.label("last_move_at"),
    ).subquery()
    stalled = and_(
        statuses.c.status.in_([s.value for s in CAN_STALL]),
        statuses.c.last_move_at.is_not(None),
        statuses.c.last_move_at < now - stalled_after,
    )
    query = select(statuses.c.departement_code, statuses.c.status, func.count(), _sum(stalled)).group_by(
        statuses.c.departement_code, statuses.c.status
    )
    tallies: dict[str, Tally] = {}
    for departement, status_value, count, stalled_count in session.execute(query):
        tallies.setdefault(departement or "", Tally.empty()).add(
            Adhesion(status_value), int(count), stalled=int(stalled_count)
        )
    return tallies


def _sum(condition) -> Any:  # type: ignore[no-untyped-def]
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)
