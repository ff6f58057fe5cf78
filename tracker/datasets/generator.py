"""Seed a database with a generated dataset of PERFORMANCE.md's tiers (S, M, L): collectivités, éditeurs,
hébergeurs, DGFiP users, and requests in the mix of states the document sets, each with its sections,
attestations, documents, habilitations, timeline, assignment and notes.

Deterministic: the same tier, seed and reference date give the same rows, ids included. Rows are written
in chunks (SQLAlchemy Core ``executemany``; ``COPY`` on PostgreSQL), with their ids chosen here (the
database starts empty), so tier S seeds in seconds and tier M within PERFORMANCE.md's two minutes.
What the app keeps consistent, the generator keeps too: the workflow table (``history``), the catalogue's
rules (``content``), SIRETs, the denormalized columns (département, intitulé, deadline, last move), the
attestation hashes.

Simplifications, each harmless to what reads the data: earlier submissions keep their changelog but only
the latest submission of a stage keeps the full content (the only one the services read back); an
attestation appears once per signature still current (plus the one a request for changes invalidated),
not once per past round; documents exist as rows and references, without files in the storage (their
download fails: the pages that list them, and the benchmarks, do not read them).
"""

from __future__ import annotations

import enum
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any

from sqlalchemy import Table, select, text, update
from sqlalchemy.orm import Session

from tracker.accounts.models import DgfipFunction, Membership, MembershipRole, Organization, OrganizationKind, User
from tracker.accounts.siret import with_luhn_key
from tracker.attestations.models import Attestation
from tracker.audit import services as audit
from tracker.catalogue.definitions import FieldKind
from tracker.catalogue.rules import content_sha256
from tracker.datasets import content, history
from tracker.datasets.content import Certification, Hosting, Person, ProductionFacts, Profile
from tracker.datasets.history import Ending, Pace, Walk
from tracker.datasets.territory import Collectivite, CollectiviteKind, TerritoryShape, generate
from tracker.db import Base
from tracker.documents.models import Document
from tracker.habilitations.deadlines import instruction_deadline
from tracker.habilitations.models import (
    SYSTEM_NAME,
    Habilitation,
    HabilitationRequest,
    RequestSection,
    TimelineEntry,
)
from tracker.habilitations.workflow import Actor, Event, SectionStatus, Stage, State
from tracker.instruction.models import InternalNote, RequestAssignment
from tracker.products.models import SoftwareProduct

GENERATOR_VERSION = 4
DEFAULT_SEED = 20261130
AUDIT_ACTION = "dataset.seeded"
CHUNK = 1_000  # requests generated and written at a time: memory stays flat whatever the tier
YEARS = 5

MIX: dict[State, float] = {
    State.VALIDATED: 0.55,
    State.SUBMITTED: 0.15,
    State.CHANGES_REQUESTED: 0.10,
    State.DRAFT: 0.10,
    State.REFUSED: 0.05,
    State.ARCHIVED: 0.05,
}
# How far back the last move of a request still under way lies, in days (the submitted ones spread
# their deadline from two weeks overdue to two months ahead).
RECENT_WINDOW = {State.SUBMITTED: 75, State.CHANGES_REQUESTED: 100, State.DRAFT: 150}
# How many requests a collectivité of each kind makes, relatively.
REQUEST_WEIGHT = {
    CollectiviteKind.COMMUNE: 1.0,
    CollectiviteKind.EPCI: 3.0,
    CollectiviteKind.SYNDICAT: 0.3,
    CollectiviteKind.CCAS: 2.0,
    CollectiviteKind.DEPARTEMENT: 8.0,
    CollectiviteKind.REGION: 8.0,
}
LONG_TIMELINE_ROUNDS = 99  # create, submit, and 99 rounds of changes: 200 timeline entries

EDITEUR_NAMES = (
    "Civilog",
    "Mairix Logiciels",
    "Territoria Solutions",
    "Atrium Services Publics",
    "Cantina Soft",
    "Famillia",
    "Périscol Informatique",
    "Arcade Collectivités",
    "Quotient Plus",
    "Solidaris Numérique",
    "Odyssée Publique",
    "Berlioz Informatique",
    "Logiciels du Littoral",
    "Agora Éditions",
    "Numérique Rural",
)
PRODUCT_NAMES = ("Familles", "Enfance", "Portail citoyen", "Social", "Mobilité", "Scolaire")
HEBERGEUR_NAMES = (
    "Nuage Souverain",
    "Datacentre de l'Ouest",
    "Hébergement Public Numérique",
    "Infogérance Atlantique",
    "Cloud Territorial",
    "Serveurs du Massif",
    "Hexagone Hosting",
    "Baie Numérique",
)
DGFIP_NAME = "DGFiP – Bureau de l'accès aux données"
DGFIP_SIRET = "11002001300097"


class DatasetError(Exception):
    """A refused seeding, with a French message for the command line."""


@dataclass(frozen=True)
class Tier:
    name: str
    territory: TerritoryShape
    requests: int
    editeurs: int
    hebergeurs: int
    instructeurs: int
    rapporteurs: int
    long_timelines: int


NATIONAL = TerritoryShape(None, communes=34_875, epci=1_254, syndicats=8_322, ccas=635)
TIERS: dict[str, Tier] = {
    "S": Tier("S", TerritoryShape(("33",), 400, 12, 80, 0), 2_000, 6, 4, 4, 2, long_timelines=2),
    "M": Tier("M", NATIONAL, 50_000, 30, 16, 12, 4, long_timelines=5),
    "L": Tier("L", NATIONAL, 200_000, 45, 24, 20, 6, long_timelines=20),
}


