"""POST /connexion: success, one answer for every failure, CSRF, throttling, audit (SECURITY.md §A.1, §G.38)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from factories import TEST_PASSWORD, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.models import AuthSession, OrganizationKind, User
from tracker.accounts.passwords import PasswordHashing
from tracker.accounts.services import authenticate
from tracker.audit.models import AuditEntry
from tracker.audit.services import verify

LOGIN_FAILED = "Adresse électronique ou mot de passe incorrect."
TOO_MANY = "Trop de tentatives"


def post_login(client: FlaskClient, email: str, password: str, **kwargs):  # type: ignore[no-untyped-def]
    return client.post("/connexion", data={"email": email, "password": password}, **kwargs)


def audit_actions(session: Session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


@pytest.fixture
def user(session: Session) -> User:
    organization = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Cestas")
    user = make_user(session, organization, email="agent@cestas.fr", full_name="Agathe Moreau")
    session.commit()
    return user


@pytest.fixture
def new_client(app: Flask, client: FlaskClient) -> Callable[[], FlaskClient]:
    """Another browser (same isolated client class as ``client``)."""
    return app.test_client


# --- success ------------------------------------------------------------------------------------------


def test_login_page_is_french_and_has_the_fields(client: FlaskClient) -> None:
    response = client.get("/connexion")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Connexion à Habilitations DGFiP" in body
    assert 'name="email"' in body and 'name="password"' in body
    assert 'type="password"' in body


def test_right_password_redirects_to_the_dashboard_and_opens_a_session(
    client: FlaskClient, session: Session, user: User
) -> None:
    response = post_login(client, "agent@cestas.fr", TEST_PASSWORD)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    with client.session_transaction() as cookie:
        token = cookie["sid"]
        assert cookie["_user_id"] == str(user.id)
    [auth_session] = session.scalars(select(AuthSession).where(AuthSession.user_id == user.id))
    assert auth_session.token_sha256 != token  # stored hashed
    assert client.get("/").status_code == 200
    session.refresh(user)
    assert user.last_login_at is not None


def test_email_is_matched_whatever_its_case_and_surrounding_spaces(client: FlaskClient, user: User) -> None:
    response = post_login(client, "  Agent@CESTAS.fr ", TEST_PASSWORD)
    assert response.status_code == 302


def test_next_parameter_is_followed_only_within_the_site(client: FlaskClient, user: User) -> None:
    response = post_login(client, "agent@cestas.fr", TEST_PASSWORD, query_string={"next": "/organisation"})
    assert response.headers["Location"] == "/organisation"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_parameter_never_leaves_the_site(client: FlaskClient, user: User, target: str) -> None:
    response = post_login(client, "agent@cestas.fr", TEST_PASSWORD, query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_logged_in_user_visiting_the_login_page_is_sent_home(client: FlaskClient, user: User) -> None:
    post_login(client, "agent@cestas.fr", TEST_PASSWORD)
    response = client.get("/connexion")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- one answer for every failure ---------------------------------------------------------------------


def test_wrong_password_and_unknown_email_get_the_same_answer(client: FlaskClient, user: User) -> None:
    wrong_password = post_login(client, "agent@cestas.fr", "pas le bon mot de passe")
    unknown_email = post_login(client, "inconnu@cestas.fr", "pas le bon mot de passe")

    assert wrong_password.status_code == unknown_email.status_code == 401
    wrong_body = wrong_password.get_data(as_text=True)
    unknown_body = unknown_email.get_data(as_text=True)
    assert LOGIN_FAILED in wrong_body
    # The typed address is echoed back in the field; apart from it the two pages are identical.
    assert wrong_body.replace("agent@cestas.fr", "@") == unknown_body.replace("inconnu@cestas.fr", "@")
    with client.session_transaction() as cookie:
        assert "sid" not in cookie and "_user_id" not in cookie


def test_password_is_never_echoed_back(client: FlaskClient, user: User) -> None:
    response = post_login(client, "agent@cestas.fr", "mon-secret-mal-tapé")
    assert "mon-secret-mal-tapé" not in response.get_data(as_text=True)


def test_unknown_email_costs_a_hash_verification_too(
    app: Flask, session: Session, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing parity: an unknown account is checked against a dummy hash, so both paths cost one
    argon2 verification."""
    hashing: PasswordHashing = app.extensions["tracker_passwords"]
    verified: list[str] = []
    original = PasswordHashing.verify

    def counting_verify(self: PasswordHashing, password_hash: str, password: str) -> bool:
        verified.append(password_hash)
        return original(self, password_hash, password)

    monkeypatch.setattr(PasswordHashing, "verify", counting_verify)
    assert authenticate(session, "inconnu@cestas.fr", "pas le bon mot de passe") is None
    assert verified == [hashing.dummy_hash]
    assert authenticate(session, "agent@cestas.fr", "pas le bon mot de passe") is None
    assert verified[1] == user.password_hash
    assert hashing.dummy_hash.startswith("$argon2id$")


