"""The life of API credentials after approval: issuing (by hand or from the API manager), renewing the secret
with an overlap, revocation when the habilitation ends, expiry and its reminders, and « Tester la
connexion ».

Like ``services``, every function here flushes and leaves the commit to its caller. Calls to the API
manager happen inside the caller's transaction, before its commit:

- creating or renewing at the API manager first, then recording: if the API manager refuses, nothing is
  written; if recording then fails, the client just created is revoked there again (best effort, logged).
- revoking: the credential is revoked in the vault whatever the API manager answers. A failed remote
  revocation is logged and audited (``vault.remote_revocation_failed``, with the client id) so that the
  operators revoke it there by hand or with ``retry_remote_revocations`` (run by ``tracker remind``). A
  transaction that rolls back after a successful remote revocation leaves a client revoked too early, never
  one left open: the safe side.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlencode

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tracker.accounts.principal import Principal
from tracker.audit import services as audit
from tracker.audit.models import AuditEntry
from tracker.db import utcnow
from tracker.habilitations.models import ExpiryReminder, Habilitation, HabilitationRequest, HabilitationState
from tracker.habilitations.workflow import Actor, ActorNotAllowed, GuardFailed
from tracker.notify.kinds import NotificationKind
from tracker.vault import provisioning, services
from tracker.vault.keys import KeyRing
from tracker.vault.models import ApiCredential, CredentialStatus, SecretField
from tracker.vault.provisioning import ProvisioningError
from tracker.vault.state import current_key_ring

logger = logging.getLogger(__name__)

REMINDER_DAYS = (30, 7)
LIVE_STATUSES = (CredentialStatus.ACTIVE, CredentialStatus.SUPERSEDED)
REMOTE_REVOCATION_FAILED = "vault.remote_revocation_failed"
REMOTE_REVOCATION_DONE = "vault.remote_revocation_done"
TOKEN_TIMEOUT_SECONDS = 10.0


def _audit(
    session: Session, principal: Principal | None, credential: ApiCredential, action: str, details: dict[str, Any]
) -> None:
    audit.record(
        session,
        action,
        actor=principal.user if principal else None,
        organization_id=principal.organization.id if principal else None,
        object_type=services.OBJECT_TYPE,
        object_id=credential.id,
        details={"habilitation": credential.habilitation_id, **details},
    )


def _require_instructeur(principal: Principal) -> None:
    if principal.actor is not Actor.INSTRUCTEUR:
        raise ActorNotAllowed("Seul un instructeur de la DGFiP délivre ou renouvelle des accès à l'API.")


def active_credentials(session: Session, habilitation_id: int) -> list[ApiCredential]:
    return list(
        session.execute(
            select(ApiCredential)
            .where(ApiCredential.habilitation_id == habilitation_id, ApiCredential.status == CredentialStatus.ACTIVE)
            .order_by(ApiCredential.id)
        ).scalars()
    )


def _supersede(
    session: Session, credentials: Iterable[ApiCredential], *, principal: Principal, valid_until: datetime | None
) -> None:
    for credential in credentials:
        services.supersede(session, credential, principal=principal)
        credential.valid_until = valid_until
    session.flush()


# --- issuing --------------------------------------------------------------------------------------------


def record_replacing(
    session: Session, habilitation: Habilitation, *, principal: Principal, keys: KeyRing | None = None, **fields: Any
) -> ApiCredential:
    """Record credentials issued by hand; the habilitation's active credential, if any, is superseded."""
    previous = active_credentials(session, habilitation.id)
    credential = services.record_credentials(session, habilitation, principal=principal, keys=keys, **fields)
    _supersede(session, previous, principal=principal, valid_until=None)
    return credential


