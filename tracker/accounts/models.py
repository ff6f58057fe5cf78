"""Organizations, users, their memberships, login sessions and invitations."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from tracker.accounts.siret import InvalidSiret, normalize_siret, siret_error
from tracker.db import Base, UTCDateTime, enum_column, utcnow
from tracker.habilitations.workflow import Actor


class OrganizationKind(enum.StrEnum):
    COLLECTIVITE = "collectivite"
    EDITEUR = "editeur"
    HEBERGEUR = "hebergeur"
    DGFIP = "dgfip"

    @property
    def label(self) -> str:
        return {
            OrganizationKind.COLLECTIVITE: "Collectivité",
            OrganizationKind.EDITEUR: "Éditeur",
            OrganizationKind.HEBERGEUR: "Hébergeur",
            OrganizationKind.DGFIP: "DGFiP",
        }[self]


class MembershipRole(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def label(self) -> str:
        return "Administrateur" if self is MembershipRole.ADMIN else "Membre"


class DgfipFunction(enum.StrEnum):
    INSTRUCTEUR = "instructeur"
    RAPPORTEUR = "rapporteur"

    @property
    def label(self) -> str:
        return "Instructeur" if self is DgfipFunction.INSTRUCTEUR else "Rapporteur (lecture seule)"


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OrganizationKind] = mapped_column(enum_column(OrganizationKind, "organization_kind"))
    name: Mapped[str] = mapped_column(String(200))
    siret: Mapped[str] = mapped_column(String(14), unique=True)
    departement_code: Mapped[str | None] = mapped_column(String(3), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(back_populates="organization")

    __table_args__ = (Index("ix_organizations_name", "name"),)

    @validates("siret")
    def _validate_siret(self, _key: str, value: str) -> str:
        """No organization is ever stored under a number that is not a SIRET, whoever creates it."""
        siret = normalize_siret(value)
        if error := siret_error(siret):
            raise InvalidSiret(error)
        return siret

    @property
    def siren(self) -> str:
        return self.siret[:9]


# The instruction list's « contains » search on names (PostgreSQL's pg_trgm; on SQLite an empty placeholder
# of the same name, see migration 7a3f9e2c1d43).
Index(
    "ix_organizations_name_trigram",
    func.lower(Organization.name).label("name_lower"),
    postgresql_using="gin",
    postgresql_ops={"name_lower": "public.gin_trgm_ops"},
).ddl_if(dialect="postgresql")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    job_title: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


class Membership(Base):
    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    role: Mapped[MembershipRole] = mapped_column(enum_column(MembershipRole, "membership_role"))
    dgfip_function: Mapped[DgfipFunction | None] = mapped_column(enum_column(DgfipFunction, "dgfip_function"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(back_populates="memberships")

    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    @property
    def actor(self) -> Actor:
        """The workflow actor this membership speaks as."""
        if self.organization.kind is OrganizationKind.DGFIP:
            return Actor.INSTRUCTEUR if self.dgfip_function is DgfipFunction.INSTRUCTEUR else Actor.RAPPORTEUR
        return Actor(self.organization.kind.value)

    @property
    def is_admin(self) -> bool:
        return self.role is MembershipRole.ADMIN


class AuthSession(Base):
    """A server-side login session: the cookie holds only its random token, stored here hashed.

    Logging out deletes the row, so a copied cookie dies with it; both timeouts are enforced here.
    """

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip_address: Mapped[str | None] = mapped_column(String(45))

    user: Mapped[User] = relationship()
    membership: Mapped[Membership] = relationship()


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[MembershipRole] = mapped_column(enum_column(MembershipRole, "membership_role"))
    dgfip_function: Mapped[DgfipFunction | None] = mapped_column(enum_column(DgfipFunction, "dgfip_function"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    habilitation_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("habilitation_requests.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    organization: Mapped[Organization] = relationship()
    invited_by: Mapped[User | None] = relationship(foreign_keys=[invited_by_id])

    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)
