"""The request (``D<id>``), its sections, its habilitation snapshots (``H<id>``) and its timeline."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, cast, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.accounts.models import Organization, User
from tracker.attestations.models import Attestation
from tracker.db import Base, UTCDateTime, enum_column, utcnow
from tracker.habilitations.workflow import Event, SectionStatus, Stage, State
from tracker.products.models import SoftwareProduct

if TYPE_CHECKING:
    from tracker.instruction.models import RequestAssignment


class HabilitationState(enum.StrEnum):
    ACTIVE = "active"
    OBSOLETE = "obsolete"
    REVOKED = "revoked"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return {
            HabilitationState.ACTIVE: "Active",
            HabilitationState.OBSOLETE: "Obsolète",
            HabilitationState.REVOKED: "Révoquée",
            HabilitationState.EXPIRED: "Expirée",
        }[self]

    @property
    def badge(self) -> str:
        return {
            HabilitationState.ACTIVE: "success",
            HabilitationState.OBSOLETE: "",
            HabilitationState.REVOKED: "error",
            HabilitationState.EXPIRED: "warning",
        }[self]


class HabilitationRequest(Base):
    __tablename__ = "habilitation_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    api: Mapped[str] = mapped_column(String(64), default="api_impot_particulier")
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    editeur_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    hebergeur_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    state: Mapped[State] = mapped_column(enum_column(State, "request_state"))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "request_stage"))
    is_reopening: Mapped[bool] = mapped_column(Boolean, default=False)
    # Denormalized from the sections and the organization: lists filter and sort on them.
    intitule: Mapped[str] = mapped_column(String(300), default="")
    use_case: Mapped[str | None] = mapped_column(String(64))
    departement_code: Mapped[str | None] = mapped_column(String(3))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    first_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the current instruction clock started, and when its two months end; None while it is stopped
    # (DOMAIN §9). The end is stored so that lists filter overdue and due-soon requests on an index.
    deadline_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    cgu_version: Mapped[str | None] = mapped_column(String(32))
    cgu_sha256: Mapped[str | None] = mapped_column(String(64))
    cgu_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cgu_accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The software the éditeur brings; « avec éditeur », also the éditeur's sandbox habilitation for it, on
    # which this production request stands instead of a sandbox stage of its own (DOMAIN §3).
    software_product_id: Mapped[int | None] = mapped_column(ForeignKey("software_products.id"), index=True)
    editeur_sandbox_habilitation_id: Mapped[int | None] = mapped_column(
        # The two tables point at each other: the constraint is added once both exist.
        ForeignKey("habilitations.id", use_alter=True)
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    organization: Mapped[Organization] = relationship(foreign_keys=[organization_id])
    editeur: Mapped[Organization | None] = relationship(foreign_keys=[editeur_id])
    hebergeur: Mapped[Organization | None] = relationship(foreign_keys=[hebergeur_id])
    sections: Mapped[list[RequestSection]] = relationship(
        back_populates="request", order_by="RequestSection.id", cascade="all, delete-orphan"
    )
    habilitations: Mapped[list[Habilitation]] = relationship(
        back_populates="request", order_by="Habilitation.id", foreign_keys="Habilitation.request_id"
    )
    software_product: Mapped[SoftwareProduct | None] = relationship()
    attestations: Mapped[list[Attestation]] = relationship(order_by="Attestation.id", cascade="all, delete-orphan")
    # Who at the DGFiP has it in hand (tracker.instruction); read-only here, written by its services.
    assignment: Mapped[RequestAssignment | None] = relationship(viewonly=True, lazy="joined")
    editeur_sandbox_habilitation: Mapped[Habilitation | None] = relationship(
        foreign_keys=[editeur_sandbox_habilitation_id]
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_habilitation_requests_state_stage", "state", "stage"),
        Index("ix_habilitation_requests_departement_state", "departement_code", "state"),
        Index("ix_habilitation_requests_first_submitted_at", "first_submitted_at"),
    )

    @property
    def number(self) -> str:
        return f"D{self.id}"

    @property
    def is_direct_production(self) -> bool:
        return self.editeur_sandbox_habilitation_id is not None

    @property
    def has_fixed_product(self) -> bool:
        """Created for a software product (by its éditeur, or « avec éditeur »): the product never changes."""
        return self.is_direct_production or self.is_editeur_sandbox

    @property
    def is_editeur_sandbox(self) -> bool:
        """The éditeur applies for its own software product."""
        return self.software_product_id is not None and self.organization_id == self.editeur_id

    def section(self, stage: Stage, key: str) -> RequestSection | None:
        return next((s for s in self.sections if s.stage is stage and s.key == key), None)


# The instruction list's « contains » search on titles (PostgreSQL's pg_trgm; on SQLite an empty
# placeholder of the same name, see migration 7a3f9e2c1d43).
Index(
    "ix_habilitation_requests_intitule_trigram",
    func.lower(HabilitationRequest.intitule).label("intitule_lower"),
    postgresql_using="gin",
    postgresql_ops={"intitule_lower": "public.gin_trgm_ops"},
).ddl_if(dialect="postgresql")


class RequestSection(Base):
    __tablename__ = "request_sections"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("habilitation_requests.id", ondelete="CASCADE"))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "request_stage"))
    key: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[SectionStatus] = mapped_column(enum_column(SectionStatus, "section_status"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The attestation binds the signer to the SHA-256 of the canonical content at signing time.
    attested_sha256: Mapped[str | None] = mapped_column(String(64))
    attested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Named by DGFiP in its last request for changes: the only sections open while « À modifier ».
    is_change_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    request: Mapped[HabilitationRequest] = relationship(back_populates="sections")
    attested_by: Mapped[User | None] = relationship(foreign_keys=[attested_by_id])

    __table_args__ = (UniqueConstraint("request_id", "stage", "key"),)


# The instruction list's « any text of the request » search (PostgreSQL's pg_trgm; on SQLite an empty
# placeholder of the same name, see migration 7a3f9e2c1d43).
Index(
    "ix_request_sections_text_trigram",
    func.lower(cast(RequestSection.data, String)).label("data_text"),
    postgresql_using="gin",
    postgresql_ops={"data_text": "public.gin_trgm_ops"},
).ddl_if(dialect="postgresql")


class Habilitation(Base):
    __tablename__ = "habilitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("habilitation_requests.id"), index=True)
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "request_stage"))
    state: Mapped[HabilitationState] = mapped_column(enum_column(HabilitationState, "habilitation_state"))
    # Every section of the request as approved, keyed "<stage>/<section key>".
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(Text)
    # The soonest date past which it lapses (production: homologation, certifications), copied from the
    # snapshot so that lists and the reminder job filter on an index.
    expires_on: Mapped[date | None] = mapped_column(Date, index=True)

    request: Mapped[HabilitationRequest] = relationship(back_populates="habilitations", foreign_keys=[request_id])

    __table_args__ = (Index("ix_habilitations_request_stage_state", "request_id", "stage", "state"),)

    @property
    def number(self) -> str:
        return f"H{self.id}"


# Timeline entries that are not workflow events (``TimelineEntry.notice``), and what each one says.
EXPIRED_NOTICE = "habilitation_expired"
DOSSIER_NOTICE = "dossier_signed"
NOTICE_LABELS = {EXPIRED_NOTICE: "Habilitation expirée", DOSSIER_NOTICE: "Dossier PDF signé"}
# Who writes those entries.
SYSTEM_NAME = "Habilitations DGFiP (traitement automatique)"


class TimelineEntry(Base):
    __tablename__ = "timeline_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("habilitation_requests.id", ondelete="CASCADE"))
    # A workflow transition, or (event None) a notice about the request's habilitations.
    event: Mapped[Event | None] = mapped_column(enum_column(Event, "request_event"))
    notice: Mapped[str | None] = mapped_column(String(32))
    from_state: Mapped[State | None] = mapped_column(enum_column(State, "from_state"))
    to_state: Mapped[State] = mapped_column(enum_column(State, "to_state"))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "request_stage"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    actor_party: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    habilitation_id: Mapped[int | None] = mapped_column(ForeignKey("habilitations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    actor_organization: Mapped[Organization | None] = relationship()

    __table_args__ = (Index("ix_timeline_entries_request_created", "request_id", "created_at"),)

    @classmethod
    def notice_of(
        cls,
        request: HabilitationRequest,
        notice: str,
        *,
        details: dict[str, Any],
        at: datetime,
        stage: Stage | None = None,
        reason: str | None = None,
        habilitation_id: int | None = None,
    ) -> TimelineEntry:
        """A line the tracker itself writes on the timeline (not a workflow event: the state stays)."""
        return cls(
            request_id=request.id,
            event=None,
            notice=notice,
            from_state=request.state,
            to_state=request.state,
            stage=stage or request.stage,
            actor_id=None,
            actor_name=SYSTEM_NAME,
            actor_organization_id=None,
            actor_party="systeme",
            reason=reason,
            details=details,
            habilitation_id=habilitation_id,
            created_at=at,
        )


class ExpiryReminder(Base):
    """A reminder sent about one date of a request at one threshold: its unique key is what makes
    ``tracker remind`` safe to run at any frequency. Keyed on the request, not the habilitation: an
    update approved with the same date must not send the same reminder again."""

    __tablename__ = "expiry_reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("habilitation_requests.id", ondelete="CASCADE"))
    habilitation_id: Mapped[int] = mapped_column(ForeignKey("habilitations.id", ondelete="CASCADE"))
    date_key: Mapped[str] = mapped_column(String(64))
    due_on: Mapped[date] = mapped_column(Date)
    days_before: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("request_id", "date_key", "due_on", "days_before"),)