@dataclass
class SeedReport:
    tier: str
    seed: int
    reference: datetime
    counts: dict[str, int]
    states: dict[str, int]
    seconds: float = 0.0
    long_timeline_request_ids: list[int] = field(default_factory=list)

    def as_details(self) -> dict[str, Any]:
        return {
            "tier": self.tier,
            "seed": self.seed,
            "generator_version": GENERATOR_VERSION,
            "reference": self.reference.isoformat(),
            "counts": self.counts,
            "states": self.states,
            "long_timeline_request_ids": self.long_timeline_request_ids,
        }


# --- writing rows -----------------------------------------------------------------------------------


class Writer:
    """Buffers rows per table and writes them in bulk, parents first.

    SQLite takes Core ``executemany`` in chunks. On PostgreSQL, psycopg's ``executemany`` still sends one
    INSERT per row (about 20,000 rows a second here, which puts tier M past its two minutes); ``COPY``,
    on the same connection and in the same transaction, writes the same rows four times faster."""

    ORDER: tuple[Table, ...] = tuple(
        model.__table__  # type: ignore[misc]
        for model in (
            Organization,
            User,
            Membership,
            SoftwareProduct,
            HabilitationRequest,
            Habilitation,
            RequestSection,
            Document,
            Attestation,
            TimelineEntry,
            RequestAssignment,
            InternalNote,
        )
    )

    def __init__(self, session: Session) -> None:
        self.connection = session.connection()
        self.uses_copy = self.connection.dialect.name == "postgresql"
        if self.uses_copy:
            # The trigram (GIN) indexes take new rows into a pending list merged when it fills up:
            # merging rarely, in large batches, is what makes a bulk load into them affordable.
            self.connection.execute(text("SET LOCAL gin_pending_list_limit = '256MB'"))
        self.rows: dict[Table, list[dict[str, Any]]] = {table: [] for table in self.ORDER}
        self.counts: Counter[str] = Counter()

    def add(self, table: Table, row: dict[str, Any]) -> None:
        self.rows[table].append(row)

    def flush(self) -> None:
        for table in self.ORDER:
            rows = self.rows[table]
            if not rows:
                continue
            if self.uses_copy:
                self._copy(table, rows)
            else:
                for start in range(0, len(rows), 5_000):
                    self.connection.execute(table.insert(), rows[start : start + 5_000])
            self.counts[table.name] += len(rows)
            rows.clear()

    def _copy(self, table: Table, rows: list[dict[str, Any]]) -> None:
        columns = [column.name for column in table.columns]
        cursor = self.connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([_copy_value(row[column]) for column in columns])


def _copy_value(value: Any) -> Any:
    """What ``COPY`` needs where Core's column types would have converted: enums by value, JSON as text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value


class Ids:
    """Primary keys handed out in order, one sequence per table."""

    def __init__(self) -> None:
        self._last: Counter[str] = Counter()

    def next(self, table: str) -> int:
        self._last[table] += 1
        return self._last[table]


# --- the calendar -----------------------------------------------------------------------------------


def _seasonal_weight(day: date) -> float:
    """Requests cluster at the start of the school year (cantine, périscolaire, crèche) and thin out in
    summer and over Christmas."""
    if (day.month, day.day) >= (8, 20) and (day.month, day.day) <= (10, 15):
        return 3.0
    if day.month == 7 or (day.month == 8 and day.day < 20) or (day.month == 12 and day.day > 20):
        return 0.5
    return 1.0


def seasonal_day(rng: random.Random, earliest: date, latest: date) -> date:
    span = max((latest - earliest).days, 0)
    while True:
        day = earliest + timedelta(days=rng.randint(0, span))
        if rng.random() * 3.0 < _seasonal_weight(day):
            return day


@dataclass(frozen=True)
class Calendar:
    """Turns a walk's day offsets into instants: ``start`` plus ``scale`` times the offset."""

    start: datetime
    scale: float

    def at(self, offset: float) -> datetime:
        return self.start + timedelta(days=offset * self.scale)


def place(rng: random.Random, walk: Walk, final: State, reference: datetime) -> Calendar:
    """Requests still under way moved recently; the others were created on any working day of the
    last five years, more often at the start of the school year. Histories longer than the window are
    compressed into it."""
    limit = YEARS * 365 - 2
    total = max(walk.now, 0.01)
    if final in RECENT_WINDOW:
        back = rng.uniform(0, RECENT_WINDOW[final])
        scale = min(1.0, (limit - back) / total)
        return Calendar(reference - timedelta(days=back + total * scale), scale)
    scale = min(1.0, limit / total)
    earliest = (reference - timedelta(days=YEARS * 365)).date()
    latest = (reference - timedelta(days=total * scale + 1)).date()
    day = seasonal_day(rng, earliest, max(latest, earliest))
    start = datetime.combine(day, clock(7, 30), tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 540))
    return Calendar(start, scale)


# --- the parties ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Party:
    """An organization as the requests need it, with the user acting for it."""

    organization_id: int
    name: str
    siret: str
    kind: str
    departement: str
    user_id: int
    user: Person


@dataclass(frozen=True)
class Editeur:
    party: Party
    products: tuple[tuple[int, str, str], ...]  # (id, name, version)


@dataclass
class World:
    """The organizations and users written before the requests."""

    collectivites: list[Collectivite]
    collectivite_ids: list[int]
    editeurs: list[Editeur]
    hebergeurs: list[Party]
    instructors: list[tuple[int, str]]
    dgfip_id: int
    users_by_collectivite: dict[int, Party] = field(default_factory=dict)


