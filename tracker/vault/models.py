"""API credentials issued by DGFiP's API manager for one habilitation and stage (DOMAIN §11).

Secrets (the client secret, the client certificate's private key) are stored only as envelopes
(``tracker.vault.crypto``) bound to their row and column; nothing else in the row is secret.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.accounts.models import User
from tracker.db import Base, UTCDateTime, enum_column, utcnow
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Stage


class CredentialStatus(enum.StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return {
            CredentialStatus.ACTIVE: "Actif",
            CredentialStatus.SUPERSEDED: "Remplacé",
            CredentialStatus.REVOKED: "Révoqué",
            CredentialStatus.EXPIRED: "Expiré",
        }[self]

    @property
    def badge(self) -> str:
        return {
            CredentialStatus.ACTIVE: "success",
            CredentialStatus.SUPERSEDED: "",
            CredentialStatus.REVOKED: "error",
            CredentialStatus.EXPIRED: "warning",
        }[self]


class SecretField(enum.StrEnum):
    """The encrypted columns; each value is the name bound into its envelopes' associated data."""

    CLIENT_SECRET = "client_secret"
    PRIVATE_KEY = "private_key"

    @property
    def column(self) -> str:
        return f"{self.value}_encrypted"


class ApiCredential(Base):
    __tablename__ = "api_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    habilitation_id: Mapped[int] = mapped_column(ForeignKey("habilitations.id"))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "request_stage"))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    id_teleservice: Mapped[str] = mapped_column(String(64))
    # APIM resources (``RessourceIR``…), sent as the token request's ``scope``.
    oauth_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_url: Mapped[str] = mapped_column(String(500))
    api_base_url: Mapped[str] = mapped_column(String(500))
    # The DataPass scopes DGFiP granted (``dgfip_rfr``…): the fields the API answers with.
    granted_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    modalities: Mapped[list[str]] = mapped_column(JSON, default=list)
    quota_per_minute: Mapped[int | None] = mapped_column(Integer)
    expires_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[CredentialStatus] = mapped_column(enum_column(CredentialStatus, "credential_status"))
    # A certificate is public; its private key is a secret and is encrypted like the client secret.
    client_certificate_pem: Mapped[str | None] = mapped_column(Text)
    private_key_encrypted: Mapped[str | None] = mapped_column(Text)
    # The master key the row's envelopes are under: rotation picks the rows not on the newest key yet.
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A superseded secret renewed at the API manager keeps working until then (the rotation's overlap).
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(Text)

    habilitation: Mapped[Habilitation] = relationship()

    __table_args__ = (Index("ix_api_credentials_habilitation_status", "habilitation_id", "status"),)

    def envelope(self, field: SecretField) -> str | None:
        value: Any = getattr(self, field.column)
        return value

    @property
    def has_private_key(self) -> bool:
        return self.private_key_encrypted is not None


# --- handing over: one-time reveal links and connector tokens -------------------------------------------


class RevealLink(Base):
    """A one-time permission to see one secret of one credential, given to one user who re-entered their
    password. Only the SHA-256 of its token is stored; the link is spent by a conditional UPDATE
    (``used_at IS NULL AND expires_at > now``), so parallel uses cannot both succeed."""

    __tablename__ = "vault_reveal_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("api_credentials.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    secret_field: Mapped[SecretField] = mapped_column(enum_column(SecretField, "vault_secret_field"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    credential: Mapped[ApiCredential] = relationship()


class ConnectorTokenStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return {
            ConnectorTokenStatus.ACTIVE: "Actif",
            ConnectorTokenStatus.REVOKED: "Révoqué",
            ConnectorTokenStatus.EXPIRED: "Expiré",
        }[self]

    @property
    def badge(self) -> str:
        return {
            ConnectorTokenStatus.ACTIVE: "success",
            ConnectorTokenStatus.REVOKED: "error",
            ConnectorTokenStatus.EXPIRED: "warning",
        }[self]


class ConnectorToken(Base):
    """A bearer token with which the connector fetches one habilitation's credential bundle.

    The token is shown once at creation; only its SHA-256 is stored (it holds 256 random bits, so a fast
    hash is enough), with a short prefix kept in clear so that people can tell their tokens apart.
    Its status is derived (revoked, else expired past ``expires_on``, else active): nothing to keep in step.
    """

    __tablename__ = "connector_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    habilitation_id: Mapped[int] = mapped_column(ForeignKey("habilitations.id"), index=True)
    # The organization that created it (the collectivité or its éditeur): named in every audit entry.
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_prefix: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    expires_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    habilitation: Mapped[Habilitation] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    def status_on(self, today: date) -> ConnectorTokenStatus:
        if self.revoked_at is not None:
            return ConnectorTokenStatus.REVOKED
        if today > self.expires_on:
            return ConnectorTokenStatus.EXPIRED
        return ConnectorTokenStatus.ACTIVE

    @property
    def status(self) -> ConnectorTokenStatus:
        return self.status_on(utcnow().date())
