"""Connector tokens and the credential bundle they fetch (DOMAIN §11, SECURITY §F 35).

A connector token is a bearer token scoped to one habilitation, created by the collectivité or its éditeur,
shown once (``hdc_`` + 256 random bits), stored as its SHA-256 with a short clear prefix for the lists,
with an expiry (one year by default, two at most), revocable. The connector presents it to
``GET /api/v1/connector/credentials`` and receives the active credential's bundle; every refusal names a
stable code, and the habilitation's or credential's end stops the connector at its next call.

Functions flush; callers commit.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.principal import Principal
from tracker.audit import services as audit
from tracker.db import utcnow
from tracker.habilitations.models import Habilitation, HabilitationState
from tracker.habilitations.workflow import ActorNotAllowed, GuardFailed, WorkflowError
from tracker.vault import services
from tracker.vault.keys import KeyRing
from tracker.vault.models import ApiCredential, ConnectorToken, ConnectorTokenStatus, CredentialStatus, SecretField
from tracker.vault.reveal import may_hand_over

TOKEN_PREFIX = "hdc_"
TOKEN_BYTES = 32
# « hdc_ » and the first characters of the random part: enough to tell tokens apart, useless to guess one.
VISIBLE_PREFIX_LENGTH = len(TOKEN_PREFIX) + 6
DEFAULT_LIFETIME = timedelta(days=365)
MAX_LIFETIME = timedelta(days=730)
MAX_NAME_LENGTH = 100
OBJECT_TYPE = "connector_token"


class InvalidConnectorToken(WorkflowError):
    """A refused name or expiry; ``field`` names the form field it concerns."""

    http_status = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def default_expiry(today: date) -> date:
    return today + DEFAULT_LIFETIME


def latest_expiry(today: date) -> date:
    return today + MAX_LIFETIME


def _require_party(principal: Principal, habilitation: Habilitation) -> None:
    if not may_hand_over(principal, habilitation):
        raise ActorNotAllowed("Seuls la collectivité et son éditeur gèrent les jetons de connecteur.")


def _audit(session: Session, principal: Principal, token: ConnectorToken, action: str) -> None:
    audit.record(
        session,
        action,
        actor=principal.user,
        organization_id=principal.organization.id,
        object_type=OBJECT_TYPE,
        object_id=token.id,
        details={"habilitation": token.habilitation_id, "name": token.name, "prefix": token.token_prefix},
    )


def create_token(
    session: Session, habilitation: Habilitation, *, principal: Principal, name: str, expires_on: date | None = None
) -> tuple[ConnectorToken, str]:
    """The new token's row and its clear value, which the caller shows once and never keeps."""
    _require_party(principal, habilitation)
    if habilitation.state is not HabilitationState.ACTIVE:
        raise GuardFailed(f"L'habilitation {habilitation.number} n'est plus active : aucun jeton ne s'y ajoute.")
    label = " ".join((name or "").split())
    if not label:
        raise InvalidConnectorToken("Donnez un nom au jeton (par exemple, le serveur qui l'utilise).", field="name")
    if len(label) > MAX_NAME_LENGTH:
        raise InvalidConnectorToken(f"Le nom du jeton : {MAX_NAME_LENGTH} caractères au maximum.", field="name")
    today = utcnow().date()
    expiry = expires_on or default_expiry(today)
    if expiry <= today:
        raise InvalidConnectorToken("La date d'expiration doit être postérieure à aujourd'hui.", field="expires_on")
    if expiry > latest_expiry(today):
        raise InvalidConnectorToken("Un jeton de connecteur vaut deux ans au plus.", field="expires_on")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token = ConnectorToken(
        habilitation_id=habilitation.id,
        organization_id=principal.organization.id,
        name=label,
        token_prefix=clear[:VISIBLE_PREFIX_LENGTH],
        token_sha256=token_sha256(clear),
        expires_on=expiry,
        created_at=utcnow(),
        created_by_id=principal.user.id,
    )
    session.add(token)
    session.flush()
    _audit(session, principal, token, "connector.token_created")
    return token, clear


def revoke_token(session: Session, token: ConnectorToken, *, principal: Principal) -> None:
    _require_party(principal, token.habilitation)
    if token.revoked_at is not None:
        raise GuardFailed("Ce jeton est déjà révoqué.")
    token.revoked_at = utcnow()
    token.revoked_by_id = principal.user.id
    session.flush()
    _audit(session, principal, token, "connector.token_revoked")


def tokens_of(session: Session, habilitation_id: int) -> list[ConnectorToken]:
    return list(
        session.execute(
            select(ConnectorToken)
            .where(ConnectorToken.habilitation_id == habilitation_id)
            .order_by(ConnectorToken.created_at.desc(), ConnectorToken.id.desc())
        ).scalars()
    )


# --- the connector API ----------------------------------------------------------------------------------