def _organization_row(
    ids: Ids, kind: OrganizationKind, name: str, siret: str, departement: str | None, created_at: datetime
) -> dict[str, Any]:
    return {
        "id": ids.next("organizations"),
        "kind": kind,
        "name": name,
        "siret": siret,
        "departement_code": departement,
        "is_active": True,
        "created_at": created_at,
    }


def _user(
    writer: Writer,
    ids: Ids,
    emails: set[str],
    person: Person,
    organization_id: int,
    created_at: datetime,
    password_hash: str,
    *,
    role: MembershipRole = MembershipRole.ADMIN,
    dgfip_function: DgfipFunction | None = None,
) -> int:
    user_id = ids.next("users")
    email = person.email
    if email in emails:
        local, domain = email.split("@")
        email = f"{local}.{user_id}@{domain}"
    emails.add(email)
    writer.add(
        User.__table__,  # type: ignore[arg-type]
        {
            "id": user_id,
            "email": email,
            "full_name": person.full_name,
            "job_title": person.function,
            "password_hash": password_hash,
            "is_active": True,
            "created_at": created_at,
            "last_login_at": None,
        },
    )
    writer.add(
        Membership.__table__,  # type: ignore[arg-type]
        {
            "id": ids.next("memberships"),
            "user_id": user_id,
            "organization_id": organization_id,
            "role": role,
            "dgfip_function": dgfip_function,
            "created_at": created_at,
        },
    )
    return user_id


def _company_siret(prefix: str, number: int) -> str:
    return with_luhn_key(f"{prefix}{number:07d}0001")


def company_domain(name: str) -> str:
    return f"{content.ascii_slug(name)}.exemple.fr"


def build_world(
    writer: Writer, ids: Ids, rng: random.Random, tier: Tier, reference: datetime, password_hash: str
) -> tuple[World, set[str]]:
    since = reference - timedelta(days=YEARS * 365 + 30)
    emails: set[str] = set()
    collectivites = list(generate(tier.territory, rng))
    collectivite_ids = []
    for collectivite in collectivites:
        row = _organization_row(
            ids,
            OrganizationKind.COLLECTIVITE,
            collectivite.name,
            collectivite.siret,
            collectivite.departement_code,
            since,
        )
        writer.add(Organization.__table__, row)  # type: ignore[arg-type]
        collectivite_ids.append(row["id"])
    dgfip = _organization_row(ids, OrganizationKind.DGFIP, DGFIP_NAME, DGFIP_SIRET, "75", since)
    writer.add(Organization.__table__, dgfip)  # type: ignore[arg-type]
    instructors = []
    for number in range(tier.instructeurs + tier.rapporteurs):
        is_instructor = number < tier.instructeurs
        agent = content.person(rng, "dgfip.exemple.fr", "Instructeur" if is_instructor else "Rapporteur", "01 40")
        user_id = _user(
            writer,
            ids,
            emails,
            agent,
            dgfip["id"],
            since,
            password_hash,
            role=MembershipRole.ADMIN if number == 0 else MembershipRole.MEMBER,
            dgfip_function=DgfipFunction.INSTRUCTEUR if is_instructor else DgfipFunction.RAPPORTEUR,
        )
        if is_instructor:
            instructors.append((user_id, agent.full_name))
    editeurs = []
    for number in range(tier.editeurs):
        name = EDITEUR_NAMES[number % len(EDITEUR_NAMES)] + ("" if number < len(EDITEUR_NAMES) else f" {number}")
        departement = rng.choice(tier.territory.departement_codes)
        row = _organization_row(
            ids, OrganizationKind.EDITEUR, f"{name} SAS", _company_siret("41", number), departement, since
        )
        writer.add(Organization.__table__, row)  # type: ignore[arg-type]
        domain = company_domain(name)
        contact = content.person(rng, domain, "Chef de projet", content.phone_prefix(departement))
        user_id = _user(writer, ids, emails, contact, row["id"], since, password_hash)
        products = []
        for product_name in rng.sample(PRODUCT_NAMES, rng.randint(1, 3)):
            product_id = ids.next("software_products")
            version = f"{rng.randint(2, 9)}.{rng.randint(0, 9)}"
            writer.add(
                SoftwareProduct.__table__,  # type: ignore[arg-type]
                {
                    "id": product_id,
                    "editeur_id": row["id"],
                    "name": f"{name} {product_name}",
                    "version": version,
                    "created_by_id": user_id,
                    "created_at": since,
                },
            )
            products.append((product_id, f"{name} {product_name}", version))
        party = Party(row["id"], row["name"], row["siret"], "editeur", departement, user_id, contact)
        editeurs.append(Editeur(party, tuple(products)))
    hebergeurs = []
    for number in range(tier.hebergeurs):
        name = HEBERGEUR_NAMES[number % len(HEBERGEUR_NAMES)] + ("" if number < len(HEBERGEUR_NAMES) else f" {number}")
        departement = rng.choice(tier.territory.departement_codes)
        row = _organization_row(
            ids, OrganizationKind.HEBERGEUR, f"{name} SAS", _company_siret("52", number), departement, since
        )
        writer.add(Organization.__table__, row)  # type: ignore[arg-type]
        contact = content.person(rng, company_domain(name), "Responsable sécurité", content.phone_prefix(departement))
        user_id = _user(writer, ids, emails, contact, row["id"], since, password_hash)
        hebergeurs.append(Party(row["id"], row["name"], row["siret"], "hebergeur", departement, user_id, contact))
    world = World(collectivites, collectivite_ids, editeurs, hebergeurs, instructors, dgfip["id"])
    return world, emails