def test_deactivated_user_gets_the_same_answer_as_a_wrong_password(
    client: FlaskClient, session: Session, user: User
) -> None:
    user.is_active = False
    session.commit()
    response = post_login(client, "agent@cestas.fr", TEST_PASSWORD)
    assert response.status_code == 401
    assert LOGIN_FAILED in response.get_data(as_text=True)


def test_user_of_a_deactivated_organization_cannot_log_in(client: FlaskClient, session: Session, user: User) -> None:
    user.memberships[0].organization.is_active = False
    session.commit()
    response = post_login(client, "agent@cestas.fr", TEST_PASSWORD)
    assert response.status_code == 403
    assert "aucune organisation active" in response.get_data(as_text=True)
    assert session.scalars(select(AuthSession)).all() == []


def test_empty_fields_are_explained(client: FlaskClient) -> None:
    response = post_login(client, "", "")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Saisissez votre adresse électronique." in body
    assert "Saisissez votre mot de passe." in body


def test_post_without_csrf_token_is_refused_when_csrf_is_on(
    app: Flask, client: FlaskClient, session: Session, user: User
) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = post_login(client, "agent@cestas.fr", TEST_PASSWORD)
        page = client.get("/connexion")
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 400
    assert "Requête invalide" in response.get_data(as_text=True)
    assert session.scalars(select(AuthSession)).all() == []
    assert 'name="csrf_token"' in page.get_data(as_text=True)


# --- throttling ---------------------------------------------------------------------------------------


def test_login_limits_are_configured(app: Flask) -> None:
    assert app.config["LOGIN_FAILURES_PER_ACCOUNT"] == "5 per 15 minutes"
    assert app.config["LOGIN_FAILURES_PER_ADDRESS"] == "30 per 15 minutes"


def test_failures_on_one_account_lock_it_even_for_the_right_password(client: FlaskClient, user: User) -> None:
    for attempt in range(5):
        assert post_login(client, "agent@cestas.fr", f"mauvais essai {attempt}").status_code == 401

    blocked = post_login(client, "agent@cestas.fr", TEST_PASSWORD)

    assert blocked.status_code == 429
    assert TOO_MANY in blocked.get_data(as_text=True)
    with client.session_transaction() as cookie:
        assert "sid" not in cookie


def test_account_lock_counts_every_spelling_of_the_address(client: FlaskClient, user: User) -> None:
    for spelling in ["agent@cestas.fr", "AGENT@cestas.fr", " agent@cestas.fr", "Agent@Cestas.FR", "agent@CESTAS.fr"]:
        assert post_login(client, spelling, "mauvais").status_code == 401
    assert post_login(client, "agent@cestas.fr", TEST_PASSWORD).status_code == 429


def test_account_lock_does_not_block_other_accounts(client: FlaskClient, session: Session, user: User) -> None:
    other = make_user(session, user.memberships[0].organization, email="collegue@cestas.fr")
    session.commit()
    for _ in range(5):
        post_login(client, "agent@cestas.fr", "mauvais")
    assert post_login(client, "agent@cestas.fr", TEST_PASSWORD).status_code == 429
    assert post_login(client, other.email, TEST_PASSWORD).status_code == 302


