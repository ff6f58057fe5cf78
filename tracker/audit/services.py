"""Writing and verifying the audit log.

Appends lock the single chain-head row first (an UPDATE, so SQLite takes its write lock too): two
transactions can never read the same previous hash, and the chain never forks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import ScalarResult, select, update
from sqlalchemy.orm import Session

from tracker.audit.chain import GENESIS_HASH, entry_digest
from tracker.audit.models import AuditChainHead, AuditEntry
from tracker.db import utcnow

HEAD_ID = 1
HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor_email",
    "organization_id",
    "action",
    "object_type",
    "object_id",
    "request_id",
    "ip_address",
    "details",
)


def _hashed_fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def _lock_head(session: Session) -> AuditChainHead:
    locked = session.execute(
        update(AuditChainHead).where(AuditChainHead.id == HEAD_ID).values(last_seq=AuditChainHead.last_seq)
    )
    if locked.rowcount == 0:  # type: ignore[attr-defined]
        session.add(AuditChainHead(id=HEAD_ID, last_seq=0, last_hash=GENESIS_HASH))
        session.flush()
    head = session.execute(
        select(AuditChainHead).where(AuditChainHead.id == HEAD_ID).execution_options(populate_existing=True)
    ).scalar_one()
    return head


def record(
    session: Session,
    action: str,
    *,
    actor: Any = None,
    organization_id: int | None = None,
    object_type: str | None = None,
    object_id: int | str | None = None,
    details: dict[str, Any] | None = None,
    actor_email: str | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (it commits or rolls back with the change)."""
    head = _lock_head(session)
    entry = AuditEntry(
        seq=head.last_seq + 1,
        created_at=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor_email=getattr(actor, "email", None) or actor_email,
        organization_id=organization_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        request_id=g.get("request_id") if has_request_context() else None,
        ip_address=request.remote_addr if has_request_context() else None,
        details=details or {},
        prev_hash=head.last_hash,
    )
    entry.hash = entry_digest(head.last_hash, _hashed_fields(entry))
    head.last_seq = entry.seq
    head.last_hash = entry.hash
    session.add(entry)
    session.flush()
    return entry


def record_access_refusal(
    session: Session, actor: Any, organization_id: int | None, object_type: str, object_id: int | str
) -> None:
    """A refused access is a security event that must outlive the refused request: it is committed
    on its own, before the caller answers 403 or 404 (and rolls back anything else)."""
    session.rollback()
    record(
        session,
        "access_refused",
        actor=actor,
        organization_id=organization_id,
        object_type=object_type,
        object_id=object_id,
    )
    session.commit()


@dataclass(frozen=True)
class VerificationResult:
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def is_valid(self) -> bool:
        return self.problem is None


def _entries(session: Session) -> ScalarResult[AuditEntry]:
    # populate_existing: compare what the database holds, not what this session cached when writing.
    return session.execute(
        select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000, populate_existing=True)
    ).scalars()


def _head(session: Session) -> AuditChainHead | None:
    return session.get(AuditChainHead, HEAD_ID, populate_existing=True)


def verify(session: Session) -> VerificationResult:
    """Walk the chain; name the first entry that was edited, inserted, or follows a deleted one."""
    # The head is read before the walk: every entry it counts is committed by then, so an append
    # racing with the walk (PostgreSQL, READ COMMITTED) cannot pass for a deletion at the end.
    head = _head(session)
    previous_hash = GENESIS_HASH
    hash_at_head: str | None = None
    expected_seq = 1
    checked = 0
    # Closed on every return: on PostgreSQL, yield_per streams through a server-side cursor.
    with _entries(session) as entries:
        for entry in entries:
            if entry.seq != expected_seq:
                return VerificationResult(
                    checked, entry.seq, f"entrée n° {expected_seq} manquante avant la n° {entry.seq}"
                )
            if entry.prev_hash != previous_hash:
                return VerificationResult(checked, entry.seq, f"entrée n° {entry.seq} : lien vers la précédente rompu")
            if entry_digest(previous_hash, _hashed_fields(entry)) != entry.hash:
                return VerificationResult(checked, entry.seq, f"entrée n° {entry.seq} (id {entry.id}) modifiée")
            if head is not None and entry.seq == head.last_seq:
                hash_at_head = entry.hash
            previous_hash = entry.hash
            expected_seq += 1
            checked += 1
    last_seq = expected_seq - 1
    if head is None:
        if checked:
            return VerificationResult(
                checked, last_seq + 1, f"tête de chaîne absente : entrées supprimées après la n° {last_seq} ?"
            )
        return VerificationResult(checked)
    if last_seq < head.last_seq:
        return VerificationResult(checked, last_seq + 1, f"entrées supprimées en fin de journal après la n° {last_seq}")
    if hash_at_head != head.last_hash and head.last_seq > 0:
        return VerificationResult(
            checked, head.last_seq, f"entrée n° {head.last_seq} remplacée (empreinte de tête différente)"
        )
    if last_seq > head.last_seq:
        latest = _head(session)  # entries appended during the walk are counted by the head by now
        counted = head.last_seq if latest is None else latest.last_seq
        if last_seq > counted:
            return VerificationResult(checked, counted + 1, f"entrée n° {counted + 1} ajoutée hors du journal")
    return VerificationResult(checked)
