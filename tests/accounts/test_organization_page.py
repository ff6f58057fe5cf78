"""/organisation: members, inviting (admins only), removing members; errors next to their field."""

from __future__ import annotations

import html
import re

import pytest
from factories import login, make_organization, make_user
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

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
from tracker.audit.models import AuditEntry
from tracker.notify.models import OutboxMessage


@pytest.fixture
def organization(session: Session) -> Organization:
    organization = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Mérignac")
    session.commit()
    return organization


@pytest.fixture
def admin(session: Session, organization: Organization) -> User:
    admin = make_user(
        session, organization, email="admin@merignac.fr", full_name="Alain Admin", role=MembershipRole.ADMIN
    )
    session.commit()
    return admin


@pytest.fixture
def member(session: Session, organization: Organization) -> User:
    member = make_user(session, organization, email="membre@merignac.fr", full_name="Marie Membre")
    session.commit()
    return member


def field_messages(body: str, field_id: str) -> str:
    match = re.search(rf'<div class="fr-messages-group" id="{field_id}-messages"[^>]*>(.*?)</div>', body, re.S)
    return html.unescape(match.group(1)) if match else ""


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def audit_actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


# --- the page -----------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/organisation")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion?next=")
    assert client.post("/organisation", data={"email": "x@y.fr", "role": "member"}).status_code == 302


def test_admin_sees_members_and_the_invitation_form(
    client: FlaskClient, session: Session, organization: Organization, admin: User, member: User
) -> None:
    login(client, session, admin)
    response = client.get("/organisation")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Commune de Mérignac" in body and organization.siret in body
    assert "Alain Admin" in body and "Marie Membre" in body and "membre@merignac.fr" in body
    assert "Inviter une personne" in body
    assert f"/organisation/membres/{member.memberships[0].id}/retirer" in body
    assert f"/organisation/membres/{admin.memberships[0].id}/retirer" not in body  # not oneself
    assert 'name="dgfip_function"' not in body  # only DGFiP memberships have a function


def test_member_sees_members_but_cannot_invite_or_remove(
    client: FlaskClient, session: Session, admin: User, member: User
) -> None:
    login(client, session, member)
    body = client.get("/organisation").get_data(as_text=True)
    assert "Alain Admin" in body
    assert "Inviter une personne" not in body
    assert "/retirer" not in body


def test_members_of_other_organizations_are_not_listed(client: FlaskClient, session: Session, admin: User) -> None:
    other = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Bègles")
    make_user(session, other, email="secret@begles.fr", full_name="Bernard Béglais")
    session.commit()
    login(client, session, admin)
    body = client.get("/organisation").get_data(as_text=True)
    assert "secret@begles.fr" not in body and "Bernard Béglais" not in body


# --- inviting -----------------------------------------------------------------------------------------


def test_admin_invites_and_the_invitation_is_pending(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    login(client, session, admin)
    response = client.post("/organisation", data={"email": "recrue@merignac.fr", "role": "admin"})
    assert response.status_code == 302

    invitation = session.scalars(select(Invitation)).one()
    assert (invitation.email, invitation.role, invitation.organization_id) == (
        "recrue@merignac.fr",
        MembershipRole.ADMIN,
        organization.id,
    )
    assert invitation.invited_by_id == admin.id and invitation.dgfip_function is None
    assert session.scalars(select(OutboxMessage.recipient)).all() == ["recrue@merignac.fr"]
    assert audit_actions(session).count("invitation_created") == 1
    body = client.get("/organisation").get_data(as_text=True)
    assert "Invitations en attente" in body and "recrue@merignac.fr" in body


def test_a_member_cannot_invite(client: FlaskClient, session: Session, member: User) -> None:
    login(client, session, member)
    response = client.post("/organisation", data={"email": "ami@merignac.fr", "role": "admin"})

    assert response.status_code == 403
    assert "Accès refusé" in response.get_data(as_text=True)
    assert count(session, Invitation) == 0 and count(session, OutboxMessage) == 0
    [refusal] = session.scalars(select(AuditEntry).where(AuditEntry.action == "access_refused")).all()
    assert refusal.actor_id == member.id


def test_inviting_an_existing_member_is_explained_next_to_the_email_field(
    client: FlaskClient, session: Session, admin: User, member: User
) -> None:
    login(client, session, admin)
    response = client.post("/organisation", data={"email": "  MEMBRE@merignac.fr", "role": "member"})

    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Cette personne est déjà membre de l'organisation." in field_messages(body, "email")
    assert count(session, Invitation) == 0 and count(session, OutboxMessage) == 0


def test_inviting_a_member_of_another_organization_is_allowed(
    client: FlaskClient, session: Session, admin: User
) -> None:
    other = make_organization(session, OrganizationKind.EDITEUR)
    make_user(session, other, email="prestataire@editeur.fr")
    session.commit()
    login(client, session, admin)
    assert client.post("/organisation", data={"email": "prestataire@editeur.fr", "role": "member"}).status_code == 302
    assert count(session, Invitation) == 1


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "Saisissez l'adresse électronique de la personne à inviter."),
        ("pas-une-adresse", "Cette adresse électronique n'est pas valide."),
        ("a@b", "Cette adresse électronique n'est pas valide."),
    ],
)
def test_a_bad_address_is_explained_next_to_the_email_field(
    client: FlaskClient, session: Session, admin: User, email: str, message: str
) -> None:
    login(client, session, admin)
    response = client.post("/organisation", data={"email": email, "role": "member"})
    assert response.status_code == 422
    assert message in field_messages(response.get_data(as_text=True), "email")
    assert count(session, Invitation) == 0


