"""Read side of documents."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.documents.models import Document


def documents_by_id(session: Session, request_id: int) -> dict[int, Document]:
    """Every document ever received for the request, current or replaced, oldest first."""
    rows = session.execute(select(Document).where(Document.request_id == request_id).order_by(Document.id)).scalars()
    return {document.id: document for document in rows}
