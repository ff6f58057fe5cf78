"""Dossiers: each PDF the tracker generated for a request, with the frozen content it was rendered from.

A row is written with its content when the dossier is asked for (at a submission, an approval, or on
demand) and the PDF is rendered afterwards, by the worker or the web process's background thread; the row
is the job. Once ready, a dossier never changes: its bytes are served as stored, byte for byte.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.db import Base, UTCDateTime, enum_column, utcnow
from tracker.dossiers.content import DossierKind


class DossierStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {
            DossierStatus.PENDING: "En cours de génération",
            DossierStatus.READY: "Disponible",
            DossierStatus.FAILED: "Échec de la génération",
        }[self]


class Dossier(Base):
    __tablename__ = "dossiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("habilitation_requests.id"))
    kind: Mapped[DossierKind] = mapped_column(enum_column(DossierKind, "dossier_kind"))
    request_version: Mapped[int] = mapped_column(Integer)
    format_version: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    # The content as it was when the dossier was asked for (DossierContent, frozen): the PDF shows that
    # moment even if the worker renders it later, after the request has moved on.
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_draft: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[DossierStatus] = mapped_column(enum_column(DossierStatus, "dossier_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    storage_key: Mapped[str | None] = mapped_column(String(64))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    page_count: Mapped[int | None] = mapped_column(Integer)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    generated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # « Is there a dossier of this content already? » and the request's list of dossiers.
        Index("ix_dossiers_request_id_content_sha256", "request_id", "content_sha256"),
        # The job queue: pending rows only.
        Index("ix_dossiers_status", "status"),
    )

    @property
    def is_ready(self) -> bool:
        return self.status is DossierStatus.READY