def test_account_lock_applies_from_another_address(new_client: Callable[[], FlaskClient], user: User) -> None:
    """The per-account limit is keyed on the account, so changing address does not reset it."""
    for number in range(5):
        response = post_login(
            new_client(), "agent@cestas.fr", "mauvais", environ_base={"REMOTE_ADDR": f"198.51.100.{number}"}
        )
        assert response.status_code == 401
    blocked = post_login(new_client(), "agent@cestas.fr", TEST_PASSWORD, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert blocked.status_code == 429


def test_failures_across_accounts_from_one_address_are_throttled(
    client: FlaskClient, new_client: Callable[[], FlaskClient], user: User
) -> None:
    emails = [f"essai{number}@cestas.fr" for number in range(30)]  # 30 accounts, one failure each
    for email in emails:
        assert post_login(client, email, "mauvais").status_code == 401

    blocked = post_login(client, "agent@cestas.fr", TEST_PASSWORD)
    assert blocked.status_code == 429
    assert TOO_MANY in blocked.get_data(as_text=True)

    response = post_login(new_client(), "agent@cestas.fr", TEST_PASSWORD, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 302  # another address is not affected


def test_successful_logins_do_not_count(client: FlaskClient, new_client: Callable[[], FlaskClient], user: User) -> None:
    for _ in range(4):
        assert post_login(client, "agent@cestas.fr", "mauvais").status_code == 401
    for _ in range(6):
        # A new browser each time, so each POST is a real login (not a logged-in user sent home).
        assert post_login(new_client(), "agent@cestas.fr", TEST_PASSWORD).status_code == 302
    assert post_login(client, "agent@cestas.fr", "mauvais").status_code == 401  # the fifth failure
    assert post_login(client, "agent@cestas.fr", TEST_PASSWORD).status_code == 429


def test_the_login_page_itself_is_not_throttled(client: FlaskClient, user: User) -> None:
    for _ in range(6):
        post_login(client, "agent@cestas.fr", "mauvais")
    assert client.get("/connexion").status_code == 200


# --- audit --------------------------------------------------------------------------------------------


def test_each_failure_writes_one_login_failed_entry(client: FlaskClient, session: Session, user: User) -> None:
    post_login(client, "agent@cestas.fr", "mauvais")
    post_login(client, "Inconnu@Cestas.fr", "mauvais")

    entries = audit_actions(session, "login_failed")
    assert [entry.actor_email for entry in entries] == ["agent@cestas.fr", "inconnu@cestas.fr"]
    assert all(entry.actor_id is None and entry.object_type == "user" for entry in entries)
    assert all(entry.request_id and entry.ip_address == "127.0.0.1" for entry in entries)
    assert audit_actions(session, "login") == []
    assert verify(session).is_valid


def test_each_success_writes_one_login_entry(client: FlaskClient, session: Session, user: User) -> None:
    response = post_login(client, "agent@cestas.fr", TEST_PASSWORD)

    [entry] = audit_actions(session, "login")
    assert entry.actor_id == user.id and entry.actor_email == "agent@cestas.fr"
    assert entry.organization_id == user.memberships[0].organization_id
    assert (entry.object_type, entry.object_id) == ("user", str(user.id))
    assert entry.request_id == response.headers["X-Request-ID"]
    assert entry.created_at.utcoffset() is not None and entry.created_at.utcoffset().total_seconds() == 0
    assert audit_actions(session, "login_failed") == []


def test_a_throttled_attempt_writes_no_login_entry(client: FlaskClient, session: Session, user: User) -> None:
    for _ in range(5):
        post_login(client, "agent@cestas.fr", "mauvais")
    post_login(client, "agent@cestas.fr", TEST_PASSWORD)
    assert len(audit_actions(session, "login_failed")) == 5
    assert audit_actions(session, "login") == []


def test_very_long_email_is_truncated_in_the_audit_not_refused(
    client: FlaskClient, session: Session, user: User
) -> None:
    email = "a" * 300 + "@cestas.fr"
    assert post_login(client, email, "mauvais").status_code == 401
    [entry] = audit_actions(session, "login_failed")
    assert entry.actor_email == email[:254]