def issue_from_api_manager(
    session: Session, habilitation: Habilitation, *, principal: Principal, keys: KeyRing | None = None
) -> ApiCredential:
    """« Générer les accès »: the API manager creates a client, whose secret goes straight into the vault."""
    _require_instructeur(principal)
    if habilitation.state is not HabilitationState.ACTIVE:
        raise GuardFailed(f"L'habilitation {habilitation.number} n'est pas active : aucun accès ne s'y ajoute.")
    ring = keys or current_key_ring()  # sealed: refuse before asking the API manager for anything
    issued = provisioning.provision(habilitation)
    try:
        credential = record_replacing(
            session,
            habilitation,
            principal=principal,
            keys=ring,
            client_id=issued.client_id,
            client_secret=issued.client_secret,
            id_teleservice=issued.id_teleservice,
            oauth_scopes=issued.oauth_scopes,
            token_url=issued.token_url,
            api_base_url=issued.api_base_url,
            granted_scopes=issued.datapass_scopes,
            quota_per_minute=issued.quota_per_minute,
            expires_on=issued.expires_on,
        )
    except Exception:
        _undo_provisioning(issued.client_id)
        raise
    _audit(session, principal, credential, "vault.credentials_provisioned", {"client_id": credential.client_id})
    return credential


def _undo_provisioning(client_id: str) -> None:
    client = provisioning.configured_client()
    if client is None:
        return
    try:
        client.revoke_client(client_id)
    except ProvisioningError as error:
        logger.error("could not revoke API client %s created for a record that failed: %s", client_id, error.message)


# --- rotation -------------------------------------------------------------------------------------------


def rotation_overlap() -> timedelta:
    return timedelta(hours=int(current_app.config["VAULT_ROTATION_OVERLAP_HOURS"]))


def rotate(
    session: Session,
    credential: ApiCredential,
    *,
    principal: Principal,
    overlap: timedelta | None = None,
    keys: KeyRing | None = None,
) -> ApiCredential:
    """« Renouveler le secret »: a new secret from the API manager becomes the active credential; the old
    one is superseded and keeps working at the API manager until ``valid_until`` (now + overlap)."""
    _require_instructeur(principal)
    if credential.status is not CredentialStatus.ACTIVE:
        raise GuardFailed(f"Seul un accès actif se renouvelle ; celui-ci est {credential.status.label.lower()}.")
    ring = keys or current_key_ring()
    overlap = rotation_overlap() if overlap is None else overlap
    # Read before asking for a new secret: an envelope that fails to authenticate stops the rotation here.
    private_key = (
        services.decrypt_field(session, credential, SecretField.PRIVATE_KEY, ring)
        if credential.has_private_key
        else None
    )
    rotated = provisioning.rotate_secret(credential, overlap)
    new = services.record_credentials(
        session,
        credential.habilitation,
        principal=principal,
        keys=ring,
        client_id=credential.client_id,
        client_secret=rotated.client_secret,
        id_teleservice=credential.id_teleservice,
        oauth_scopes=credential.oauth_scopes,
        token_url=credential.token_url,
        api_base_url=credential.api_base_url,
        granted_scopes=credential.granted_scopes,
        modalities=credential.modalities,
        quota_per_minute=credential.quota_per_minute,
        expires_on=credential.expires_on,
        client_certificate_pem=credential.client_certificate_pem,
        private_key_pem=private_key,
    )
    # The API manager's own end of the overlap when it gives one: it is the one that accepts or refuses.
    until = rotated.previous_secret_valid_until
    if until is None or until.tzinfo is None:
        until = utcnow() + overlap
    _supersede(session, [credential], principal=principal, valid_until=until)
    _audit(
        session,
        principal,
        new,
        "vault.secret_rotated",
        {"previous": credential.id, "overlap_seconds": int(overlap.total_seconds())},
    )
    return new


# --- revocation -----------------------------------------------------------------------------------------


def revoke_credentials(session: Session, habilitations: Iterable[Habilitation], *, reason: str) -> list[ApiCredential]:
    """Revoke every live credential of ``habilitations`` (the tracker itself acts), then their clients at the
    API manager when one is configured; a remote failure is logged and audited for a retry."""
    ids = [habilitation.id for habilitation in habilitations]
    if not ids:
        return []
    live = list(
        session.execute(
            select(ApiCredential)
            .where(ApiCredential.habilitation_id.in_(ids), ApiCredential.status.in_(LIVE_STATUSES))
            .order_by(ApiCredential.id)
        ).scalars()
    )
    for credential in live:
        services.revoke(session, credential, principal=None, reason=reason)
    client = provisioning.configured_client()
    if client is not None:
        done: set[str] = set()
        for credential in live:
            if credential.client_id not in done:
                done.add(credential.client_id)
                _revoke_remotely(session, client, credential)
    return live


