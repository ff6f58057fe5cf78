"""Invitations end to end: the admin invites on /organisation, the email leaves through the outbox to a real
SMTP server on loopback, the link creates the account once, and only the token's hash is stored."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from factories import login, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from smtp import SmtpSink, smtp_server  # noqa: F401 (the fixture, for this module)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import tracker.models  # noqa: F401 (every table in the metadata, for the raw-token scan)
from tracker.accounts.models import (
    DgfipFunction,
    Invitation,
    Membership,
    MembershipRole,
    Organization,
    OrganizationKind,
    User,
)
from tracker.accounts.services import AccountError, accept_invitation, find_open_invitation, invite
from tracker.audit.models import AuditEntry
from tracker.db import Base, utcnow
from tracker.notify.models import OutboxMessage, OutboxStatus
from tracker.notify.worker import deliver_due

NO_LONGER_VALID = "Ce lien d'invitation n'est plus valable"
LINK = re.compile(r"http://tracker\.test/invitation/([A-Za-z0-9_-]+)")
NEW_PASSWORD = "la mouette survole le port de Brest"


@pytest.fixture
def organization(session: Session) -> Organization:
    organization = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Talence")
    session.commit()
    return organization


@pytest.fixture
def admin(session: Session, organization: Organization) -> User:
    admin = make_user(
        session, organization, email="admin@talence.fr", full_name="Anne Girard", role=MembershipRole.ADMIN
    )
    session.commit()
    return admin


@pytest.fixture
def new_client(app: Flask, client: FlaskClient) -> Callable[[], FlaskClient]:
    """Another browser (same isolated client class as ``client``)."""
    return app.test_client


def issue(session: Session, organization: Organization, admin: User, email: str = "nouveau@talence.fr") -> str:
    issued = invite(session, organization=organization, email=email, invited_by=admin)
    session.commit()
    return issued.token


def accept_form(full_name: str = "Paul Nouveau", password: str = NEW_PASSWORD, confirmation: str | None = None):  # type: ignore[no-untyped-def]
    return {
        "full_name": full_name,
        "password": password,
        "password_confirmation": password if confirmation is None else confirmation,
    }


def field_messages(body: str, field_id: str) -> str:
    """The error block the DSFR field macro renders under one field (empty when there is none)."""
    match = re.search(rf'<div class="fr-messages-group" id="{field_id}-messages"[^>]*>(.*?)</div>', body, re.S)
    return html.unescape(match.group(1)) if match else ""


# --- the whole journey --------------------------------------------------------------------------------


def test_invitation_email_arrives_and_its_link_creates_an_account_that_can_log_in(
    app: Flask,
    client: FlaskClient,
    new_client: Callable[[], FlaskClient],
    session: Session,
    organization: Organization,
    admin: User,
    smtp_server: SmtpSink,  # noqa: F811
) -> None:
    login(client, session, admin)
    response = client.post("/organisation", data={"email": "Paul.Nouveau@Talence.fr", "role": "member"})
    assert response.status_code == 302 and response.headers["Location"] == "/organisation"
    assert "Invitation envoyée à paul.nouveau@talence.fr." in client.get("/organisation").get_data(as_text=True)

    [queued] = session.scalars(select(OutboxMessage)).all()
    assert (queued.recipient, queued.status) == ("paul.nouveau@talence.fr", OutboxStatus.PENDING)

    report = deliver_due(session, smtp_server.outbox_settings(app.config), worker_id="test-invitations")

    assert report.sent == 1
    [mail] = smtp_server.to("paul.nouveau@talence.fr")
    assert mail.message["Subject"] == "Invitation à rejoindre Commune de Talence sur Habilitations DGFiP"
    assert "Anne Girard vous invite à rejoindre l'organisation « Commune de Talence »" in mail.text
    token = LINK.search(mail.text).group(1)  # type: ignore[union-attr]
    assert f'href="http://tracker.test/invitation/{token}"' in mail.html
    # Once delivered, the outbox keeps no copy of the link.
    session.refresh(queued)
    assert queued.status is OutboxStatus.SENT
    assert token not in queued.body_text and queued.body_html is None

    invitee = new_client()
    page = invitee.get(f"/invitation/{token}")
    assert page.status_code == 200
    assert "Rejoindre Commune de Talence" in page.get_data(as_text=True)
    assert "paul.nouveau@talence.fr" in page.get_data(as_text=True)

    created = invitee.post(f"/invitation/{token}", data=accept_form())
    assert created.status_code == 302 and created.headers["Location"] == "/connexion"

    user = session.scalars(select(User).where(User.email == "paul.nouveau@talence.fr")).one()
    assert user.full_name == "Paul Nouveau"
    [membership] = user.memberships
    assert (membership.organization_id, membership.role) == (organization.id, MembershipRole.MEMBER)
    assert membership.dgfip_function is None
    invitation = session.scalars(select(Invitation)).one()
    assert invitation.accepted_at is not None and invitation.accepted_user_id == user.id

    logged_in = invitee.post("/connexion", data={"email": "paul.nouveau@talence.fr", "password": NEW_PASSWORD})
    assert logged_in.status_code == 302 and logged_in.headers["Location"] == "/"
    home = invitee.get("/")
    assert home.status_code == 200 and "Commune de Talence" in home.get_data(as_text=True)
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all()
    assert actions.count("invitation_created") == 1 and actions.count("invitation_accepted") == 1


def test_invited_admin_becomes_admin(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    token = issue(session, organization, admin)
    session.get(Invitation, session.scalars(select(Invitation.id)).one()).role = MembershipRole.ADMIN
    session.commit()
    assert client.post(f"/invitation/{token}", data=accept_form()).status_code == 302
    user = session.scalars(select(User).where(User.email == "nouveau@talence.fr")).one()
    assert user.memberships[0].is_admin


def test_dgfip_invitation_carries_the_function(app: Flask, client: FlaskClient, session: Session) -> None:
    dgfip = make_organization(session, OrganizationKind.DGFIP, name="DGFiP Bureau GF-3C")
    chief = make_user(session, dgfip, role=MembershipRole.ADMIN, dgfip_function=DgfipFunction.INSTRUCTEUR)
    session.commit()
    issued = invite(
        session,
        organization=dgfip,
        email="rapporteur@dgfip.finances.gouv.fr",
        invited_by=chief,
        dgfip_function=DgfipFunction.RAPPORTEUR,
    )
    session.commit()

    assert client.post(f"/invitation/{issued.token}", data=accept_form("Rémi Rapporteur")).status_code == 302

    user = session.scalars(select(User).where(User.email == "rapporteur@dgfip.finances.gouv.fr")).one()
    assert user.memberships[0].dgfip_function is DgfipFunction.RAPPORTEUR


# --- single use, expiry ---------------------------------------------------------------------------------


def test_the_link_works_only_once(
    client: FlaskClient,
    new_client: Callable[[], FlaskClient],
    session: Session,
    organization: Organization,
    admin: User,
) -> None:
    token = issue(session, organization, admin)
    assert client.post(f"/invitation/{token}", data=accept_form()).status_code == 302

    again = new_client()
    page = again.get(f"/invitation/{token}")
    assert page.status_code == 404
    assert NO_LONGER_VALID in page.get_data(as_text=True)
    second = again.post(f"/invitation/{token}", data=accept_form("Intrus", "un autre mot de passe très long"))
    assert second.status_code == 404
    assert NO_LONGER_VALID in second.get_data(as_text=True)

    assert session.scalar(select(func.count()).select_from(User).where(User.email == "nouveau@talence.fr")) == 1
    user = session.scalars(select(User).where(User.email == "nouveau@talence.fr")).one()
    assert user.full_name == "Paul Nouveau"


def test_the_service_refuses_a_second_acceptance(session: Session, organization: Organization, admin: User) -> None:
    token = issue(session, organization, admin)
    accept_invitation(session, token, full_name="Paul Nouveau", password=NEW_PASSWORD)
    with pytest.raises(AccountError, match=NO_LONGER_VALID):
        accept_invitation(session, token, full_name="Intrus", password="un autre mot de passe très long")


def test_an_expired_invitation_is_no_longer_valid(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    token = issue(session, organization, admin)
    invitation = session.scalars(select(Invitation)).one()
    invitation.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    page = client.get(f"/invitation/{token}")
    assert page.status_code == 404
    assert NO_LONGER_VALID in page.get_data(as_text=True)
    assert client.post(f"/invitation/{token}", data=accept_form()).status_code == 404
    assert session.scalars(select(User).where(User.email == "nouveau@talence.fr")).all() == []


def test_invitations_last_the_configured_lifetime(
    app: Flask, session: Session, organization: Organization, admin: User
) -> None:
    issue(session, organization, admin)
    invitation = session.scalars(select(Invitation)).one()
    assert invitation.expires_at - invitation.created_at == app.config["INVITATION_LIFETIME"] == timedelta(days=7)


@pytest.mark.parametrize("token", ["inconnu", "x" * 43, "%2e%2e"])
def test_an_unknown_token_gets_the_same_page(client: FlaskClient, token: str) -> None:
    page = client.get(f"/invitation/{token}")
    assert page.status_code == 404
    assert NO_LONGER_VALID in page.get_data(as_text=True)


# --- the acceptance form --------------------------------------------------------------------------------


def test_a_weak_password_is_explained_next_to_the_field_and_the_link_still_works(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    token = issue(session, organization, admin)

    response = client.post(f"/invitation/{token}", data=accept_form(password="motdepasse123"))

    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Ce mot de passe est trop courant" in field_messages(body, "password")
    assert 'aria-describedby="password-messages"' in body
    assert "motdepasse123" not in body  # a password field is never refilled
    assert session.scalars(select(User).where(User.email == "nouveau@talence.fr")).all() == []
    assert find_open_invitation(session, token) is not None

    assert client.post(f"/invitation/{token}", data=accept_form()).status_code == 302


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("court", "au moins 12 caractères"),
        ("nouveau@talence.fr", "ni votre nom ni votre adresse"),
        ("paul nouveau pour toujours", "ni votre nom ni votre adresse"),
    ],
)
def test_the_policy_knows_the_invited_email_and_the_typed_name(
    client: FlaskClient, session: Session, organization: Organization, admin: User, password: str, message: str
) -> None:
    token = issue(session, organization, admin)
    response = client.post(f"/invitation/{token}", data=accept_form(password=password))
    assert response.status_code == 422
    assert message in field_messages(response.get_data(as_text=True), "password")


def test_mismatched_confirmation_is_explained(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    token = issue(session, organization, admin)
    response = client.post(f"/invitation/{token}", data=accept_form(confirmation=NEW_PASSWORD + "!"))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Les deux mots de passe ne correspondent pas." in field_messages(body, "password_confirmation")
    assert find_open_invitation(session, token) is not None


def test_missing_name_is_explained(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    token = issue(session, organization, admin)
    response = client.post(f"/invitation/{token}", data=accept_form(full_name=""))
    assert response.status_code == 422
    assert "Saisissez votre prénom et votre nom." in field_messages(response.get_data(as_text=True), "full_name")


def test_an_existing_account_joins_only_when_its_owner_is_logged_in(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    """Someone who already has an account (in another organization) gets a second membership, but only
    once logged in as themselves: a leaked link attaches nobody's account, and no password is ever set
    through the invitation page."""
    elsewhere = make_organization(session, OrganizationKind.EDITEUR, name="Éditeur Girondin")
    existing = make_user(session, elsewhere, email="nouveau@talence.fr", full_name="Paul Nouveau")
    session.commit()
    original_hash = existing.password_hash
    token = issue(session, organization, admin, email="nouveau@talence.fr")

    anonymous = client.post(f"/invitation/{token}", data=accept_form(password="un tout autre mot de passe"))
    assert anonymous.status_code == 200
    assert "Un compte existe déjà pour l'adresse" in html.unescape(anonymous.get_data(as_text=True))
    assert 'name="password"' not in anonymous.get_data(as_text=True)
    session.refresh(existing)
    assert [m.organization_id for m in existing.memberships] == [elsewhere.id]
    assert find_open_invitation(session, token) is not None

    login(client, session, existing)
    assert "Rejoindre Commune de Talence" in client.get(f"/invitation/{token}").get_data(as_text=True)
    joined = client.post(f"/invitation/{token}")
    assert joined.status_code == 302 and joined.headers["Location"] == "/organisation"
    session.refresh(existing)
    assert existing.password_hash == original_hash
    assert sorted(m.organization_id for m in existing.memberships) == sorted([elsewhere.id, organization.id])
    assert find_open_invitation(session, token) is None

    # The new organization is one click away on « Mon organisation ».
    page = html.unescape(client.get("/organisation").get_data(as_text=True))
    assert "Agir pour Commune de Talence (Collectivité)" in page
    membership = next(m for m in existing.memberships if m.organization_id == organization.id)
    switched = client.post("/organisation/choisir", data={"membership_id": str(membership.id)})
    assert switched.status_code == 302
    assert "Commune de Talence" in html.unescape(client.get("/").get_data(as_text=True))


def test_one_cannot_switch_to_an_organization_one_does_not_belong_to(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    stranger = make_organization(session, OrganizationKind.EDITEUR, name="Éditeur Étranger")
    foreign_admin = make_user(session, stranger, email="autre@etranger.fr")
    session.commit()
    login(client, session, admin)
    foreign_membership = foreign_admin.memberships[0]
    assert client.post("/organisation/choisir", data={"membership_id": str(foreign_membership.id)}).status_code == 404
    assert client.post("/organisation/choisir", data={"membership_id": "abc"}).status_code == 404
    assert "Commune de Talence" in html.unescape(client.get("/").get_data(as_text=True))


# --- the token is stored hashed -------------------------------------------------------------------------


def test_the_raw_token_is_stored_nowhere_but_in_the_email_to_send(
    session: Session, organization: Organization, admin: User
) -> None:
    token = issue(session, organization, admin)

    invitation = session.scalars(select(Invitation)).one()
    assert invitation.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    holding_the_token = set()
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            if any(token in str(value) for value in row):
                holding_the_token.add(table.name)
    # The outbox must carry the link until the email leaves (it is erased once sent); no other table may hold it.
    assert holding_the_token == {"outbox_messages"}
    assert len(token) >= 43  # 32 random bytes


def test_each_invitation_gets_its_own_token(session: Session, organization: Organization, admin: User) -> None:
    first = issue(session, organization, admin, email="un@talence.fr")
    second = issue(session, organization, admin, email="deux@talence.fr")
    assert first != second
    assert find_open_invitation(session, first).email == "un@talence.fr"  # type: ignore[union-attr]
    assert find_open_invitation(session, second).email == "deux@talence.fr"  # type: ignore[union-attr]


def test_a_membership_cannot_be_created_twice_by_two_invitations(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    """Two invitations were sent before either was accepted; the second acceptance must not crash or
    duplicate the membership."""
    first = issue(session, organization, admin)
    second = issue(session, organization, admin)
    assert client.post(f"/invitation/{first}", data=accept_form()).status_code == 302
    user = session.scalars(select(User).where(User.email == "nouveau@talence.fr")).one()
    login(client, session, user)

    response = client.post(f"/invitation/{second}")

    assert response.status_code == 422
    assert "Vous êtes déjà membre de cette organisation" in html.unescape(response.get_data(as_text=True))
    memberships = session.scalars(select(Membership).where(Membership.user_id == user.id)).all()
    assert len(memberships) == 1
