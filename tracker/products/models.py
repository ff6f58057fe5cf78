"""A software product of an éditeur, in one version: the unit a sandbox habilitation is obtained for."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.accounts.models import Organization
from tracker.db import Base, UTCDateTime, utcnow


class SoftwareProduct(Base):
    __tablename__ = "software_products"

    id: Mapped[int] = mapped_column(primary_key=True)
    editeur_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    editeur: Mapped[Organization] = relationship()

    __table_args__ = (UniqueConstraint("editeur_id", "name", "version"),)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"
