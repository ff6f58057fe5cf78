"""Recording, revealing, superseding, revoking and re-encrypting API credentials.

Every function flushes and leaves the commit to its caller, except ``rotate_master_key``, which commits
each batch so that an interrupted rotation keeps the work done and a rerun carries on from there.

Secrets cross this module in one direction only: plaintext in (``record_credentials``), envelope stored;
envelope out, plaintext returned only after the audit entry of its reveal is written (``reveal_secret``).
A plaintext is never logged, never put in an audit entry, never kept on the model.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind
from tracker.accounts.principal import Principal
from tracker.accounts.queries import member_emails
from tracker.audit import services as audit
from tracker.db import utcnow
from tracker.habilitations.models import Habilitation, HabilitationRequest, HabilitationState
from tracker.habilitations.workflow import Actor, ActorNotAllowed, GuardFailed, WorkflowError
from tracker.notify.kinds import NotificationKind
from tracker.notify.services import queue_email
from tracker.vault import crypto
from tracker.vault.crypto import FieldContext, VaultIntegrityError
from tracker.vault.keys import KeyRing
from tracker.vault.models import ApiCredential, CredentialStatus, SecretField
from tracker.vault.state import current_key_ring

logger = logging.getLogger(__name__)

OBJECT_TYPE = "api_credential"
SECRET_PLACEHOLDER = "••••••••"
MAX_SECRET_LENGTH = 4096
MAX_PEM_LENGTH = 65536
MAX_QUOTA_PER_MINUTE = 1_000_000
SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
LOOPBACK_NAMES = frozenset({"localhost"})
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class InvalidCredentials(WorkflowError):
    http_status = 422


# --- keys and envelopes ---------------------------------------------------------------------------------


def _context(credential: ApiCredential, secret_field: SecretField) -> FieldContext:
    return FieldContext(ApiCredential.__tablename__, credential.id, secret_field.value)


def _alert_integrity_failure(
    session: Session, credential: ApiCredential, secret_field: SecretField, error: VaultIntegrityError
) -> None:
    """An envelope that fails to authenticate was altered or moved: an alert in the logs and the audit log.

    The audit entry is written in the caller's transaction; a caller that answers the error and rolls the
    rest back commits the alert on its own first (as ``audit.record_access_refusal`` does for refusals).
    """
    logger.error(
        "vault integrity failure: api_credentials row %s, field %s: %s", credential.id, secret_field.value, error.reason
    )
    audit.record(
        session,
        "vault.integrity_failure",
        object_type=OBJECT_TYPE,
        object_id=credential.id,
        details={"field": secret_field.value, "key_id": credential.key_id, "reason": error.reason},
    )


def decrypt_field(session: Session, credential: ApiCredential, secret_field: SecretField, keys: KeyRing) -> str:
    envelope = credential.envelope(secret_field)
    if envelope is None:
        raise InvalidCredentials("Cet accès n'a pas de clé privée enregistrée.")
    try:
        plaintext = crypto.decrypt(keys, envelope, _context(credential, secret_field))
        if crypto.envelope_key_id(envelope) != credential.key_id:
            # Rotation trusts the row's key id to find what is left under an old key: an envelope under
            # another key than the row says would be lost once that key leaves the configuration.
            raise VaultIntegrityError(_context(credential, secret_field), "clé différente de celle de la ligne")
        return plaintext
    except VaultIntegrityError as error:
        _alert_integrity_failure(session, credential, secret_field, error)
        raise


def _encrypt_fields(credential: ApiCredential, plaintexts: dict[SecretField, str], keys: KeyRing) -> None:
    for secret_field, plaintext in plaintexts.items():
        setattr(credential, secret_field.column, crypto.encrypt(keys, plaintext, _context(credential, secret_field)))
    credential.key_id = keys.current.key_id


# --- validation -----------------------------------------------------------------------------------------


def _text(value: str | None, label: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidCredentials(f"Indiquez {label}.")
    if len(text) > max_length:
        raise InvalidCredentials(f"{label[0].upper()}{label[1:]} : {max_length} caractères au maximum.")
    if CONTROL_CHARACTERS.search(text):
        raise InvalidCredentials(f"{label[0].upper()}{label[1:]} contient des caractères de contrôle.")
    return text


def _url(value: str | None, label: str) -> str:
    """HTTPS, or plain HTTP on the loopback only (the local DGFiP stand-in)."""
    url = _text(value, label, 500)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _is_loopback(host):
        return url
    raise InvalidCredentials(
        f"{label[0].upper()}{label[1:]} doit être une adresse https:// (http:// seulement en local)."
    )


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _scopes(values: Iterable[str], label: str) -> list[str]:
    scopes: list[str] = []
    for value in values:
        scope = (value or "").strip()
        if not SCOPE_PATTERN.match(scope):
            raise InvalidCredentials(f"{label} : « {scope[:64]} » n'est pas un identifiant valide.")
        if scope not in scopes:
            scopes.append(scope)
    return scopes


def _certificate(pem: str | None) -> str | None:
    if pem is None or not pem.strip():
        return None
    text = pem.strip()
    try:
        x509.load_pem_x509_certificate(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidCredentials("Le certificat client n'est pas un certificat PEM lisible.") from None
    return text + "\n"


def _private_key(pem: str | None) -> str | None:
    if pem is None or not pem.strip():
        return None
    text = pem.strip()
    if len(text) > MAX_PEM_LENGTH:
        raise InvalidCredentials("La clé privée est trop longue.")
    try:
        serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnicodeEncodeError):
        # The message never quotes the key: it is a secret even when malformed.
        raise InvalidCredentials("La clé privée n'est pas une clé PEM non chiffrée lisible.") from None
    return text + "\n"


def _quota(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUOTA_PER_MINUTE:
        raise InvalidCredentials(f"Le quota est un nombre d'appels par minute entre 1 et {MAX_QUOTA_PER_MINUTE}.")
    return value


# --- permissions ----------------------------------------------------------------------------------------


def _require_instructeur(principal: Principal) -> None:
    if principal.actor is not Actor.INSTRUCTEUR:
        raise ActorNotAllowed("Seul un instructeur de la DGFiP enregistre ou retire des accès à l'API.")


def is_handover_party(principal: Principal, request: HabilitationRequest) -> bool:
    """The parties that run the connector: the collectivité and its éditeur (never the DGFiP, which issued it)."""
    organization = principal.organization
    if organization.kind is OrganizationKind.COLLECTIVITE:
        return organization.id == request.organization_id
    if organization.kind is OrganizationKind.EDITEUR:
        return organization.id == request.editeur_id
    return False


def can_reveal(principal: Principal, credential: ApiCredential) -> bool:
    return is_handover_party(principal, credential.habilitation.request)


def _audit(
    session: Session, principal: Principal | None, credential: ApiCredential, action: str, details: dict[str, Any]
) -> None:
    audit.record(
        session,
        action,
        actor=principal.user if principal else None,
        organization_id=principal.organization.id if principal else None,
        object_type=OBJECT_TYPE,
        object_id=credential.id,
        details={"habilitation": credential.habilitation_id, **details},
    )


# --- services -------------------------------------------------------------------------------------------


def record_credentials(
    session: Session,
    habilitation: Habilitation,
    *,
    principal: Principal,
    client_id: str,
    client_secret: str,
    id_teleservice: str,
    oauth_scopes: Iterable[str],
    token_url: str,
    api_base_url: str,
    granted_scopes: Iterable[str],
    modalities: Iterable[str] = (),
    quota_per_minute: int | None = None,
    expires_on: date | None = None,
    client_certificate_pem: str | None = None,
    private_key_pem: str | None = None,
    keys: KeyRing | None = None,
) -> ApiCredential:
    """A DGFiP instructor records the credentials APIM issued for an active habilitation.

    The row is inserted first: its id is part of the associated data every envelope is bound to.
    """
    _require_instructeur(principal)
    if habilitation.state is not HabilitationState.ACTIVE:
        raise GuardFailed(f"L'habilitation {habilitation.number} n'est pas active : aucun accès ne s'y ajoute.")
    ring = keys or current_key_ring()
    secret = _text(client_secret, "le secret client", MAX_SECRET_LENGTH)
    private_key = _private_key(private_key_pem)
    certificate = _certificate(client_certificate_pem)
    if private_key is not None and certificate is None:
        raise InvalidCredentials("Une clé privée s'enregistre avec son certificat client.")
    now = utcnow()
    credential = ApiCredential(
        habilitation_id=habilitation.id,
        stage=habilitation.stage,
        client_id=_text(client_id, "l'identifiant client (client_id)", 255),
        # Replaced by the envelope below, in the same transaction: no row is ever committed without it.
        client_secret_encrypted="",
        id_teleservice=_text(id_teleservice, "l'ID_Teleservice", 64),
        oauth_scopes=_scopes(oauth_scopes, "Scopes OAuth"),
        token_url=_url(token_url, "l'adresse du jeton (token URL)"),
        api_base_url=_url(api_base_url, "l'adresse de base de l'API"),
        granted_scopes=_scopes(granted_scopes, "Données accordées"),
        modalities=[_text(modality, "la modalité", 64) for modality in modalities],
        quota_per_minute=_quota(quota_per_minute),
        expires_on=expires_on,
        status=CredentialStatus.ACTIVE,
        client_certificate_pem=certificate,
        key_id=ring.current.key_id,
        created_at=now,
        created_by_id=principal.user.id,
        updated_at=now,
        updated_by_id=principal.user.id,
    )
    credential.habilitation = habilitation
    session.add(credential)
    session.flush()
    plaintexts = {SecretField.CLIENT_SECRET: secret}
    if private_key is not None:
        plaintexts[SecretField.PRIVATE_KEY] = private_key
    _encrypt_fields(credential, plaintexts, ring)
    session.flush()
    _audit(
        session,
        principal,
        credential,
        "vault.credentials_recorded",
        {"client_id": credential.client_id, "stage": credential.stage.value, "key_id": credential.key_id},
    )
    _announce(session, credential)
    return credential


def _announce(session: Session, credential: ApiCredential) -> None:
    """« Credentials available » (DOMAIN §10) to the collectivité and its éditeur: where to fetch them,
    never the secret itself."""
    habilitation = credential.habilitation
    earlier = session.scalar(
        select(func.count())
        .select_from(ApiCredential)
        .where(ApiCredential.habilitation_id == habilitation.id, ApiCredential.id != credential.id)
    )
    tell_handover_parties(
        session, credential, "credentials_available", NotificationKind.CREDENTIALS_AVAILABLE, is_renewal=bool(earlier)
    )


def tell_handover_parties(
    session: Session, credential: ApiCredential, template: str, kind: NotificationKind, **context: Any
) -> int:
    """An email about a credential to the members of the collectivité and its éditeur, who run the
    connector (each member's choice for ``kind`` applies); how many were queued."""
    habilitation = credential.habilitation
    request = habilitation.request
    recipients = member_emails(session, {request.organization_id, request.editeur_id}, kind=kind)
    for email in recipients:
        queue_email(
            session,
            template,
            email,
            kind=kind,
            habilitation_request_id=request.id,
            hab_request=request,
            habilitation=habilitation,
            credential=credential,
            **context,
        )
    return len(recipients)


def reveal_secret(
    session: Session,
    credential: ApiCredential,
    *,
    principal: Principal,
    secret_field: SecretField = SecretField.CLIENT_SECRET,
    keys: KeyRing | None = None,
) -> str:
    """The plaintext, returned only once the audit entry of this reveal is written (fail closed: if the
    audit write raises, so does this, and the plaintext goes nowhere)."""
    if not can_reveal(principal, credential):
        raise ActorNotAllowed("Seuls la collectivité et son éditeur peuvent afficher ce secret.")
    if credential.status is not CredentialStatus.ACTIVE:
        raise GuardFailed(f"Cet accès est {credential.status.label.lower()} : son secret ne s'affiche plus.")
    plaintext = decrypt_field(session, credential, secret_field, keys or current_key_ring())
    _audit(session, principal, credential, "vault.secret_revealed", {"field": secret_field.value})
    return plaintext


def supersede(session: Session, credential: ApiCredential, *, principal: Principal) -> None:
    """An active credential gives way to a newer one: kept for the record, no longer handed out."""
    _require_instructeur(principal)
    if credential.status is not CredentialStatus.ACTIVE:
        raise GuardFailed(f"Seul un accès actif peut être remplacé ; celui-ci est {credential.status.label.lower()}.")
    now = utcnow()
    credential.status = CredentialStatus.SUPERSEDED
    credential.superseded_at = now
    credential.updated_at = now
    credential.updated_by_id = principal.user.id
    session.flush()
    _audit(session, principal, credential, "vault.credentials_superseded", {})


def revoke(session: Session, credential: ApiCredential, *, principal: Principal | None, reason: str) -> None:
    """Stop a credential for good; ``principal`` None is the tracker itself (the habilitation ended)."""
    if principal is not None:
        _require_instructeur(principal)
    if credential.status not in (CredentialStatus.ACTIVE, CredentialStatus.SUPERSEDED):
        raise GuardFailed(f"Cet accès est déjà {credential.status.label.lower()}.")
    text = _text(reason, "le motif de la révocation", 2000)
    now = utcnow()
    credential.status = CredentialStatus.REVOKED
    credential.revoked_at = now
    credential.revocation_reason = text
    credential.updated_at = now
    credential.updated_by_id = principal.user.id if principal else None
    session.flush()
    _audit(session, principal, credential, "vault.credentials_revoked", {"reason": text})


def credentials_of(session: Session, habilitation_id: int) -> list[ApiCredential]:
    return list(
        session.execute(
            select(ApiCredential)
            .where(ApiCredential.habilitation_id == habilitation_id)
            .order_by(ApiCredential.created_at.desc(), ApiCredential.id.desc())
        ).scalars()
    )


# --- master key rotation --------------------------------------------------------------------------------


@dataclass
class RotationProgress:
    """Where a rotation stands after each committed batch."""

    key_id: str
    batches: int = 0
    reencrypted: int = 0
    remaining: int = 0
    # Rows whose envelopes failed to authenticate: left as they are, alerted, counted in ``remaining``.
    failed_ids: list[int] = field(default_factory=list)


def _remaining(session: Session, key_id: str) -> int:
    return session.execute(
        select(func.count()).select_from(ApiCredential).where(ApiCredential.key_id != key_id)
    ).scalar_one()


def rotate_master_key(
    session: Session,
    *,
    batch_size: int = 100,
    keys: KeyRing | None = None,
    on_batch: Callable[[RotationProgress], None] | None = None,
) -> RotationProgress:
    """Re-encrypt every row not yet under the newest key, ``batch_size`` rows per committed transaction.

    Resumable: rows already on the newest key are never selected, so a rerun after an interruption (even
    one inside a batch, whose transaction then rolls back whole) carries on with what is left. A row whose
    envelope fails to authenticate is left as it is, reported and alerted, and does not stop the others.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    ring = keys or current_key_ring()
    current = ring.current.key_id
    progress = RotationProgress(key_id=current, remaining=_remaining(session, current))
    session.commit()
    last_id = 0
    while True:
        batch = list(
            session.execute(
                select(ApiCredential)
                .where(ApiCredential.key_id != current, ApiCredential.id > last_id)
                .order_by(ApiCredential.id)
                .limit(batch_size)
                .with_for_update()
            ).scalars()
        )
        if not batch:
            break
        for credential in batch:
            last_id = credential.id
            try:
                plaintexts = {
                    secret_field: decrypt_field(session, credential, secret_field, ring)
                    for secret_field in SecretField
                    if credential.envelope(secret_field) is not None
                }
            except VaultIntegrityError:
                progress.failed_ids.append(credential.id)
                continue
            _encrypt_fields(credential, plaintexts, ring)
            progress.reencrypted += 1
        session.flush()
        session.commit()
        progress.batches += 1
        progress.remaining = _remaining(session, current)
        session.commit()
        if on_batch is not None:
            on_batch(progress)
    return progress
