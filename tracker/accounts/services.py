"""Operations on accounts: authentication, login sessions, invitations. They flush; callers commit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, joinedload

from tracker.accounts.models import (
    AuthSession,
    DgfipFunction,
    Invitation,
    Membership,
    MembershipRole,
    Organization,
    OrganizationKind,
    User,
)
from tracker.accounts.passwords import PasswordHashing, password_problems
from tracker.audit import services as audit
from tracker.db import utcnow
from tracker.notify.kinds import NotificationKind
from tracker.notify.services import queue_email

if TYPE_CHECKING:
    from tracker.habilitations.models import HabilitationRequest

SESSION_TOUCH_INTERVAL = timedelta(minutes=1)


class AccountError(Exception):
    """A refused account operation, with a French message for the user."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def password_hashing() -> PasswordHashing:
    return current_app.extensions["tracker_passwords"]


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session,
    *,
    email: str,
    full_name: str,
    password: str,
    organization: Organization,
    role: MembershipRole = MembershipRole.MEMBER,
    dgfip_function: DgfipFunction | None = None,
    job_title: str | None = None,
    check_policy: bool = True,
) -> User:
    email = normalize_email(email)
    if check_policy and (problems := password_problems(password, email=email, full_name=full_name)):
        raise AccountError(" ".join(problems), field="password")
    if (organization.kind is OrganizationKind.DGFIP) != (dgfip_function is not None):
        raise AccountError(
            "Une fonction DGFiP (instructeur ou rapporteur) est requise pour la DGFiP, et seulement elle."
        )
    user = User(
        email=email,
        full_name=full_name.strip(),
        job_title=job_title,
        password_hash=password_hashing().hash(password),
    )
    session.add(user)
    session.flush()
    session.add(Membership(user=user, organization=organization, role=role, dgfip_function=dgfip_function))
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email and password, else None; unknown emails cost a hash check too."""
    user = session.execute(select(User).where(User.email == normalize_email(email))).scalar_one_or_none()
    hashing = password_hashing()
    if user is None:
        hashing.verify(hashing.dummy_hash, password)
        return None
    if not hashing.verify(user.password_hash, password) or not user.is_active:
        return None
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = hashing.hash(password)
    return user


def _first_active_membership(session: Session, user: User) -> Membership | None:
    return session.execute(
        select(Membership)
        .join(Membership.organization)
        .where(Membership.user_id == user.id, Organization.is_active.is_(True))
        .order_by(Membership.id)
        .limit(1)
    ).scalar_one_or_none()


def open_session(session: Session, user: User, *, ip_address: str | None) -> str:
    """Start a fresh server-side session (a new id at every login) and return its cookie token."""
    membership = _first_active_membership(session, user)
    if membership is None:
        raise AccountError("Votre compte n'est rattaché à aucune organisation active.")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        AuthSession(
            token_sha256=token_sha256(token),
            user_id=user.id,
            membership_id=membership.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + current_app.config["PERMANENT_SESSION_LIFETIME"],
            ip_address=ip_address,
        )
    )
    user.last_login_at = now
    audit.record(
        session,
        "login",
        actor=user,
        organization_id=membership.organization_id,
        object_type="user",
        object_id=user.id,
    )
    session.flush()
    return token


def load_auth_session(session: Session, token: str) -> AuthSession | None:
    """The live session for this token, with user, membership and organization, in one statement.

    Checked at every request, so a deactivated user or a removed membership loses access at once.
    """
    auth_session = session.execute(
        select(AuthSession)
        .options(
            joinedload(AuthSession.user),
            joinedload(AuthSession.membership).joinedload(Membership.organization),
        )
        .where(AuthSession.token_sha256 == token_sha256(token))
    ).scalar_one_or_none()
    if auth_session is None:
        return None
    now = utcnow()
    idle_limit = current_app.config["SESSION_IDLE_TIMEOUT"]
    if (
        now >= auth_session.expires_at
        or now - auth_session.last_seen_at > idle_limit
        or not auth_session.user.is_active
        or not auth_session.membership.organization.is_active
    ):
        return None
    if now - auth_session.last_seen_at > SESSION_TOUCH_INTERVAL:
        auth_session.last_seen_at = now
    return auth_session


def close_session(session: Session, token: str) -> None:
    session.execute(delete(AuthSession).where(AuthSession.token_sha256 == token_sha256(token)))


def switch_membership(session: Session, token: str, user: User, membership_id: int) -> Membership:
    """Act for another organization of the same user, in the same login session."""
    membership = session.execute(
        select(Membership)
        .join(Membership.organization)
        .where(Membership.id == membership_id, Membership.user_id == user.id, Organization.is_active.is_(True))
    ).scalar_one_or_none()
    if membership is None:
        raise AccountError("Vous n'êtes pas membre de cette organisation.")
    session.execute(
        update(AuthSession)
        .where(AuthSession.token_sha256 == token_sha256(token), AuthSession.user_id == user.id)
        .values(membership_id=membership.id)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        "organization_switched",
        actor=user,
        organization_id=membership.organization_id,
        object_type="membership",
        object_id=membership.id,
    )
    session.flush()
    return membership


@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


def invite(
    session: Session,
    *,
    organization: Organization,
    email: str,
    invited_by: User | None,
    role: MembershipRole = MembershipRole.MEMBER,
    dgfip_function: DgfipFunction | None = None,
    habilitation_request: HabilitationRequest | None = None,
) -> IssuedInvitation:
    """Create a single-use, expiring invitation and queue its email; only the token's hash is stored.

    With ``habilitation_request``, the organization was named as a party to that request, which the
    email explains."""
    habilitation_request_id = habilitation_request.id if habilitation_request is not None else None
    email = normalize_email(email)
    if (organization.kind is OrganizationKind.DGFIP) != (dgfip_function is not None):
        raise AccountError("Choisissez la fonction DGFiP de la personne invitée.", field="dgfip_function")
    existing = session.execute(
        select(Membership)
        .join(Membership.user)
        .where(User.email == email, Membership.organization_id == organization.id)
    ).scalar_one_or_none()
    if existing is not None:
        raise AccountError("Cette personne est déjà membre de l'organisation.", field="email")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    invitation = Invitation(
        organization=organization,
        email=email,
        role=role,
        dgfip_function=dgfip_function,
        token_sha256=token_sha256(token),
        invited_by_id=invited_by.id if invited_by else None,
        habilitation_request_id=habilitation_request_id,
        created_at=now,
        expires_at=now + current_app.config["INVITATION_LIFETIME"],
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        "invitation_created",
        actor=invited_by,
        organization_id=organization.id,
        object_type="invitation",
        object_id=invitation.id,
        details={"email": email},
    )
    queue_email(
        session,
        "invitation",
        email,
        kind=NotificationKind.INVITATION,
        habilitation_request_id=habilitation_request_id,
        confidential=True,
        habilitation_request=habilitation_request,
        organization=organization,
        invited_by=invited_by,
        token=token,
        expires_at=invitation.expires_at,
    )
    return IssuedInvitation(invitation, token)


def find_open_invitation(session: Session, token: str) -> Invitation | None:
    invitation = session.execute(
        select(Invitation)
        .options(joinedload(Invitation.organization))
        .where(Invitation.token_sha256 == token_sha256(token))
    ).scalar_one_or_none()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= utcnow():
        return None
    return invitation


def existing_account(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(User.email == normalize_email(email))).scalar_one_or_none()


def accept_invitation(
    session: Session, token: str, *, full_name: str = "", password: str = "", acting_user: User | None = None
) -> User:
    """Create the account, or add the membership to an existing one; the token works exactly once.

    An existing account only joins when its owner is logged in (``acting_user``): a leaked link must not
    attach someone's account to an organization, and their password is never touched here.
    """
    invitation = find_open_invitation(session, token)
    if invitation is None:
        raise AccountError("Ce lien d'invitation n'est plus valable : il a déjà servi ou il a expiré.")
    user = existing_account(session, invitation.email)
    if user is None and (problems := password_problems(password, email=invitation.email, full_name=full_name)):
        raise AccountError(" ".join(problems), field="password")
    if user is not None and (acting_user is None or acting_user.id != user.id):
        raise AccountError(
            f"Un compte existe déjà pour {invitation.email} : connectez-vous avec cette adresse pour accepter "
            "l'invitation."
        )
    if (
        user is not None
        and session.execute(
            select(Membership.id).where(
                Membership.user_id == user.id, Membership.organization_id == invitation.organization_id
            )
        ).first()
    ):
        # Two invitations sent before either was accepted: the second must not hit the unique constraint.
        raise AccountError(
            "Vous êtes déjà membre de cette organisation : connectez-vous avec votre adresse et votre mot de passe."
        )
    now = utcnow()
    # The conditional UPDATE is the single-use guarantee: of two concurrent acceptances one matches.
    claimed = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None), Invitation.expires_at > now)
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise AccountError("Ce lien d'invitation n'est plus valable : il a déjà servi ou il a expiré.")
    if user is None:
        user = create_user(
            session,
            email=invitation.email,
            full_name=full_name,
            password=password,
            organization=invitation.organization,
            role=invitation.role,
            dgfip_function=invitation.dgfip_function,
            check_policy=False,
        )
    else:
        session.add(
            Membership(
                user=user,
                organization=invitation.organization,
                role=invitation.role,
                dgfip_function=invitation.dgfip_function,
            )
        )
    session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id)
        .values(accepted_user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        "invitation_accepted",
        actor=user,
        organization_id=invitation.organization_id,
        object_type="invitation",
        object_id=invitation.id,
    )
    session.flush()
    return user
