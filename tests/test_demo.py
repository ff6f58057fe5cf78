"""Demo data (``tracker seed-demo``): four parties, five users, requests in several states; idempotent."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import tracker.models  # noqa: F401 (every table in the metadata, for the row counts)
from tracker.accounts.models import DgfipFunction, MembershipRole, Organization, OrganizationKind, User
from tracker.accounts.siret import siret_error
from tracker.audit.services import verify
from tracker.db import Base
from tracker.demo import ACCOUNTS, seed, seed_demo
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Stage, State
from tracker.products.queries import products_ready_for_production

PASSWORD = "Un mot de passe de démonstration assez long"

EXPECTED_USERS = {
    # email: (organization kind, role, DGFiP function)
    "dpo@mairie-exemple.fr": (OrganizationKind.COLLECTIVITE, MembershipRole.ADMIN, None),
    "editeur@logiciel-exemple.fr": (OrganizationKind.EDITEUR, MembershipRole.ADMIN, None),
    "hebergeur@hebergeur-exemple.fr": (OrganizationKind.HEBERGEUR, MembershipRole.ADMIN, None),
    "instructeur@dgfip.exemple.fr": (OrganizationKind.DGFIP, MembershipRole.ADMIN, DgfipFunction.INSTRUCTEUR),
    "rapporteur@dgfip.exemple.fr": (OrganizationKind.DGFIP, MembershipRole.MEMBER, DgfipFunction.RAPPORTEUR),
}


def row_counts(session: Session) -> dict[str, int]:
    return {
        table.name: session.scalar(select(func.count()).select_from(table)) or 0
        for table in Base.metadata.sorted_tables
    }


@pytest.fixture
def seeded(session: Session) -> Session:
    assert seed(session, PASSWORD) is True
    session.commit()
    return session


def test_seed_creates_the_four_parties(seeded: Session) -> None:
    organizations = seeded.scalars(select(Organization)).all()
    assert sorted(o.kind for o in organizations) == sorted(OrganizationKind)
    assert all(siret_error(o.siret) is None for o in organizations)
    assert all(o.is_active for o in organizations)


def test_seed_creates_five_users_with_their_kinds_roles_and_functions(seeded: Session) -> None:
    users = seeded.scalars(select(User)).all()
    assert {user.email for user in users} == set(EXPECTED_USERS)
    for user in users:
        [membership] = user.memberships
        assert (membership.organization.kind, membership.role, membership.dgfip_function) == EXPECTED_USERS[
            user.email
        ], user.email
        assert user.full_name and user.job_title and user.is_active
        assert user.password_hash.startswith("$argon2id$")


def test_seed_builds_requests_in_at_least_five_states(seeded: Session) -> None:
    requests = seeded.scalars(select(HabilitationRequest)).all()
    states = {request.state for request in requests}
    assert len(states) >= 5
    assert {State.DRAFT, State.SUBMITTED, State.CHANGES_REQUESTED, State.VALIDATED, State.REFUSED} <= states
    assert any(request.stage is Stage.PRODUCTION for request in requests)
    editeur, hebergeur = (
        seeded.scalars(select(Organization).where(Organization.kind == kind)).one()
        for kind in (OrganizationKind.EDITEUR, OrganizationKind.HEBERGEUR)
    )
    collectivite_requests = [r for r in requests if r.organization_id != editeur.id]
    assert all(r.editeur_id == editeur.id and r.hebergeur_id == hebergeur.id for r in collectivite_requests)
    # The éditeur's own sandbox habilitation for its software opens the « avec éditeur » path.
    [own] = [r for r in requests if r.organization_id == editeur.id]
    assert own.software_product is not None and own.state is State.VALIDATED
    assert products_ready_for_production(seeded)[0][0] == own.software_product


def test_a_second_seed_returns_false_and_adds_nothing(seeded: Session) -> None:
    before = row_counts(seeded)
    assert seed(seeded, PASSWORD) is False
    seeded.flush()
    assert row_counts(seeded) == before


def test_the_audit_chain_verifies_after_seeding(seeded: Session) -> None:
    result = verify(seeded)
    assert result.is_valid, result.problem
    assert result.checked > 10  # the seeded requests went through the audited services


@pytest.mark.parametrize("email", sorted(EXPECTED_USERS))
def test_each_demo_user_logs_in_and_sees_their_home_page(client: FlaskClient, seeded: Session, email: str) -> None:
    response = client.post("/connexion", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"

    home = client.get("/", follow_redirects=True)

    assert home.status_code == 200
    body = home.get_data(as_text=True)
    organization = seeded.scalars(select(User).where(User.email == email)).one().memberships[0].organization
    kind = organization.kind
    if kind is OrganizationKind.DGFIP:
        assert home.request.path == "/instruction"
    else:
        assert home.request.path == "/"
        assert 'href="/demandes/' in body  # every party takes part in the demo requests
    assert "Se déconnecter" in body


def test_the_seed_demo_command_prints_the_five_accounts(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()

    first = runner.invoke(seed_demo)

    assert first.exit_code == 0, first.output
    assert "Données de démonstration créées." in first.output
    for account in ACCOUNTS:
        assert account.email in first.output
    assert f"« {app.config['DEMO_PASSWORD']} »" in first.output
    assert session.scalar(select(func.count()).select_from(User)) == 5

    second = runner.invoke(seed_demo)

    assert second.exit_code == 0, second.output
    assert "Données de démonstration déjà présentes." in second.output
    assert session.scalar(select(func.count()).select_from(User)) == 5


def test_the_seed_demo_command_refuses_production(
    app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    result = app.test_cli_runner().invoke(seed_demo)
    assert result.exit_code != 0
    assert "refusées en production" in result.output
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_the_demo_password_must_pass_the_policy(session: Session) -> None:
    """Demo accounts go through the same password policy as everyone else."""
    from tracker.accounts.services import AccountError

    with pytest.raises(AccountError, match="au moins 12 caractères"):
        seed(session, "court")
