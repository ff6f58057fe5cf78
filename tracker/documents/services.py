"""Receiving, keeping and sweeping uploaded documents. Flushes; the caller commits.

A document is checked by its content before it is stored (see ``inspection``); it is then written to the
storage (temporary file, fsync, rename) and its row added in the caller's transaction. If that transaction
never commits, the file is an orphan that ``sweep_orphans`` removes: a row never points to a missing file,
while a file may briefly exist without a row.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.principal import Principal
from tracker.catalogue.definitions import MAX_DOCUMENTS_PER_FIELD, FieldDefinition, SectionDefinition
from tracker.db import utcnow
from tracker.documents.inspection import DocumentKind, DocumentRejected, display_name, inspect_document
from tracker.documents.models import Document
from tracker.documents.storage import CHUNK_SIZE, Storage
from tracker.habilitations import services as requests
from tracker.habilitations.models import HabilitationRequest, RequestSection

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A file as received: the name the user's computer gave it, and its bytes."""

    filename: str
    stream: BinaryIO


def _spool(upload: Upload) -> Path:
    """Copy the upload to a temporary file (the inspection reads a path), refusing it as soon as it
    passes the size limit."""
    with tempfile.NamedTemporaryFile(prefix="tracker-upload-", delete=False) as spooled:
        size = 0
        try:
            while chunk := upload.stream.read(CHUNK_SIZE):
                size += len(chunk)
                if size > MAX_DOCUMENT_BYTES:
                    raise DocumentRejected(
                        f"Ce fichier dépasse la taille maximale de {MAX_DOCUMENT_BYTES // (1024 * 1024)} Mo."
                    )
                spooled.write(chunk)
        except BaseException:
            Path(spooled.name).unlink(missing_ok=True)
            raise
    return Path(spooled.name)


def receive_upload(
    session: Session,
    storage: Storage,
    request: HabilitationRequest,
    section: SectionDefinition,
    field: FieldDefinition,
    upload: Upload,
    *,
    principal: Principal,
    held: int,
) -> Document:
    """Check one file by its content and keep it; ``held`` is how many documents the field already holds."""
    requests.authorize_section_edit(request, section, principal)
    if held >= MAX_DOCUMENTS_PER_FIELD:
        raise DocumentRejected(
            f"{MAX_DOCUMENTS_PER_FIELD} documents au maximum pour ce champ : retirez-en un avant d'en déposer un autre."
        )
    spooled = _spool(upload)
    try:
        inspection = inspect_document(spooled, frozenset(DocumentKind(kind) for kind in field.accepts))
        with spooled.open("rb") as stream:
            stored = storage.save(stream)
    finally:
        spooled.unlink(missing_ok=True)
    document = Document(
        request_id=request.id,
        stage=section.stage,
        section_key=section.key,
        field_key=field.key,
        storage_key=stored.key,
        filename=display_name(upload.filename),
        kind=inspection.kind.value,
        content_type=inspection.kind.content_type,
        size=stored.size,
        sha256=stored.sha256,
        page_count=inspection.page_count,
        uploaded_by_id=principal.user.id,
        uploaded_by_organization_id=principal.organization.id,
        created_at=utcnow(),
    )
    session.add(document)
    session.flush()
    requests.audit_request(
        session,
        principal,
        request,
        "document.uploaded",
        {"document": document.id, "section": section.key, "field": field.key, "sha256": document.sha256},
    )
    return document


def save_section_with_documents(
    session: Session,
    storage: Storage,
    request: HabilitationRequest,
    key: str,
    data: dict[str, Any],
    *,
    uploads: Mapping[str, Iterable[Upload]],
    removed: Mapping[str, Iterable[int]],
    principal: Principal,
    expected_version: int | None,
) -> tuple[RequestSection, dict[str, list[str]]]:
    """Save a section whose form also carries files: the documents kept, minus those removed, plus those
    received. A refused file is reported by field (« nom : raison ») while the rest is saved, so nothing
    typed is lost. Removed documents stay in the history; the section content stops naming them."""
    definition = requests.api_definition(request).section(key)
    requests.authorize_section_edit(request, definition, principal)
    requests.check_version(request, expected_version)
    row = request.section(definition.stage, key)
    current = row.data if row else {}
    refused: dict[str, list[str]] = {}
    for field in definition.document_fields:
        dropped = {str(document_id) for document_id in removed.get(field.key, ())}
        kept = [ref for ref in current.get(field.key, []) if str(ref["id"]) not in dropped]
        for upload in uploads.get(field.key, ()):
            try:
                document = receive_upload(
                    session,
                    storage,
                    request,
                    definition,
                    field,
                    upload,
                    principal=principal,
                    held=len(kept),
                )
            except DocumentRejected as rejection:
                refused.setdefault(field.key, []).append(f"« {display_name(upload.filename)} » : {rejection.message}")
                # A security event (SECURITY §G): what was refused, by whom, why; never the file itself.
                requests.audit_request(
                    session,
                    principal,
                    request,
                    "document.refused",
                    {
                        "section": key,
                        "field": field.key,
                        "name": display_name(upload.filename),
                        "reason": rejection.message,
                    },
                )
            else:
                kept.append(document.reference())
        if kept:
            data[field.key] = kept
    section = requests.save_section(session, request, key, data, principal=principal, expected_version=expected_version)
    return section, refused


def sweep_orphans(session: Session, storage: Storage, *, older_than: timedelta, now: datetime | None = None) -> int:
    """Remove stored files that no row references, once they are old enough not to belong to an upload
    whose transaction is still running. Returns how many were removed."""
    limit = (now or utcnow()) - older_than
    referenced = set(session.execute(select(Document.storage_key)).scalars())
    removed = 0
    for key, stored_at in list(storage.entries()):
        if key not in referenced and stored_at < limit:
            storage.delete(key)
            removed += 1
    storage.purge_temporary(older_than=limit)
    return removed
