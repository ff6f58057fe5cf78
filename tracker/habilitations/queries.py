"""Read side: which requests a principal may see, and the data each page needs in few statements."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from flask import abort
from sqlalchemy import ColumnElement, false, select
from sqlalchemy.orm import Session, joinedload, selectinload

from tracker.accounts.models import Organization, OrganizationKind
from tracker.accounts.principal import Principal
from tracker.audit.services import record_access_refusal
from tracker.habilitations.expiry import EXPIRING_WITHIN
from tracker.habilitations.models import Habilitation, HabilitationRequest, HabilitationState, TimelineEntry
from tracker.habilitations.workflow import Stage, State

REQUEST_NUMBER = re.compile(r"^\s*[dD]?\s*(\d{1,9})\s*$")


def visible_requests(principal: Principal) -> ColumnElement[bool]:
    """The one visibility rule (DOMAIN §4): parties see their own requests; DGFiP sees every request
    once it has been submitted at least once, never a first draft."""
    organization = principal.organization
    if organization.kind is OrganizationKind.DGFIP:
        return HabilitationRequest.first_submitted_at.is_not(None)
    column = {
        OrganizationKind.COLLECTIVITE: HabilitationRequest.organization_id,
        OrganizationKind.EDITEUR: HabilitationRequest.editeur_id,
        OrganizationKind.HEBERGEUR: HabilitationRequest.hebergeur_id,
    }.get(organization.kind)
    return false() if column is None else column == organization.id


def parse_request_number(text: str) -> int | None:
    match = REQUEST_NUMBER.match(text or "")
    return int(match.group(1)) if match else None


def get_visible_request(session: Session, principal: Principal, request_id: int) -> HabilitationRequest:
    """The request with everything its page shows, or 404 (same answer whether missing or foreign)."""
    request = session.execute(
        select(HabilitationRequest)
        .options(
            joinedload(HabilitationRequest.organization),
            joinedload(HabilitationRequest.editeur),
            joinedload(HabilitationRequest.hebergeur),
            # Named on the page of every request made for a product: loaded with it, not by a second query.
            joinedload(HabilitationRequest.software_product),
            selectinload(HabilitationRequest.sections),
            selectinload(HabilitationRequest.habilitations),
        )
        .where(HabilitationRequest.id == request_id, visible_requests(principal))
    ).scalar_one_or_none()
    if request is None:
        exists = session.execute(select(HabilitationRequest.id).where(HabilitationRequest.id == request_id)).first()
        if exists is not None:
            record_access_refusal(
                session, principal.user, principal.organization.id, "habilitation_request", request_id
            )
        abort(404)
    return request


def timeline(session: Session, request_id: int) -> list[TimelineEntry]:
    return list(
        session.execute(
            select(TimelineEntry)
            .options(joinedload(TimelineEntry.actor_organization))
            .where(TimelineEntry.request_id == request_id)
            .order_by(TimelineEntry.created_at.desc(), TimelineEntry.id.desc())
        ).scalars()
    )


@dataclass(frozen=True)
class RequestRow:
    id: int
    number: str
    intitule: str
    state: State
    stage: object
    is_reopening: bool
    organization_name: str
    organization_siret: str
    departement_code: str | None
    last_event_at: object
    deadline_started_at: object


def _rows(session: Session, query) -> list[RequestRow]:  # type: ignore[no-untyped-def]
    rows = session.execute(query).all()
    return [
        RequestRow(
            id=row.id,
            number=f"D{row.id}",
            intitule=row.intitule,
            state=row.state,
            stage=row.stage,
            is_reopening=row.is_reopening,
            organization_name=row.name,
            organization_siret=row.siret,
            departement_code=row.departement_code,
            last_event_at=row.last_event_at,
            deadline_started_at=row.deadline_started_at,
        )
        for row in rows
    ]


def _row_query():  # type: ignore[no-untyped-def]
    return select(
        HabilitationRequest.id,
        HabilitationRequest.intitule,
        HabilitationRequest.state,
        HabilitationRequest.stage,
        HabilitationRequest.is_reopening,
        HabilitationRequest.departement_code,
        HabilitationRequest.last_event_at,
        HabilitationRequest.deadline_started_at,
        Organization.name,
        Organization.siret,
    ).join(Organization, Organization.id == HabilitationRequest.organization_id)


def dashboard_requests(session: Session, principal: Principal, *, limit: int = 200) -> list[RequestRow]:
    """The requests this party takes part in, most recently moved first (one statement)."""
    query = (
        _row_query()
        .where(visible_requests(principal), HabilitationRequest.state != State.ARCHIVED)
        .order_by(HabilitationRequest.last_event_at.desc())
        .limit(limit)
    )
    return _rows(session, query)


@dataclass(frozen=True)
class ExpiryRow:
    habilitation_id: int
    state: HabilitationState
    expires_on: date | None
    ended_at: datetime | None
    end_reason: str | None
    request_id: int
    intitule: str
    organization_name: str
    departement_code: str | None

    @property
    def number(self) -> str:
        return f"H{self.habilitation_id}"


def expiry_rows(
    session: Session, principal: Principal, *, today: date, limit: int = 500
) -> tuple[list[ExpiryRow], list[ExpiryRow]]:
    """Production habilitations expiring within 90 days (soonest first) and expired ones (latest first),
    among the requests the principal sees: one statement each."""
    columns = (
        select(
            Habilitation.id,
            Habilitation.state,
            Habilitation.expires_on,
            Habilitation.ended_at,
            Habilitation.end_reason,
            HabilitationRequest.id,
            HabilitationRequest.intitule,
            Organization.name,
            HabilitationRequest.departement_code,
        )
        .join(HabilitationRequest, HabilitationRequest.id == Habilitation.request_id)
        .join(Organization, Organization.id == HabilitationRequest.organization_id)
        .where(Habilitation.stage == Stage.PRODUCTION, visible_requests(principal))
    )
    expiring = session.execute(
        columns.where(
            Habilitation.state == HabilitationState.ACTIVE,
            Habilitation.expires_on <= today + EXPIRING_WITHIN,
        )
        .order_by(Habilitation.expires_on, Habilitation.id)
        .limit(limit)
    ).all()
    expired = session.execute(
        columns.where(Habilitation.state == HabilitationState.EXPIRED)
        .order_by(Habilitation.ended_at.desc(), Habilitation.id.desc())
        .limit(limit)
    ).all()
    return [ExpiryRow(*row) for row in expiring], [ExpiryRow(*row) for row in expired]
