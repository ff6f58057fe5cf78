"""Dossiers kept for each request: asked for (a snapshot at each submission and approval, or a current
dossier on demand), rendered and signed afterwards, then served as stored.

The content is frozen into the row when the dossier is asked for, so a dossier shows that moment even if
it is rendered later. Rendering happens in ``generate_pending``, run by ``tracker worker`` and, outside
production, by a background thread of the web process (``kick``). Services flush; callers commit.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import logging
import threading
import types
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from flask import Flask, current_app
from pypdf import PdfReader
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from tracker.audit import services as audit
from tracker.db import db, utcnow
from tracker.documents.storage import LocalStorage, Storage
from tracker.dossiers.content import FORMAT_VERSION, DossierContent, DossierKind, build_content
from tracker.dossiers.models import Dossier, DossierStatus
from tracker.dossiers.render import annexes_from_storage, render_pdf
from tracker.dossiers.signing import DossierMetadata, configured_signing_key, sign_pdf
from tracker.habilitations.models import DOSSIER_NOTICE, HabilitationRequest, TimelineEntry

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
LEASE = timedelta(minutes=5)
MAX_ERROR_LENGTH = 500


# --- freezing the content --------------------------------------------------------------------------------


def freeze(value: Any) -> Any:
    """JSON-ready, every field included (internal ones too: the storage key finds the annexes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: freeze(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): freeze(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [freeze(item) for item in value]
    return value


def thaw(kind: Any, value: Any) -> Any:
    """The inverse of ``freeze``, guided by the dataclasses' type hints."""
    if value is None:
        return None
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
        return thaw(inner, value)
    if dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{f.name: thaw(hints[f.name], value[f.name]) for f in dataclasses.fields(kind) if f.name in value})
    if origin is tuple:
        arguments = get_args(kind)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return tuple(thaw(arguments[0], item) for item in value)
        return tuple(thaw(argument, item) for argument, item in zip(arguments, value, strict=True))
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    return value


def thawed_content(dossier: Dossier) -> DossierContent:
    return thaw(DossierContent, dossier.content)


# --- asking for a dossier ----------------------------------------------------------------------------------


def verification_url() -> str:
    """Printed on every dossier (and in its QR code); constant, so that it never changes a content hash."""
    return f"{current_app.config['BASE_URL'].rstrip('/')}/verification"


def storage() -> Storage:
    return LocalStorage(Path(current_app.config["DOSSIERS_DIRECTORY"]))


def _queue(session: Session, content: DossierContent, *, requested_by_id: int | None) -> Dossier:
    dossier = Dossier(
        request_id=content.request_id,
        kind=content.kind,
        request_version=content.request_version,
        format_version=FORMAT_VERSION,
        content_sha256=content.content_sha256,
        content=freeze(content),
        is_draft=content.is_draft,
        status=DossierStatus.PENDING,
        attempts=0,
        requested_by_id=requested_by_id,
        created_at=content.generated_at,
    )
    session.add(dossier)
    session.flush()
    return dossier


def queue_snapshot(
    session: Session, request: HabilitationRequest, kind: DossierKind | str, *, requested_by_id: int | None
) -> Dossier:
    """The dossier of a submission or an approval, frozen now (the request is flushed, its timeline holds
    the event); rendered later, and kept for good."""
    content = build_content(session, request, kind=kind, generated_at=utcnow(), verification_url=verification_url())
    return _queue(session, content, requested_by_id=requested_by_id)


def current_dossier(session: Session, request: HabilitationRequest, *, requested_by_id: int | None) -> Dossier:
    """The dossier of the request as it is now: one already made of the same content (a snapshot or an
    earlier current dossier, ready or still rendering) when there is one, else a new one to render."""
    content = build_content(
        session, request, kind=DossierKind.CURRENT, generated_at=utcnow(), verification_url=verification_url()
    )
    same = session.scalars(
        select(Dossier)
        .where(
            Dossier.request_id == content.request_id,
            Dossier.content_sha256 == content.content_sha256,
            Dossier.format_version == FORMAT_VERSION,
            Dossier.is_draft == content.is_draft,
            Dossier.status != DossierStatus.FAILED,
        )
        .order_by(Dossier.id.desc())
        .limit(1)
    ).first()
    return same or _queue(session, content, requested_by_id=requested_by_id)


def dossiers_of(session: Session, request_id: int) -> list[Dossier]:
    return list(session.scalars(select(Dossier).where(Dossier.request_id == request_id).order_by(Dossier.id.desc())))


# --- rendering ---------------------------------------------------------------------------------------------


def render_signed(dossier: Dossier, documents: Storage) -> bytes:
    """The signed PDF of a dossier's frozen content, with its annexes from the document storage."""
    config = current_app.config
    content = thawed_content(dossier)
    pdf = render_pdf(
        content,
        annexes=annexes_from_storage(content, documents),
        watermark=dossier.is_draft,
        timeout=float(config["DOSSIER_RENDER_TIMEOUT_SECONDS"]),
    )
    reason = f"{content.heading} {content.request_number}, émis par Habilitations DGFiP"
    return sign_pdf(pdf, configured_signing_key(config), reason=reason)


def _record(session: Session, dossier: Dossier, pdf: bytes, stored_key: str, sha256: str) -> None:
    """The dossier is ready: its hash goes to the audit log, and, for a snapshot, on the timeline."""
    now = utcnow()
    dossier.status = DossierStatus.READY
    dossier.storage_key = stored_key
    dossier.pdf_sha256 = sha256
    dossier.size = len(pdf)
    dossier.page_count = len(PdfReader(io.BytesIO(pdf)).pages)
    dossier.generated_at = now
    dossier.lease_until = None
    dossier.last_error = None
    details = {"dossier": dossier.id, "kind": dossier.kind.value, "sha256": sha256, "version": dossier.request_version}
    audit.record(
        session, "dossier.signed", object_type="habilitation_request", object_id=dossier.request_id, details=details
    )
    if dossier.kind is not DossierKind.CURRENT:
        request = session.get(HabilitationRequest, dossier.request_id)
        assert request is not None
        session.add(TimelineEntry.notice_of(request, DOSSIER_NOTICE, details=details, at=now))
    session.flush()


def _claim_next(session: Session, *, now: datetime) -> int | None:
    """Lease the oldest pending dossier to this process in one conditional UPDATE; the caller commits."""
    candidate = session.scalar(
        select(Dossier.id)
        .where(Dossier.status == DossierStatus.PENDING)
        .where(or_(Dossier.lease_until.is_(None), Dossier.lease_until < now))
        .order_by(Dossier.id)
        .limit(1)
    )
    if candidate is None:
        return None
    claimed = session.execute(
        update(Dossier)
        .where(Dossier.id == candidate, Dossier.status == DossierStatus.PENDING)
        .where(or_(Dossier.lease_until.is_(None), Dossier.lease_until < now))
        .values(lease_until=now + LEASE, attempts=Dossier.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return candidate if claimed.rowcount == 1 else None


def generate_pending(session: Session, documents: Storage, *, limit: int = 10) -> int:
    """Render, sign and store pending dossiers, one transaction each. Commits (an entry point, like a CLI
    command); returns how many became ready. A dossier that fails is retried, then marked failed."""
    done = 0
    for _ in range(limit):
        dossier_id = _claim_next(session, now=utcnow())
        session.commit()
        if dossier_id is None:
            break
        dossier = session.get(Dossier, dossier_id, populate_existing=True)
        assert dossier is not None
        session.commit()  # no transaction stays open (nor any lock held) while the PDF renders
        try:
            pdf = render_signed(dossier, documents)
            stored = storage().save(io.BytesIO(pdf))
            _record(session, dossier, pdf, stored.key, stored.sha256)
            session.commit()
            done += 1
        except Exception as error:  # any failure of one dossier must not stop the others
            session.rollback()
            logger.exception("dossier %s: generation failed", dossier_id)
            _record_failure(session, dossier_id, error)
            session.commit()
    return done


def _record_failure(session: Session, dossier_id: int, error: Exception) -> None:
    dossier = session.get(Dossier, dossier_id, populate_existing=True)
    if dossier is None:
        return
    dossier.last_error = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
    dossier.lease_until = None
    if dossier.attempts >= MAX_ATTEMPTS:
        dossier.status = DossierStatus.FAILED
    session.flush()


def stored_pdf(dossier: Dossier) -> bytes:
    if dossier.storage_key is None:
        raise ValueError("dossier not generated yet")
    with storage().open(dossier.storage_key) as stream:
        return stream.read()


# --- rendering in the web process (development, demo) ----------------------------------------------------------

_kick_lock = threading.Lock()
_kick_running = False


def kick(app: Flask, documents: Storage) -> None:
    """Render what is pending in a background thread of this process, when the configuration asks the web
    process to do it (outside production, where no worker runs by default). One thread at a time."""
    global _kick_running
    if not app.config["DOSSIERS_IN_PROCESS"] or app.config.get("TESTING"):
        return
    with _kick_lock:
        if _kick_running:
            return
        _kick_running = True

    def run() -> None:
        global _kick_running
        try:
            with app.app_context():
                while generate_pending(db.session, documents):
                    pass
                db.session.remove()
        finally:
            with _kick_lock:
                _kick_running = False

    threading.Thread(target=run, name="dossiers", daemon=True).start()


# --- verification --------------------------------------------------------------------------------------------


def currentness(session: Session, dossier: DossierMetadata) -> str | None:
    """Whether the version a verified dossier shows is still the request's current one, in French."""
    request = session.get(HabilitationRequest, dossier.request_id)
    if request is None:
        return "Cette demande n'existe pas dans Habilitations DGFiP."
    known = session.scalar(
        select(func.count())
        .select_from(Dossier)
        .where(Dossier.request_id == request.id, Dossier.content_sha256 == dossier.content_sha256)
    )
    if not known:
        return f"Aucun dossier de ce contenu n'a été émis pour la demande {request.number}."
    now = build_content(
        session, request, kind=DossierKind.CURRENT, generated_at=utcnow(), verification_url=verification_url()
    )
    if now.content_sha256 == dossier.content_sha256:
        return f"C'est la version en vigueur de la demande {request.number} : son contenu n'a pas changé depuis."
    return (
        f"Ce n'est plus la version en vigueur : la demande {request.number} a changé depuis "
        f"(état actuel : {now.state}, {now.stage.lower()})."
    )