def _collectivite_party(
    world: World,
    writer: Writer,
    ids: Ids,
    emails: set[str],
    rng: random.Random,
    index: int,
    since: datetime,
    password_hash: str,
) -> Party:
    """The collectivité's user, created with its first request."""
    organization_id = world.collectivite_ids[index]
    if organization_id in world.users_by_collectivite:
        return world.users_by_collectivite[organization_id]
    collectivite = world.collectivites[index]
    domain = content.collectivite_domain(collectivite.name, collectivite.departement_code)
    prefix = content.phone_prefix(collectivite.departement_code)
    agent = content.person(rng, domain, "Délégué à la protection des données", prefix)
    user_id = _user(writer, ids, emails, agent, organization_id, since, password_hash)
    party = Party(
        organization_id,
        collectivite.name,
        collectivite.siret,
        collectivite.kind,
        collectivite.departement_code,
        user_id,
        agent,
    )
    world.users_by_collectivite[organization_id] = party
    return party


# --- one request ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    final: State
    production: bool = False
    updates: int = 0
    ending: Ending = Ending.SANDBOX
    expired: bool = False
    cancel_production: bool = False
    rounds: int | None = None


def plan_for(rng: random.Random, final: State) -> Plan:
    """Which history leads to ``final``: tuned so that a third of the requests were reopened at least
    once and half reached the production stage (PERFORMANCE.md's mix)."""
    draw = rng.random()
    if final is State.VALIDATED:
        production = rng.random() < 0.62
        cancel = not production and rng.random() < 0.06
        updates = 0 if draw < 0.58 else (1 if draw < 0.92 else 2)
        return Plan(
            final,
            production=production,
            updates=updates,
            expired=production and rng.random() < 0.04,
            cancel_production=cancel,
        )
    if final in (State.SUBMITTED, State.CHANGES_REQUESTED, State.DRAFT):
        if final is State.DRAFT and draw < 0.5:
            return Plan(final, ending=Ending.FIRST_DRAFT)
        reopening = rng.random() < (0.5 if final is State.DRAFT else 0.3)
        production = rng.random() < (0.5 if reopening else 0.45)
        if reopening:
            return Plan(final, production=production, updates=1, ending=Ending.REOPENING)
        return Plan(final, production=production, ending=Ending.PRODUCTION if production else Ending.SANDBOX)
    if final is State.REFUSED:
        production = draw < 0.4
        return Plan(final, production=production, updates=1 if production and rng.random() < 0.3 else 0)
    ending = (
        Ending.ARCHIVED_DRAFT if draw < 0.6 else (Ending.ARCHIVED_REFUSAL if draw < 0.9 else Ending.ARCHIVED_REVOCATION)
    )
    return Plan(final, ending=ending, production=ending is Ending.ARCHIVED_REVOCATION and rng.random() < 0.3)


def final_states(rng: random.Random, total: int) -> list[State]:
    """Exactly the mix (largest remainders), shuffled."""
    shares = {state: share * total for state, share in MIX.items()}
    counts = {state: int(value) for state, value in shares.items()}
    for state in sorted(shares, key=lambda s: shares[s] - counts[s], reverse=True)[: total - sum(counts.values())]:
        counts[state] += 1
    states = [state for state, count in counts.items() for _ in range(count)]
    rng.shuffle(states)
    return states


@dataclass
class Situation:
    """What the sections look like at the end, derived from the walk."""

    sandbox: bool  # the sandbox sections were submitted at least once
    production: bool  # the request is in its production stage, submitted at least once
    changes_requested: tuple[str, ...]


def situation_of(walk: Walk) -> Situation:
    production_submitted = walk.submissions[Stage.PRODUCTION] > 0
    return Situation(
        sandbox=walk.submissions[Stage.SANDBOX] > 0,
        production=production_submitted and walk.stage is Stage.PRODUCTION,
        changes_requested=walk.changes_requested_sections,
    )


@dataclass
class SectionState:
    """One section as it ends up; its signature is kept when a request for changes voided it (the
    habilitation approved before still shows who attested it)."""

    stage: Stage
    data: dict[str, Any]
    status: SectionStatus
    sha256: str
    signed_at: datetime | None = None
    signer_id: int | None = None
    attestation_id: int | None = None  # the attestation still valid


