"""Server-side login sessions: fixation, logout, revocation, timeouts, cookie flags, caching
(SECURITY.md §A.3–5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from factories import TEST_PASSWORD, login, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tracker.accounts.models import AuthSession, Membership, MembershipRole, OrganizationKind, User
from tracker.accounts.services import SESSION_TOUCH_INTERVAL, token_sha256
from tracker.audit.models import AuditEntry
from tracker.config import load_config
from tracker.db import utcnow

COOKIE = "tracker_session"
HOST = "tracker.test"


@pytest.fixture
def user(session: Session) -> User:
    organization = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Pessac")
    user = make_user(session, organization, email="agent@pessac.fr", role=MembershipRole.ADMIN)
    session.commit()
    return user


@pytest.fixture
def new_client(app: Flask, client: FlaskClient) -> Callable[[], FlaskClient]:
    """Another browser (same isolated client class as ``client``)."""
    return app.test_client


def log_in(client: FlaskClient) -> None:
    response = client.post("/connexion", data={"email": "agent@pessac.fr", "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def session_token(client: FlaskClient) -> str | None:
    with client.session_transaction() as cookie:
        return cookie.get("sid")


def auth_session_of(session: Session, client: FlaskClient) -> AuthSession:
    token = session_token(client)
    assert token
    return session.scalars(select(AuthSession).where(AuthSession.token_sha256 == token_sha256(token))).one()


def assert_logged_out(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/connexion")


# --- fixation -----------------------------------------------------------------------------------------


def test_session_set_before_login_is_replaced_at_login(client: FlaskClient, session: Session, user: User) -> None:
    with client.session_transaction() as cookie:
        cookie["sid"] = "jeton-choisi-par-un-attaquant"
        cookie["panier"] = "contenu d'avant la connexion"
    before = client.get_cookie(COOKIE, domain=HOST)
    assert before is not None

    log_in(client)

    after = client.get_cookie(COOKIE, domain=HOST)
    assert after is not None and after.value != before.value
    with client.session_transaction() as cookie:
        assert cookie["sid"] != "jeton-choisi-par-un-attaquant"
        assert "panier" not in cookie
    assert auth_session_of(session, client).user_id == user.id
    assert (
        session.scalars(
            select(AuthSession).where(AuthSession.token_sha256 == token_sha256("jeton-choisi-par-un-attaquant"))
        ).all()
        == []
    )


def test_each_login_gets_a_new_token(
    client: FlaskClient, new_client: Callable[[], FlaskClient], session: Session, user: User
) -> None:
    log_in(client)
    other_browser = new_client()
    log_in(other_browser)
    assert session_token(client) != session_token(other_browser)
    assert len(session.scalars(select(AuthSession).where(AuthSession.user_id == user.id)).all()) == 2


def test_a_forged_token_is_not_a_session(client: FlaskClient, user: User) -> None:
    with client.session_transaction() as cookie:
        cookie["sid"] = "n-importe-quoi"
        cookie["_user_id"] = str(user.id)
        cookie["_fresh"] = True
    assert_logged_out(client.get("/"))
    assert_logged_out(client.get("/organisation"))


def test_another_users_id_beside_a_valid_token_is_refused(client: FlaskClient, session: Session, user: User) -> None:
    """The cookie is signed, but the server row decides who is logged in: a mismatch logs out."""
    colleague = make_user(session, user.memberships[0].organization, email="collegue@pessac.fr")
    session.commit()
    log_in(client)
    with client.session_transaction() as cookie:
        cookie["_user_id"] = str(colleague.id)
    assert_logged_out(client.get("/organisation"))


# --- logout -------------------------------------------------------------------------------------------


def test_after_logout_the_old_cookie_is_dead(
    client: FlaskClient, new_client: Callable[[], FlaskClient], session: Session, user: User
) -> None:
    log_in(client)
    assert client.get("/").status_code == 200
    stolen = client.get_cookie(COOKIE, domain=HOST)
    assert stolen is not None

    response = client.post("/deconnexion")
    assert response.status_code == 302 and response.headers["Location"] == "/connexion"

    replay = new_client()
    replay.set_cookie(COOKIE, stolen.value, domain=HOST)
    assert_logged_out(replay.get("/"))
    assert_logged_out(replay.get("/organisation"))
    assert session.scalars(select(AuthSession).where(AuthSession.user_id == user.id)).all() == []
    assert_logged_out(client.get("/"))


def test_logout_only_ends_its_own_session(
    client: FlaskClient, new_client: Callable[[], FlaskClient], user: User
) -> None:
    log_in(client)
    laptop = new_client()
    log_in(laptop)
    client.post("/deconnexion")
    assert laptop.get("/").status_code == 200


def test_logout_is_audited(client: FlaskClient, session: Session, user: User) -> None:
    log_in(client)
    client.post("/deconnexion")
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "logout")).all()
    assert entry.actor_id == user.id
    assert entry.organization_id == user.memberships[0].organization_id


def test_logout_needs_a_post(client: FlaskClient, user: User) -> None:
    log_in(client)
    assert client.get("/deconnexion").status_code == 405
    assert client.get("/").status_code == 200


# --- revocation at the next request -------------------------------------------------------------------


def test_deactivated_user_loses_access_at_the_next_request(client: FlaskClient, session: Session, user: User) -> None:
    log_in(client)
    assert client.get("/organisation").status_code == 200

    user.is_active = False
    session.commit()

    assert_logged_out(client.get("/organisation"))
    assert_logged_out(client.get("/"))
    assert session_token(client) is None  # the dead session is also dropped from the cookie


def test_user_removed_from_the_organization_loses_access_at_the_next_request(
    client: FlaskClient, session: Session, user: User
) -> None:
    log_in(client)
    assert client.get("/organisation").status_code == 200

    session.execute(delete(Membership).where(Membership.user_id == user.id))
    session.commit()

    assert_logged_out(client.get("/organisation"))
    assert_logged_out(client.get("/"))


def test_member_removed_by_an_admin_loses_access_at_once(
    client: FlaskClient, new_client: Callable[[], FlaskClient], session: Session, user: User
) -> None:
    organization = user.memberships[0].organization
    member = make_user(session, organization, email="membre@pessac.fr")
    session.commit()
    member_browser = new_client()
    login(member_browser, session, member)
    assert member_browser.get("/organisation").status_code == 200
    membership_id = member.memberships[0].id

    log_in(client)
    response = client.post(f"/organisation/membres/{membership_id}/retirer")
    assert response.status_code == 302

    assert_logged_out(member_browser.get("/organisation"))
    assert session.get(Membership, membership_id) is None


def test_deactivated_organization_loses_access_at_the_next_request(
    client: FlaskClient, session: Session, user: User
) -> None:
    log_in(client)
    user.memberships[0].organization.is_active = False
    session.commit()
    assert_logged_out(client.get("/organisation"))


# --- timeouts -----------------------------------------------------------------------------------------


def test_idle_timeout_logs_out(app: Flask, client: FlaskClient, session: Session, user: User) -> None:
    log_in(client)
    auth_session = auth_session_of(session, client)
    auth_session.last_seen_at = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(seconds=5)
    session.commit()

    assert_logged_out(client.get("/organisation"))


def test_activity_within_the_idle_timeout_keeps_the_session_alive(
    app: Flask, client: FlaskClient, session: Session, user: User
) -> None:
    log_in(client)
    auth_session = auth_session_of(session, client)
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    earlier = utcnow() - idle + timedelta(minutes=2)
    auth_session.last_seen_at = earlier
    session.commit()

    assert client.get("/organisation").status_code == 200

    session.refresh(auth_session)
    assert auth_session.last_seen_at > earlier + SESSION_TOUCH_INTERVAL  # the clock was reset and saved
    assert utcnow() - auth_session.last_seen_at < timedelta(minutes=1)


def test_absolute_timeout_logs_out_even_an_active_session(client: FlaskClient, session: Session, user: User) -> None:
    log_in(client)
    auth_session = auth_session_of(session, client)
    auth_session.last_seen_at = utcnow()
    auth_session.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    assert_logged_out(client.get("/organisation"))


def test_session_lifetime_is_the_configured_absolute_timeout(
    app: Flask, client: FlaskClient, session: Session, user: User
) -> None:
    log_in(client)
    auth_session = auth_session_of(session, client)
    lifetime = app.config["PERMANENT_SESSION_LIFETIME"]
    assert lifetime <= timedelta(hours=12)
    assert abs((auth_session.expires_at - auth_session.created_at) - lifetime) < timedelta(seconds=1)
    assert app.config["SESSION_IDLE_TIMEOUT"] <= timedelta(minutes=30)


# --- caching and cookies ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/organisation", "/aide/cycle-de-vie", "/demandes/nouvelle"])
def test_authenticated_responses_are_not_stored(client: FlaskClient, user: User, path: str) -> None:
    log_in(client)
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_authenticated_error_pages_are_not_stored_either(client: FlaskClient, user: User) -> None:
    log_in(client)
    response = client.get("/demandes/999999")
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def test_session_cookie_is_httponly_and_samesite_lax(client: FlaskClient, user: User) -> None:
    response = client.post("/connexion", data={"email": "agent@pessac.fr", "password": TEST_PASSWORD})
    [set_cookie] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{COOKIE}=")]
    attributes = [part.strip().lower() for part in set_cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes  # the test app runs on plain http, like development
    cookie = client.get_cookie(COOKIE, domain=HOST)
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_session_cookie_is_secure_when_configured(
    app: Flask, client: FlaskClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    response = client.post("/connexion", data={"email": "agent@pessac.fr", "password": TEST_PASSWORD})
    [set_cookie] = [value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{COOKIE}=")]
    attributes = [part.strip().lower() for part in set_cookie.split(";")]
    assert {"secure", "httponly", "samesite=lax"} <= set(attributes)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_production_configuration_makes_the_cookie_secure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_ENV", "production")
    monkeypatch.setenv("TRACKER_SECRET_KEY", "k" * 16 + "9f2c1e7a4b3d8e6f5a0c2b1d")
    for name in ("TRACKER_DEBUG", "TRACKER_SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    config = load_config()
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
