"""Uploaded documents. A row is never deleted nor changed: a replaced or removed document stays in the
request's history, and the section content names the versions it currently holds (by id and SHA-256),
so an attestation covers exactly those."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.db import Base, UTCDateTime, enum_column, utcnow
from tracker.habilitations.workflow import Stage


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("habilitation_requests.id", ondelete="CASCADE"))
    stage: Mapped[Stage] = mapped_column(enum_column(Stage, "request_stage"))
    section_key: Mapped[str] = mapped_column(String(64))
    field_key: Mapped[str] = mapped_column(String(64))
    # Random, never derived from the uploaded name: the name is only ever displayed.
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    page_count: Mapped[int | None] = mapped_column(Integer)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    uploaded_by_organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_documents_request_section", "request_id", "section_key", "field_key"),)

    def reference(self) -> dict[str, object]:
        """What the section content keeps of it: enough to hash, list and find the exact version."""
        return {"id": self.id, "name": self.filename, "sha256": self.sha256, "size": self.size}
