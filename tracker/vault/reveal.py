"""Revealing a secret once (SECURITY §F 33-34).

Two steps, each its own POST: the user re-enters their password and gets a one-time link (a random token
whose SHA-256 alone is stored, tied to the user, the credential and the field, valid a few minutes); then
the page holding that link posts it back and the secret is shown, once. The link is spent by one
conditional UPDATE (``used_at IS NULL AND expires_at > now``) whose row count says whether this use is the
first: ten parallel uses give one secret. The plaintext comes from ``services.reveal_secret``, which
writes the audit entry first; the caller commits before showing anything (fail closed).

Functions flush; callers commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tracker.accounts.principal import Principal
from tracker.accounts.services import password_hashing
from tracker.audit import services as audit
from tracker.db import utcnow
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import ActorNotAllowed, GuardFailed, WorkflowError
from tracker.vault import services
from tracker.vault.keys import KeyRing
from tracker.vault.models import ApiCredential, CredentialStatus, RevealLink, SecretField

LINK_LIFETIME = timedelta(minutes=5)
TOKEN_BYTES = 32


class WrongPassword(WorkflowError):
    http_status = 401


class RevealLinkUnusable(WorkflowError):
    """Spent or expired: the user asks for a new link."""

    http_status = 409


class RevealLinkNotFound(WorkflowError):
    """Unknown, or another user's: the same answer as a missing page."""

    http_status = 404


@dataclass(frozen=True)
class RevealedSecret:
    credential: ApiCredential
    secret_field: SecretField
    plaintext: str


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def may_hand_over(principal: Principal, habilitation: Habilitation) -> bool:
    return services.is_handover_party(principal, habilitation.request)


def request_reveal_link(
    session: Session,
    credential: ApiCredential,
    *,
    principal: Principal,
    password: str,
    secret_field: SecretField = SecretField.CLIENT_SECRET,
) -> str:
    """The one-time link's token, once the user's password is checked again.

    A wrong password is audited and raises ``WrongPassword``: the caller commits that entry on its own
    and the views throttle failures per user, as the login does.
    """
    if not services.can_reveal(principal, credential):
        raise ActorNotAllowed("Seuls la collectivité et son éditeur peuvent afficher ce secret.")
    hashing = password_hashing()
    if not hashing.verify(principal.user.password_hash, password or ""):
        audit.record(
            session,
            "vault.reveal_password_failed",
            actor=principal.user,
            organization_id=principal.organization.id,
            object_type=services.OBJECT_TYPE,
            object_id=credential.id,
            details={"habilitation": credential.habilitation_id, "field": secret_field.value},
        )
        raise WrongPassword("Mot de passe incorrect.")
    if credential.status is not CredentialStatus.ACTIVE:
        raise GuardFailed(f"Cet accès est {credential.status.label.lower()} : son secret ne s'affiche plus.")
    if credential.envelope(secret_field) is None:
        raise GuardFailed("Cet accès n'a pas de clé privée enregistrée.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = utcnow()
    session.add(
        RevealLink(
            credential_id=credential.id,
            user_id=principal.user.id,
            secret_field=secret_field,
            token_sha256=token_sha256(token),
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    session.flush()
    audit.record(
        session,
        "vault.reveal_link_created",
        actor=principal.user,
        organization_id=principal.organization.id,
        object_type=services.OBJECT_TYPE,
        object_id=credential.id,
        details={"habilitation": credential.habilitation_id, "field": secret_field.value},
    )
    return token


def use_reveal_link(
    session: Session, token: str, *, principal: Principal, keys: KeyRing | None = None
) -> RevealedSecret:
    """The secret the link opens, if this is its first use, by its user, before it expires.

    Raises ``RevealLinkNotFound`` (unknown or another user's link), ``RevealLinkUnusable`` (spent or
    expired), the errors of ``services.reveal_secret`` (permission, status, ``VaultIntegrityError``), or
    whatever the audit write raises: in every case no plaintext leaves this function.
    """
    link = session.execute(
        select(RevealLink).where(
            RevealLink.token_sha256 == token_sha256(token or ""), RevealLink.user_id == principal.user.id
        )
    ).scalar_one_or_none()
    if link is None:
        raise RevealLinkNotFound("Ce lien d'affichage n'existe pas.")
    now = utcnow()
    claimed = session.execute(
        update(RevealLink)
        .where(RevealLink.id == link.id, RevealLink.used_at.is_(None), RevealLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise RevealLinkUnusable(
            "Ce lien d'affichage a déjà servi ou a expiré. Demandez à nouveau l'affichage du secret."
        )
    credential = session.get(ApiCredential, link.credential_id)
    assert credential is not None  # the link's foreign key cascades on delete
    plaintext = services.reveal_secret(
        session, credential, principal=principal, secret_field=link.secret_field, keys=keys
    )
    return RevealedSecret(credential, link.secret_field, plaintext)