def test_an_unknown_role_is_refused_in_french(client: FlaskClient, session: Session, admin: User) -> None:
    login(client, session, admin)
    response = client.post("/organisation", data={"email": "x@merignac.fr", "role": "superadmin"})
    assert response.status_code == 422
    assert "Choisissez une des valeurs proposées." in field_messages(response.get_data(as_text=True), "role")
    assert count(session, Invitation) == 0


def test_extra_fields_cannot_smuggle_a_dgfip_function_or_another_organization(
    client: FlaskClient, session: Session, organization: Organization, admin: User
) -> None:
    other = make_organization(session, OrganizationKind.COLLECTIVITE)
    session.commit()
    login(client, session, admin)
    response = client.post(
        "/organisation",
        data={
            "email": "recrue@merignac.fr",
            "role": "member",
            "dgfip_function": "instructeur",
            "organization_id": str(other.id),
        },
    )
    assert response.status_code == 302
    invitation = session.scalars(select(Invitation)).one()
    assert invitation.organization_id == organization.id
    assert invitation.dgfip_function is None


def test_dgfip_admin_must_choose_a_function(client: FlaskClient, session: Session) -> None:
    dgfip = make_organization(session, OrganizationKind.DGFIP)
    chief = make_user(session, dgfip, role=MembershipRole.ADMIN, dgfip_function=DgfipFunction.INSTRUCTEUR)
    session.commit()
    login(client, session, chief)

    page = client.get("/organisation").get_data(as_text=True)
    assert 'name="dgfip_function"' in page and "Rapporteur (lecture seule)" in page

    missing = client.post("/organisation", data={"email": "agent@dgfip.finances.gouv.fr", "role": "member"})
    assert missing.status_code == 422
    message = "Choisissez la fonction DGFiP de la personne invitée."
    assert message in field_messages(missing.get_data(as_text=True), "dgfip_function")
    assert count(session, Invitation) == 0

    chosen = client.post(
        "/organisation",
        data={"email": "agent@dgfip.finances.gouv.fr", "role": "member", "dgfip_function": "rapporteur"},
    )
    assert chosen.status_code == 302
    assert session.scalars(select(Invitation)).one().dgfip_function is DgfipFunction.RAPPORTEUR


# --- removing members ---------------------------------------------------------------------------------


def test_admin_removes_a_member_and_their_sessions_end(
    client: FlaskClient, session: Session, organization: Organization, admin: User, member: User
) -> None:
    membership_id = member.memberships[0].id
    login(client, session, admin)
    response = client.post(f"/organisation/membres/{membership_id}/retirer")
    assert response.status_code == 302
    assert session.get(Membership, membership_id) is None
    assert session.scalars(select(AuthSession).where(AuthSession.user_id == member.id)).all() == []
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "membership_removed")).one()
    assert entry.actor_id == admin.id and entry.details == {"user_id": member.id}


def test_admin_cannot_remove_themself(client: FlaskClient, session: Session, admin: User) -> None:
    membership_id = admin.memberships[0].id
    login(client, session, admin)
    response = client.post(f"/organisation/membres/{membership_id}/retirer", follow_redirects=True)
    assert "Vous ne pouvez pas vous retirer vous-même" in response.get_data(as_text=True)
    assert session.get(Membership, membership_id) is not None


def test_a_member_cannot_remove_anyone(client: FlaskClient, session: Session, admin: User, member: User) -> None:
    login(client, session, member)
    response = client.post(f"/organisation/membres/{admin.memberships[0].id}/retirer")
    assert response.status_code == 403
    assert session.get(Membership, admin.memberships[0].id) is not None


def test_an_admin_cannot_remove_a_member_of_another_organization(
    client: FlaskClient, session: Session, admin: User
) -> None:
    other = make_organization(session, OrganizationKind.COLLECTIVITE)
    stranger = make_user(session, other)
    session.commit()
    foreign_id = stranger.memberships[0].id
    login(client, session, admin)

    foreign = client.post(f"/organisation/membres/{foreign_id}/retirer")
    missing = client.post("/organisation/membres/987654/retirer")

    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_data(as_text=True) == missing.get_data(as_text=True)
    assert session.get(Membership, foreign_id) is not None