def _revoke_remotely(session: Session, client: provisioning.ProvisioningClient, credential: ApiCredential) -> bool:
    try:
        client.revoke_client(credential.client_id)
    except ProvisioningError as error:
        logger.error(
            "API client %s (credential %s) revoked in the vault but not at the API manager: %s",
            credential.client_id,
            credential.id,
            error.message,
        )
        _audit(
            session,
            None,
            credential,
            REMOTE_REVOCATION_FAILED,
            {"client_id": credential.client_id, "error": error.message},
        )
        return False
    _audit(session, None, credential, REMOTE_REVOCATION_DONE, {"client_id": credential.client_id})
    return True


def on_request_revoked(session: Session, request: HabilitationRequest, reason: str | None) -> list[ApiCredential]:
    """Called by the workflow when DGFiP revokes a request: its credentials stop with its habilitations,
    including any still live on an habilitation an update made obsolete."""
    ended = [h for h in request.habilitations if h.state is not HabilitationState.ACTIVE]
    text = (reason or "").strip().rstrip(".")
    return revoke_credentials(session, ended, reason=f"Habilitation révoquée{' : ' + text if text else ''}."[:2000])


def on_habilitation_expired(session: Session, habilitation: Habilitation, reason: str) -> list[ApiCredential]:
    """Called by ``tracker remind`` in the transaction that expires ``habilitation``."""
    return revoke_credentials(session, [habilitation], reason=f"Habilitation expirée : {reason}"[:2000])


def retry_remote_revocations(session: Session) -> int:
    """Revoke again at the API manager the clients whose last remote revocation failed; the number done."""
    client = provisioning.configured_client()
    if client is None:
        return 0
    entries = session.execute(
        select(AuditEntry.object_id, AuditEntry.action)
        .where(
            AuditEntry.object_type == services.OBJECT_TYPE,
            AuditEntry.action.in_((REMOTE_REVOCATION_FAILED, REMOTE_REVOCATION_DONE)),
        )
        .order_by(AuditEntry.seq)
    ).all()
    last: dict[str, str] = {}
    for object_id, action in entries:
        last[object_id] = action
    pending = [int(object_id) for object_id, action in last.items() if action == REMOTE_REVOCATION_FAILED]
    done = 0
    for credential_id in pending:
        credential = session.get(ApiCredential, credential_id)
        if credential is not None and _revoke_remotely(session, client, credential):
            done += 1
    session.flush()
    return done


# --- expiry ---------------------------------------------------------------------------------------------


def expire_credentials(session: Session, today: date) -> list[ApiCredential]:
    """Live credentials past their ``expires_on`` (valid through that day) become expired."""
    lapsed = list(
        session.execute(
            select(ApiCredential)
            .where(
                ApiCredential.status.in_(LIVE_STATUSES),
                ApiCredential.expires_on.is_not(None),
                ApiCredential.expires_on < today,
            )
            .order_by(ApiCredential.id)
        ).scalars()
    )
    now = utcnow()
    for credential in lapsed:
        credential.status = CredentialStatus.EXPIRED
        credential.updated_at = now
        credential.updated_by_id = None
        _audit(
            session, None, credential, "vault.credentials_expired", {"expires_on": credential.expires_on.isoformat()}
        )
    session.flush()
    return lapsed


def credential_reminder_threshold(days_left: int) -> int | None:
    due = [days for days in REMINDER_DAYS if days_left <= days]
    return min(due) if due and days_left >= 0 else None


def send_credential_reminders(session: Session, today: date) -> int:
    """Emails to the collectivité and its éditeur (who run the connector) 30 and 7 days before an active
    credential expires, each once. The ``expiry_reminders`` table's unique key makes « once » hold across
    runs, as for the habilitation's own dates; the date key names the credential."""
    sent = 0
    credentials = session.execute(
        select(ApiCredential)
        .options(selectinload(ApiCredential.habilitation).selectinload(Habilitation.request))
        .where(
            ApiCredential.status == CredentialStatus.ACTIVE,
            ApiCredential.expires_on.is_not(None),
            ApiCredential.expires_on >= today,
            ApiCredential.expires_on <= today + timedelta(days=max(REMINDER_DAYS)),
        )
        .order_by(ApiCredential.expires_on, ApiCredential.id)
    ).scalars()
    for credential in credentials:
        assert credential.expires_on is not None
        days_left = (credential.expires_on - today).days
        threshold = credential_reminder_threshold(days_left)
        if threshold is None:
            continue
        habilitation = credential.habilitation
        request = habilitation.request
        try:
            with session.begin_nested():
                session.add(
                    ExpiryReminder(
                        request_id=request.id,
                        habilitation_id=habilitation.id,
                        date_key=f"api_credential:{credential.id}",
                        due_on=credential.expires_on,
                        days_before=threshold,
                        sent_at=utcnow(),
                    )
                )
        except IntegrityError:
            continue
        sent += services.tell_handover_parties(
            session,
            credential,
            "credentials_expiry",
            NotificationKind.EXPIRY_REMINDER,
            due_on=credential.expires_on,
            days_left=days_left,
        )
    session.flush()
    return sent