class RefusalCode(enum.StrEnum):
    """Stable codes the connector can act on; each with its HTTP status and a French message."""

    TOKEN_MISSING = "token_missing"
    TOKEN_INVALID = "token_invalid"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_EXPIRED = "token_expired"
    HABILITATION_INACTIVE = "habilitation_inactive"
    CREDENTIALS_INACTIVE = "credentials_inactive"
    CREDENTIALS_NOT_ISSUED = "credentials_not_issued"

    @property
    def http_status(self) -> int:
        return {
            RefusalCode.HABILITATION_INACTIVE: 403,
            RefusalCode.CREDENTIALS_INACTIVE: 403,
            RefusalCode.CREDENTIALS_NOT_ISSUED: 404,
        }.get(self, 401)

    @property
    def message(self) -> str:
        return {
            RefusalCode.TOKEN_MISSING: (
                "Jeton de connecteur absent : envoyez l'en-tête « Authorization: Bearer <jeton> »."
            ),
            RefusalCode.TOKEN_INVALID: "Jeton de connecteur inconnu.",
            RefusalCode.TOKEN_REVOKED: "Ce jeton de connecteur a été révoqué.",
            RefusalCode.TOKEN_EXPIRED: "Ce jeton de connecteur a expiré ; créez-en un nouveau.",
            RefusalCode.HABILITATION_INACTIVE: (
                "L'habilitation de ce jeton n'est plus active (révoquée, expirée ou remplacée)."
            ),
            RefusalCode.CREDENTIALS_INACTIVE: "Les accès à l'API de cette habilitation sont révoqués ou expirés.",
            RefusalCode.CREDENTIALS_NOT_ISSUED: (
                "La DGFiP n'a pas encore délivré d'accès à l'API pour cette habilitation."
            ),
        }[self]


class ConnectorRefused(Exception):
    def __init__(self, code: RefusalCode) -> None:
        super().__init__(code.value)
        self.code = code


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` header, else ``ConnectorRefused(token_missing)``."""
    scheme, _, value = (authorization or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        raise ConnectorRefused(RefusalCode.TOKEN_MISSING)
    return value


def find_token(session: Session, clear: str) -> ConnectorToken | None:
    if not clear.startswith(TOKEN_PREFIX):
        return None
    return session.execute(
        select(ConnectorToken).where(ConnectorToken.token_sha256 == token_sha256(clear))
    ).scalar_one_or_none()


def _active_credential(session: Session, habilitation: Habilitation, today: date) -> ApiCredential:
    credentials = services.credentials_of(session, habilitation.id)
    if not credentials:
        raise ConnectorRefused(RefusalCode.CREDENTIALS_NOT_ISSUED)
    active = next(
        (c for c in credentials if c.status is CredentialStatus.ACTIVE and c.stage is habilitation.stage), None
    )
    # A lapsed expiry stops the connector at once, even before the lifecycle job marks the row expired.
    if active is None or (active.expires_on is not None and active.expires_on < today):
        raise ConnectorRefused(RefusalCode.CREDENTIALS_INACTIVE)
    return active


def _audit_call(session: Session, token: ConnectorToken, action: str, details: dict[str, Any]) -> None:
    audit.record(
        session,
        action,
        organization_id=token.organization_id,
        object_type=OBJECT_TYPE,
        object_id=token.id,
        details={"habilitation": token.habilitation_id, "prefix": token.token_prefix, **details},
    )


def fetch_bundle(session: Session, token: ConnectorToken, *, keys: KeyRing) -> dict[str, Any]:
    """The credential bundle the token gives access to, audited (without the secret) before it is returned.

    Raises ``ConnectorRefused``; refusals of a known token are audited too, and the caller commits them.
    """
    now = utcnow()
    today = now.date()
    try:
        status = token.status_on(today)
        if status is ConnectorTokenStatus.REVOKED:
            raise ConnectorRefused(RefusalCode.TOKEN_REVOKED)
        if status is ConnectorTokenStatus.EXPIRED:
            raise ConnectorRefused(RefusalCode.TOKEN_EXPIRED)
        habilitation = token.habilitation
        if token.organization_id not in (habilitation.request.organization_id, habilitation.request.editeur_id):
            # The éditeur that created it was replaced on the request: its tokens die with its role.
            raise ConnectorRefused(RefusalCode.TOKEN_REVOKED)
        if habilitation.state is not HabilitationState.ACTIVE or (
            habilitation.expires_on is not None and habilitation.expires_on < today
        ):
            raise ConnectorRefused(RefusalCode.HABILITATION_INACTIVE)
        credential = _active_credential(session, habilitation, today)
    except ConnectorRefused as refusal:
        _audit_call(session, token, "connector.bundle_refused", {"code": refusal.code.value})
        raise
    token.last_used_at = now
    bundle: dict[str, Any] = {
        "habilitation": habilitation.number,
        "stage": credential.stage.value,
        "client_id": credential.client_id,
        # The row's own decryption path: an altered envelope raises VaultIntegrityError and is alerted.
        "client_secret": services.decrypt_field(session, credential, SecretField.CLIENT_SECRET, keys),
        "id_teleservice": credential.id_teleservice,
        "oauth_scopes": list(credential.oauth_scopes),
        "token_url": credential.token_url,
        "api_base_url": credential.api_base_url,
        "granted_scopes": list(credential.granted_scopes),
        "modalities": list(credential.modalities),
        "quota_per_minute": credential.quota_per_minute,
        "expires_on": credential.expires_on.isoformat() if credential.expires_on else None,
        "status": credential.status.value,
    }
    if credential.client_certificate_pem is not None:
        bundle["client_certificate"] = credential.client_certificate_pem
    if credential.has_private_key:
        bundle["private_key"] = services.decrypt_field(session, credential, SecretField.PRIVATE_KEY, keys)
    session.flush()
    _audit_call(session, token, "connector.bundle_fetched", {"credential": credential.id})
    return bundle
