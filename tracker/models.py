"""Every table, imported in one place so Alembic and the tests see the whole metadata."""

from tracker.accounts.models import AuthSession, Invitation, Membership, Organization, User
from tracker.attestations.models import Attestation
from tracker.audit.models import AuditChainHead, AuditEntry
from tracker.db import Base
from tracker.documents.models import Document
from tracker.dossiers.models import Dossier
from tracker.habilitations.models import (
    ExpiryReminder,
    Habilitation,
    HabilitationRequest,
    RequestSection,
    TimelineEntry,
)
from tracker.instruction.models import InternalNote, MessageTemplate, RequestAssignment
from tracker.notify.models import NotificationPreference, OutboxMessage
from tracker.products.models import SoftwareProduct
from tracker.vault.models import ApiCredential, ConnectorToken, RevealLink

__all__ = [
    "ApiCredential",
    "Attestation",
    "AuditChainHead",
    "AuditEntry",
    "AuthSession",
    "Base",
    "ConnectorToken",
    "Document",
    "Dossier",
    "ExpiryReminder",
    "Habilitation",
    "HabilitationRequest",
    "InternalNote",
    "Invitation",
    "Membership",
    "MessageTemplate",
    "NotificationPreference",
    "Organization",
    "OutboxMessage",
    "RequestAssignment",
    "RequestSection",
    "RevealLink",
    "SoftwareProduct",
    "TimelineEntry",
    "User",
]