@dataclass
class CredentialsReport:
    expired: list[int] = field(default_factory=list)
    reminders: int = 0
    remote_revocations_retried: int = 0


def run(session: Session, today: date) -> CredentialsReport:
    """The credentials' part of ``tracker remind``."""
    report = CredentialsReport()
    report.expired = [credential.id for credential in expire_credentials(session, today)]
    report.reminders = send_credential_reminders(session, today)
    report.remote_revocations_retried = retry_remote_revocations(session)
    return report


# --- « Tester la connexion » ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionReport:
    is_ok: bool
    message: str
    status: int | None = None
    scopes: tuple[str, ...] = ()
    expires_in: int | None = None
    error: str | None = None


def can_test(principal: Principal, credential: ApiCredential) -> bool:
    return principal.actor is Actor.INSTRUCTEUR or services.can_reveal(principal, credential)


def _basic_authorization(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: each part form-urlencoded before the Basic encoding.
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _token_report(reply: provisioning.HttpReply) -> ConnectionReport:
    data = reply.json()
    if reply.status == 200 and isinstance(data, dict) and isinstance(data.get("access_token"), str):
        scopes = tuple(str(data.get("scope") or "").split())
        expires_in = data.get("expires_in") if isinstance(data.get("expires_in"), int) else None
        lifetime = f", jeton valable {expires_in} secondes" if expires_in is not None else ""
        granted = ", ".join(scopes) or "aucun"
        return ConnectionReport(
            True, f"Connexion réussie : scopes accordés {granted}{lifetime}.", 200, scopes, expires_in
        )
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        error = data["error"][:64]
        description = str(data.get("error_description") or "")[:300]
        return ConnectionReport(
            False,
            f"Le point de jeton refuse ces identifiants : {error} (HTTP {reply.status})"
            f"{' – ' + description if description else ''}.",
            reply.status,
            error=error,
        )
    return ConnectionReport(False, f"Réponse inattendue du point de jeton (HTTP {reply.status}).", reply.status)


def check_connection(
    session: Session, credential: ApiCredential, *, principal: Principal, keys: KeyRing | None = None
) -> ConnectionReport:
    """Ask the credential's token endpoint for a token (client credentials grant) and say how it went.
    The secret is decrypted for this call only; the report and the audit entry never contain it."""
    if not can_test(principal, credential):
        raise ActorNotAllowed("Seuls la DGFiP, la collectivité et son éditeur testent cet accès.")
    if credential.status not in LIVE_STATUSES:
        raise GuardFailed(f"Cet accès est {credential.status.label.lower()} : il ne se teste plus.")
    secret = services.decrypt_field(session, credential, SecretField.CLIENT_SECRET, keys or current_key_ring())
    body = urlencode({"grant_type": "client_credentials", "scope": " ".join(credential.oauth_scopes)}).encode()
    try:
        reply = provisioning.exchange(
            "POST",
            credential.token_url,
            headers={
                "Authorization": _basic_authorization(credential.client_id, secret),
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            body=body,
            timeout=TOKEN_TIMEOUT_SECONDS,
            what="le point de jeton",
        )
    except ProvisioningError as error:
        report = ConnectionReport(False, f"Connexion impossible : {error.message[0].lower()}{error.message[1:]}")
    else:
        report = _token_report(reply)
    _audit(
        session,
        principal,
        credential,
        "vault.connection_tested",
        {"ok": report.is_ok, "status": report.status, "error": report.error, "scopes": list(report.scopes)},
    )
    return report
