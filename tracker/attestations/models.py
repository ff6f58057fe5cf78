"""An attestation as signed: never changed afterwards, except to record when it stopped matching the
content it covers (and why)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.db import Base, UTCDateTime, enum_column, utcnow
from tracker.habilitations.workflow import Stage


class Attestation(Base):
    __tablename__ = "attestations"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("habilitation_requests.id", ondelete="CASCADE"))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "request_stage"))
    kind: Mapped[str] = mapped_column(String(32))
    statement_version: Mapped[str] = mapped_column(String(32))
    statement_sha256: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the canonical JSON of the covered sections' content (document references included),
    # and, for each covered section and each attached document version, its own SHA-256.
    content_sha256: Mapped[str] = mapped_column(String(64))
    sections: Mapped[dict[str, Any]] = mapped_column(JSON)
    documents: Mapped[list[Any]] = mapped_column(JSON)
    signer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_function: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))
    organization_name: Mapped[str] = mapped_column(String(300))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    invalidation_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_attestations_request_kind", "request_id", "kind"),)

    @property
    def is_valid(self) -> bool:
        return self.invalidated_at is None
