"""Builders for test data, going through the services wherever the real app would."""

from __future__ import annotations

import itertools

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tracker.accounts.models import DgfipFunction, Membership, MembershipRole, Organization, OrganizationKind, User
from tracker.accounts.principal import Principal
from tracker.accounts.services import create_user, open_session
from tracker.accounts.siret import with_luhn_key

TEST_PASSWORD = "Un mot de passe de test assez long"

_counter = itertools.count(1)

DEFAULT_NAMES = {
    OrganizationKind.COLLECTIVITE: "Commune de Test",
    OrganizationKind.EDITEUR: "Éditeur de Test",
    OrganizationKind.HEBERGEUR: "Hébergeur de Test",
    OrganizationKind.DGFIP: "DGFiP",
}


def make_organization(
    session: Session,
    kind: OrganizationKind = OrganizationKind.COLLECTIVITE,
    *,
    name: str | None = None,
    departement_code: str | None = "33",
) -> Organization:
    number = next(_counter)
    organization = Organization(
        kind=kind,
        name=name or f"{DEFAULT_NAMES[kind]} {number}",
        siret=with_luhn_key(f"{210000000 + number:09d}{number % 10000:04d}"),
        departement_code=departement_code,
    )
    session.add(organization)
    session.flush()
    return organization


def make_user(
    session: Session,
    organization: Organization,
    *,
    email: str | None = None,
    full_name: str | None = None,
    role: MembershipRole = MembershipRole.MEMBER,
    dgfip_function: DgfipFunction | None = None,
) -> User:
    number = next(_counter)
    if organization.kind is OrganizationKind.DGFIP and dgfip_function is None:
        dgfip_function = DgfipFunction.INSTRUCTEUR
    return create_user(
        session,
        email=email or f"utilisateur{number}@exemple.fr",
        full_name=full_name or f"Camille Testeur{number}",
        password=TEST_PASSWORD,
        organization=organization,
        role=role,
        dgfip_function=dgfip_function,
    )


def principal_for(user: User) -> Principal:
    membership: Membership = user.memberships[0]
    return Principal(user, membership)


def login(client: FlaskClient, session: Session, user: User) -> None:
    """Log ``client`` in as ``user`` without the form (the login form has its own tests)."""
    token = open_session(session, user, ip_address="127.0.0.1")
    session.commit()
    with client.session_transaction() as cookie:
        cookie.clear()
        cookie["sid"] = token
        cookie["_user_id"] = str(user.id)
        cookie["_fresh"] = True