class RequestBuilder:
    """Writes one request and everything hanging from it."""

    def __init__(self, writer: Writer, ids: Ids, world: World, reference: datetime) -> None:
        self.writer = writer
        self.ids = ids
        self.world = world
        self.reference = reference
        self.today = reference.date()
        self.instructor_count = len(world.instructors)

    def _hosting(
        self, rng: random.Random, collectivite: Party, editeur: Editeur, created_on: date
    ) -> tuple[Hosting, int]:
        draw = rng.random()
        if draw < 0.15:
            return Hosting(collectivite.name, collectivite.siret, "france", (), "Aucun"), collectivite.organization_id
        if draw < 0.45:
            organization, hosting_id = editeur.party, editeur.party.organization_id
        else:
            organization = rng.choice(self.world.hebergeurs)
            hosting_id = organization.organization_id
        keys = rng.sample(("hds", "secnumcloud", "iso27001"), rng.randint(1, 2))
        certifications = tuple(
            Certification(
                key,
                created_on - timedelta(days=rng.randrange(30, 700)),
                self.today + timedelta(days=rng.randrange(200, 1100)),
            )
            for key in sorted(keys)
        )
        location = "france" if rng.random() < 0.95 else "union_europeenne"
        subcontractors = "Aucun" if rng.random() < 0.7 else "Maintenance des serveurs : Infogérance Atlantique (France)"
        return Hosting(organization.name, organization.siret, location, certifications, subcontractors), hosting_id

    def build(self, rng: random.Random, collectivite: Party, plan: Plan, instructor: int) -> int:
        walk = history.walk(
            rng,
            plan.final,
            production=plan.production,
            updates=plan.updates,
            instructor=instructor,
            instructors=self.instructor_count,
            pace=Pace(),
            ending=plan.ending,
            expired=plan.expired,
            cancel_production=plan.cancel_production,
            rounds=plan.rounds,
        )
        calendar = place(rng, walk, plan.final, self.reference)
        created_at = calendar.at(0)
        situation = situation_of(walk)
        designated = situation.sandbox or rng.random() < 0.5
        editeur = rng.choices(self.world.editeurs, weights=[1 / (i + 1) for i in range(len(self.world.editeurs))])[0]
        product = rng.choice(editeur.products)
        hosting, hebergeur_id = self._hosting(rng, collectivite, editeur, created_at.date())
        profile = content.build_profile(
            rng,
            collectivite_name=collectivite.name,
            collectivite_kind=collectivite.kind,
            collectivite_siret=collectivite.siret,
            departement=collectivite.departement,
            created_on=created_at.date(),
            software=(product[1], product[2]),
            technical_contact=editeur.party.user,
            hosting=hosting,
            dpo=collectivite.user,
        )
        for certification in hosting.certifications:
            profile.documents.append(content.new_document(rng, "hebergement", f"{certification.key}_certificat"))
        request_id = self.ids.next("habilitation_requests")
        production_facts = self._production_facts(rng, walk, calendar, profile)
        for document in profile.documents:  # sections reference documents by id: number them first
            document.id = self.ids.next("documents")
        owners = {
            Actor.COLLECTIVITE: collectivite,
            Actor.EDITEUR: editeur.party,
            Actor.HEBERGEUR: self._party_by_id(hebergeur_id, collectivite, editeur),
        }
        sections = self._sections(
            rng, request_id, walk, calendar, situation, profile, production_facts, owners, designated
        )
        habilitation_ids = self._habilitations(request_id, walk, calendar, sections)
        self._timeline(request_id, walk, calendar, collectivite, habilitation_ids, sections, profile)
        last_move = max(calendar.at(step.at) for step in walk.steps if step.event is not None)
        cgu = content.API.current_cgu[walk.stage]
        deadline_started = calendar.at(walk.deadline_started_at) if walk.deadline_started_at is not None else None
        self.writer.add(
            HabilitationRequest.__table__,  # type: ignore[arg-type]
            {
                "id": request_id,
                "api": content.API.key,
                "organization_id": collectivite.organization_id,
                "editeur_id": editeur.party.organization_id if designated else None,
                "hebergeur_id": hebergeur_id if designated else None,
                "state": walk.state,
                "stage": walk.stage,
                "is_reopening": walk.is_reopening,
                "intitule": sections["projet"].data.get("intitule", "") if "projet" in sections else "",
                "use_case": profile.use_case,
                "departement_code": collectivite.departement,
                "created_by_id": collectivite.user_id,
                "created_at": created_at,
                "last_event_at": last_move,
                "first_submitted_at": calendar.at(walk.first_submitted_at)
                if walk.first_submitted_at is not None
                else None,
                "deadline_started_at": deadline_started,
                "deadline_at": instruction_deadline(deadline_started),
                "cgu_version": cgu.version if walk.cgu_accepted_at is not None else None,
                "cgu_sha256": cgu.sha256 if walk.cgu_accepted_at is not None else None,
                "cgu_accepted_at": calendar.at(walk.cgu_accepted_at) if walk.cgu_accepted_at is not None else None,
                "cgu_accepted_by_id": collectivite.user_id if walk.cgu_accepted_at is not None else None,
                "software_product_id": product[0] if designated else None,
                "editeur_sandbox_habilitation_id": None,
                "version": len(walk.steps) + len(sections),
            },
        )
        self._follow_up(rng, request_id, walk, calendar, last_move)
        return request_id

    def _party_by_id(self, organization_id: int, collectivite: Party, editeur: Editeur) -> Party:
        if organization_id == collectivite.organization_id:
            return collectivite
        if organization_id == editeur.party.organization_id:
            return editeur.party
        return next(h for h in self.world.hebergeurs if h.organization_id == organization_id)

    def _production_facts(
        self, rng: random.Random, walk: Walk, calendar: Calendar, profile: Profile
    ) -> ProductionFacts | None:
        submits = [step for step in walk.steps if step.event is Event.SUBMIT and step.stage is Stage.PRODUCTION]
        starts = [step for step in walk.steps if step.event is Event.START_PRODUCTION]
        if not starts:
            return None
        first = calendar.at(submits[0].at if submits else walk.now).date()
        expiry = next((step for step in walk.steps if step.notice), None)
        if expiry is not None:
            until = calendar.at(expiry.at).date() - timedelta(days=1)
        else:
            until = max(first + timedelta(days=3 * 365), self.today + timedelta(days=rng.randrange(30, 1000)))
        tested_on = min(first - timedelta(days=rng.randrange(3, 30)), self.today)
        profile.documents.append(content.new_document(rng, "homologation", "homologation_decision"))
        return ProductionFacts(
            tested_on=tested_on,
            homologation_from=min(tested_on, until - timedelta(days=365)),
            homologation_until=until,
            authority=profile.responsable,
        )

    def _sections(
        self,
        rng: random.Random,
        request_id: int,
        walk: Walk,
        calendar: Calendar,
        situation: Situation,
        profile: Profile,
        production: ProductionFacts | None,
        owners: dict[Actor, Party],
        designated: bool,
    ) -> dict[str, SectionState]:
        """The request's sections as they end up, with their attestations and documents written."""
        sections = self._contents(rng, walk, situation, profile, production, designated)
        self._attest(rng, request_id, walk, calendar, situation, sections, owners)
        created = calendar.at(0)
        for document in profile.documents:
            if document.section_key not in sections:
                continue
            owner = owners[content.API.section(document.section_key).owner]
            self.writer.add(
                Document.__table__,  # type: ignore[arg-type]
                {
                    "id": document.id,
                    "request_id": request_id,
                    "stage": content.API.section(document.section_key).stage,
                    "section_key": document.section_key,
                    "field_key": document.field_key,
                    # The storage's own key format (40 hexadecimal digits); no file is written under it.
                    "storage_key": document.sha256[:40],
                    "filename": document.name,
                    "kind": "pdf",
                    "content_type": "application/pdf",
                    "size": document.size,
                    "sha256": document.sha256,
                    "page_count": document.page_count,
                    "uploaded_by_id": owner.user_id,
                    "uploaded_by_organization_id": owner.organization_id,
                    "created_at": created,
                },
            )
        for key, section in sections.items():
            attested = section.status is SectionStatus.ATTESTED
            self.writer.add(
                RequestSection.__table__,  # type: ignore[arg-type]
                {
                    "id": self.ids.next("request_sections"),
                    "request_id": request_id,
                    "stage": section.stage,
                    "key": key,
                    "data": section.data,
                    "status": section.status,
                    "updated_at": section.signed_at or created,
                    "updated_by_id": owners[content.API.section(key).owner].user_id,
                    "attested_sha256": section.sha256 if attested else None,
                    "attested_at": section.signed_at if attested else None,
                    "attested_by_id": section.signer_id if attested else None,
                    "is_change_requested": key in situation.changes_requested,
                },
            )
        return sections

    def _contents(
        self,
        rng: random.Random,
        walk: Walk,
        situation: Situation,
        profile: Profile,
        production: ProductionFacts | None,
        designated: bool,
    ) -> dict[str, SectionState]:
        """Submitted stages: every section complete and to be attested. A first draft: what creation
        prefilled, and sometimes a few sections done. A production stage just opened: maybe the éditeur's
        tests reported."""
        planned: dict[str, tuple[Stage, dict[str, Any], SectionStatus]] = {}
        if situation.sandbox:
            for key, build in content.SANDBOX_CONTENT.items():
                planned[key] = (Stage.SANDBOX, build(profile), SectionStatus.ATTESTED)
        else:
            for key, data in content.prefilled_sections(profile).items():
                planned[key] = (Stage.SANDBOX, data, SectionStatus.IN_PROGRESS)
            if rng.random() < 0.5:
                for key in ("donnees", "contacts"):
                    planned[key] = (Stage.SANDBOX, content.SANDBOX_CONTENT[key](profile), SectionStatus.COMPLETE)
            if designated and profile.software is not None:
                software = {"logiciel_nom": profile.software[0], "logiciel_version": profile.software[1]}
                planned["modalites"] = (Stage.SANDBOX, software, SectionStatus.IN_PROGRESS)
        if production is not None and walk.stage is Stage.PRODUCTION:
            for key, build_production in content.PRODUCTION_CONTENT.items():
                if situation.production:
                    planned[key] = (Stage.PRODUCTION, build_production(profile, production), SectionStatus.ATTESTED)
                elif key == "recette_fonctionnelle" and rng.random() < 0.6:
                    planned[key] = (Stage.PRODUCTION, build_production(profile, production), SectionStatus.COMPLETE)
        return {
            key: SectionState(stage, data, status, content_sha256(data))
            for key, (stage, data, status) in planned.items()
        }

    def _attest(
        self,
        rng: random.Random,
        request_id: int,
        walk: Walk,
        calendar: Calendar,
        situation: Situation,
        sections: dict[str, SectionState],
        owners: dict[Actor, Party],
    ) -> None:
        """Each owning party signs the attestations of its submitted sections shortly before the last
        submission of their stage; a request for changes since voided those covering the named sections,
        whose sections are back to « complete »."""
        last_submit = {
            stage: max(
                (calendar.at(s.at) for s in walk.steps if s.event is Event.SUBMIT and s.stage is stage), default=None
            )
            for stage in Stage
        }
        voided = {content.API.attestation_covering(key).key for key in situation.changes_requested}
        request_changes = next((s for s in reversed(walk.steps) if s.event is Event.REQUEST_CHANGES), None)
        for definition in content.API.attestations:
            covered_sections = [sections.get(key) for key in definition.sections]
            if any(section is None or section.status is not SectionStatus.ATTESTED for section in covered_sections):
                continue
            signer = owners[definition.owner]
            signed_at = (last_submit[definition.stage] or calendar.at(0)) - timedelta(
                minutes=30 + rng.randrange(0, 600)
            )
            covered = {key: sections[key].data for key in definition.sections}
            is_voided = definition.key in voided and request_changes is not None
            attestation_id = self.ids.next("attestations")
            self.writer.add(
                Attestation.__table__,  # type: ignore[arg-type]
                {
                    "id": attestation_id,
                    "request_id": request_id,
                    "stage": definition.stage,
                    "kind": definition.key,
                    "statement_version": definition.statement.version,
                    "statement_sha256": definition.statement.sha256,
                    "content_sha256": content_sha256(covered),
                    "sections": {key: sections[key].sha256 for key in definition.sections},
                    "documents": [
                        {"section": key, "field": field.key, **reference}
                        for key in definition.sections
                        for field in content.API.section(key).fields
                        if field.kind is FieldKind.DOCUMENTS
                        for reference in covered[key].get(field.key, [])
                    ],
                    "signer_id": signer.user_id,
                    "signer_name": signer.user.full_name,
                    "signer_function": signer.user.function,
                    "organization_id": signer.organization_id,
                    "organization_name": signer.name,
                    "signed_at": signed_at,
                    "invalidated_at": calendar.at(request_changes.at) if is_voided and request_changes else None,
                    "invalidation_reason": "La DGFiP demande des modifications de la section « "
                    f"{content.API.section(situation.changes_requested[0]).label} »."
                    if is_voided
                    else None,
                },
            )
            for key in definition.sections:
                section = sections[key]
                section.signed_at, section.signer_id = signed_at, signer.user_id
                if is_voided:
                    section.status = SectionStatus.COMPLETE
                else:
                    section.attestation_id = attestation_id

    def _habilitations(
        self,
        request_id: int,
        walk: Walk,
        calendar: Calendar,
        sections: dict[str, SectionState],
    ) -> list[int]:
        """Each approval's snapshot: the sections of its stages as they were attested."""
        ids = []
        for habilitation in walk.habilitations:
            habilitation_id = self.ids.next("habilitations")
            ids.append(habilitation_id)
            stages = {Stage.SANDBOX} if habilitation.stage is Stage.SANDBOX else set(Stage)
            snapshot_sections = {
                f"{section.stage.value}/{key}": {
                    "data": section.data,
                    "status": SectionStatus.ATTESTED.value,
                    "attested_sha256": section.sha256,
                    "attested_at": section.signed_at.isoformat() if section.signed_at else None,
                    "attested_by_id": section.signer_id,
                }
                for key, section in sections.items()
                if section.stage in stages
            }
            expires_on = None
            if habilitation.stage is Stage.PRODUCTION:
                dates = content.API.followed_dates(
                    {key.split("/", 1)[1]: saved["data"] for key, saved in snapshot_sections.items()}
                )
                expires_on = dates[0][1] if dates else None
            cgu = content.API.current_cgu[habilitation.stage]
            self.writer.add(
                Habilitation.__table__,  # type: ignore[arg-type]
                {
                    "id": habilitation_id,
                    "request_id": request_id,
                    "stage": habilitation.stage,
                    "state": habilitation.state,
                    "snapshot": {
                        "sections": snapshot_sections,
                        "request": {
                            "intitule": sections["projet"].data["intitule"],
                            "use_case": sections["projet"].data.get("use_case"),
                        },
                        "attestations": sorted(
                            {s.attestation_id for s in sections.values() if s.attestation_id and s.stage in stages}
                        ),
                        "cgu": {"version": cgu.version, "sha256": cgu.sha256},
                    },
                    "approved_by_id": self.world.instructors[habilitation.approved_by][0],
                    "created_at": calendar.at(habilitation.created_at),
                    "ended_at": calendar.at(habilitation.ended_at) if habilitation.ended_at is not None else None,
                    "end_reason": habilitation.end_reason,
                    "expires_on": expires_on,
                },
            )
        return ids

    def _timeline(
        self,
        request_id: int,
        walk: Walk,
        calendar: Calendar,
        collectivite: Party,
        habilitation_ids: list[int],
        sections: dict[str, SectionState],
        profile: Profile,
    ) -> None:
        latest_submit = {
            stage: max(
                (i for i, s in enumerate(walk.steps) if s.event is Event.SUBMIT and s.stage is stage), default=None
            )
            for stage in Stage
        }
        for index, step in enumerate(walk.steps):
            details: dict[str, Any] = {}
            if step.event is Event.CREATE:
                details["use_case"] = profile.use_case
            elif step.event is Event.SUBMIT:
                if step.first_submission:
                    details["first_submission"] = True
                else:
                    compared = step.compared_with_habilitation
                    details["compared_with"] = (
                        f"l'habilitation H{habilitation_ids[compared]}"
                        if compared is not None
                        else "la soumission précédente"
                    )
                    answered = step.answers or (("projet",) if step.stage is Stage.SANDBOX else ("volumetrie",))
                    details["changes"] = [content.change_of(key) for key in answered]
                if index == latest_submit[step.stage]:
                    details["content"] = {
                        f"{section.stage.value}/{key}": section.data for key, section in sections.items()
                    }
            elif step.event is Event.REQUEST_CHANGES:
                details["sections"] = list(step.sections)
            elif step.ended:
                details["habilitations"] = [f"H{habilitation_ids[i]}" for i in step.ended]
            if step.habilitation is not None and step.event is not Event.SUBMIT:
                details["habilitation"] = f"H{habilitation_ids[step.habilitation]}"
            creates_habilitation = step.event is Event.APPROVE or step.notice is not None
            if step.actor is Actor.INSTRUCTEUR:
                assert step.instructor is not None
                actor_id, actor_name = self.world.instructors[step.instructor]
                organization_id, party = self.world.dgfip_id, Actor.INSTRUCTEUR.value
            elif step.actor is Actor.COLLECTIVITE:
                actor_id, actor_name = collectivite.user_id, collectivite.user.full_name
                organization_id, party = collectivite.organization_id, Actor.COLLECTIVITE.value
            else:
                actor_id, actor_name, organization_id, party = None, SYSTEM_NAME, None, "systeme"
            self.writer.add(
                TimelineEntry.__table__,  # type: ignore[arg-type]
                {
                    "id": self.ids.next("timeline_entries"),
                    "request_id": request_id,
                    "event": step.event,
                    "notice": step.notice,
                    "from_state": step.source,
                    "to_state": step.target,
                    "stage": step.stage,
                    "actor_id": actor_id,
                    "actor_name": actor_name,
                    "actor_organization_id": organization_id,
                    "actor_party": party,
                    "reason": step.reason,
                    "details": details,
                    "habilitation_id": habilitation_ids[step.habilitation]
                    if creates_habilitation and step.habilitation is not None
                    else None,
                    "created_at": calendar.at(step.at),
                },
            )

    def _follow_up(
        self, rng: random.Random, request_id: int, walk: Walk, calendar: Calendar, last_move: datetime
    ) -> None:
        """Who at the DGFiP has the request in hand, and what they noted about it."""
        if walk.state not in (State.SUBMITTED, State.CHANGES_REQUESTED):
            return
        if rng.random() < (0.65 if walk.state is State.SUBMITTED else 0.4):
            taken_at = min(last_move + timedelta(hours=rng.randrange(1, 120)), self.reference)
            self.writer.add(
                RequestAssignment.__table__,  # type: ignore[arg-type]
                {
                    "request_id": request_id,
                    "user_id": self.world.instructors[walk.instructor][0],
                    "assigned_at": taken_at,
                },
            )
        if rng.random() < 0.1:
            for _ in range(rng.randint(1, 2)):
                author_id, author_name = self.world.instructors[rng.randrange(len(self.world.instructors))]
                self.writer.add(
                    InternalNote.__table__,  # type: ignore[arg-type]
                    {
                        "id": self.ids.next("internal_notes"),
                        "request_id": request_id,
                        "author_id": author_id,
                        "author_name": author_name,
                        "body": rng.choice(content.INTERNAL_NOTES),
                        "created_at": min(last_move + timedelta(hours=rng.randrange(1, 200)), self.reference),
                    },
                )


