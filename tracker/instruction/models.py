"""Who at the DGFiP has taken a request in hand. Kept apart from the request row so that taking over a
request does not move its version (a party's open form must not turn stale because of it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.accounts.models import User
from tracker.db import Base, UTCDateTime, utcnow


class RequestAssignment(Base):
    __tablename__ = "request_assignments"

    request_id: Mapped[int] = mapped_column(
        ForeignKey("habilitation_requests.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")