# --- the whole dataset ------------------------------------------------------------------------------


def is_empty(session: Session) -> bool:
    return all(
        session.execute(select(model.id).limit(1)).first() is None
        for model in (Organization, User, HabilitationRequest)
    )


def wipe(session: Session) -> None:
    """Empty every table (``--force``): the dataset's ids start at 1. Children first; the request ↔
    habilitation cycle is cut before."""
    session.execute(update(HabilitationRequest).values(editeur_sandbox_habilitation_id=None))
    for table in reversed(Base.metadata.sorted_tables):
        session.execute(table.delete())


def _settle_postgresql(session: Session) -> None:
    """Move PostgreSQL's sequences past the ids written here (it hands out ids from them), and merge
    what the GIN indexes left in their pending lists: searches would otherwise read those lists row by
    row until the next vacuum."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        text(
            "SELECT gin_clean_pending_list(gin_index.oid) FROM pg_class AS gin_index "
            "JOIN pg_am AS method ON method.oid = gin_index.relam "
            "WHERE method.amname = 'gin' AND gin_index.relnamespace = current_schema()::regnamespace"
        )
    )
    for table in Base.metadata.sorted_tables:
        primary = list(table.primary_key.columns)
        if len(primary) == 1 and primary[0].autoincrement in (True, "auto") and primary[0].type.python_type is int:
            column = primary[0].name
            session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column}'), "  # noqa: S608
                    f"GREATEST((SELECT COALESCE(MAX({column}), 0) FROM {table.name}), 1))"
                )
            )


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(start + size, total))


def seed(
    session: Session,
    tier: Tier,
    *,
    seed: int = DEFAULT_SEED,
    reference: datetime | None = None,
    password_hash: str,
) -> SeedReport:
    """Write the dataset into an empty database, in the caller's transaction (the caller commits).

    ``reference`` is the dataset's « now » (default: today at midnight UTC, so that two runs on one day
    agree); every date falls within the five years before it. ``password_hash`` is stored for every user
    (hashing once per user would take longer than the whole tier S)."""
    started = time.perf_counter()
    if not is_empty(session):
        raise DatasetError("La base de données n'est pas vide.")
    if reference is None:
        reference = datetime.combine(datetime.now(UTC).date(), clock(0), tzinfo=UTC)
    writer, ids = Writer(session), Ids()
    world, emails = build_world(writer, ids, content.seeded_random(f"{seed}/world"), tier, reference, password_hash)
    writer.flush()
    rng = content.seeded_random(f"{seed}/requests")
    weights = [REQUEST_WEIGHT[c.kind] for c in world.collectivites]
    choices = rng.choices(range(len(world.collectivites)), weights=weights, k=tier.requests)
    finals = final_states(rng, tier.requests)
    # The longest histories: requests under instruction after a hundred rounds of changes.
    long_ones = {index for index, final in enumerate(finals) if final is State.SUBMITTED}
    long_ones = set(sorted(long_ones)[: tier.long_timelines])
    builder = RequestBuilder(writer, ids, world, reference)
    since = reference - timedelta(days=YEARS * 365 + 30)
    states: Counter[str] = Counter()
    long_ids = []
    for chunk in _chunks(tier.requests, CHUNK):
        for index in chunk:
            collectivite = _collectivite_party(world, writer, ids, emails, rng, choices[index], since, password_hash)
            plan = plan_for(rng, finals[index])
            if index in long_ones:
                plan = Plan(State.SUBMITTED, rounds=LONG_TIMELINE_ROUNDS)
            request_id = builder.build(
                content.seeded_random(f"{seed}/request/{index}"),
                collectivite,
                plan,
                instructor=rng.randrange(len(world.instructors)),
            )
            states[finals[index].value] += 1
            if index in long_ones:
                long_ids.append(request_id)
        writer.flush()
    _settle_postgresql(session)
    report = SeedReport(
        tier=tier.name,
        seed=seed,
        reference=reference,
        counts=dict(writer.counts),
        states=dict(states),
        long_timeline_request_ids=long_ids,
    )
    audit.record(session, AUDIT_ACTION, details=report.as_details())
    report.seconds = time.perf_counter() - started
    return report
