"""Connector tokens (shown once, stored hashed, scoped, expiring, revocable) and the connector API
``GET /api/v1/connector/credentials``: the bundle of DOMAIN §11, each JSON refusal, the rate limit, the
sealed vault, and SECURITY §F 35 (revocation and expiry stop the connector at its next call)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from factories import login, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Cast
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind, User
from tracker.audit.models import AuditEntry
from tracker.db import utcnow
from tracker.habilitations.models import Habilitation, HabilitationRequest, HabilitationState
from tracker.habilitations.workflow import Actor
from tracker.vault import connector, services
from tracker.vault.connector_views import _calls_per_minute
from tracker.vault.models import ApiCredential, ConnectorToken, ConnectorTokenStatus
from tracker.vault.state import VaultState

from .conftest import CLIENT_ID, SECRET, RecordCredentials, audit_count
from .test_no_secret_leaks import database_dump, key_lines, leaks

API = "/api/v1/connector/credentials"
TOKEN_PATTERN = re.compile(r"hdc_[A-Za-z0-9_-]{43}")


def page_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_code(response: Any) -> str:
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"]["message"], "every refusal says why, in French"
    return body["error"]["code"]


@pytest.fixture
def stranger(session: Session) -> User:
    user = make_user(session, make_organization(session, OrganizationKind.EDITEUR))
    session.commit()
    return user


CreateToken = Callable[..., str]


@pytest.fixture
def create_token(session: Session, cast: Cast, habilitation: Habilitation) -> CreateToken:
    """A token created through the service by the collectivité; returns its clear value."""

    def _create(**overrides: Any) -> str:
        _, clear = connector.create_token(
            session,
            habilitation,
            principal=cast.principal(overrides.pop("actor", Actor.COLLECTIVITE)),
            name=overrides.pop("name", "Serveur de production"),
            **overrides,
        )
        session.commit()
        return clear

    return _create


# --- pages ----------------------------------------------------------------------------------------------

# who → (GET the list, POST a new token, POST a revocation)
MATRIX = {
    "collectivite": (200, 201, 302),
    "editeur": (200, 201, 302),
    "hebergeur": (403, 403, 403),
    "instructeur": (403, 403, 403),
    "rapporteur": (403, 403, 403),
    "stranger": (404, 404, 404),
    "anonymous": (302, 302, 302),
}


@pytest.mark.parametrize("who", list(MATRIX))
def test_who_may_list_create_and_revoke_tokens(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    create_token: CreateToken,
    stranger: User,
    who: str,
) -> None:
    create_token()
    existing = session.execute(select(ConnectorToken)).scalar_one()
    user = None if who == "anonymous" else stranger if who == "stranger" else cast.user(Actor(who))
    if user is not None:
        login(client, session, user)
    expected_list, expected_create, expected_revoke = MATRIX[who]
    base = f"/habilitations/{habilitation.id}/connecteur"

    assert client.get(base).status_code == expected_list
    assert client.post(base, data={"name": "Nouveau", "expires_on": ""}).status_code == expected_create
    assert client.post(f"{base}/{existing.id}/revoquer").status_code == expected_revoke

    tokens = session.execute(select(func.count()).select_from(ConnectorToken)).scalar_one()
    assert tokens == (2 if expected_create == 201 else 1)
    revoked = session.get(ConnectorToken, existing.id, populate_existing=True)
    assert revoked is not None
    assert (revoked.revoked_at is not None) is (expected_revoke == 302 and user is not None)


def test_a_token_is_shown_once_and_only_its_hash_is_stored(
    client: FlaskClient, session: Session, connection: Connection, cast: Cast, habilitation: Habilitation
) -> None:
    login(client, session, cast.editeur)
    base = f"/habilitations/{habilitation.id}/connecteur"

    listing = client.get(base)
    assert (date.today() + timedelta(days=365)).isoformat() in page_of(listing), "default expiry: one year"
    created = client.post(base, data={"name": "Serveur « cantine »", "expires_on": ""})

    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    assert created.headers["Pragma"] == "no-cache"
    [clear] = TOKEN_PATTERN.findall(page_of(created))
    row = session.execute(select(ConnectorToken)).scalar_one()
    assert row.token_sha256 == connector.token_sha256(clear)
    assert row.token_prefix == clear[:10]
    assert row.name == "Serveur « cantine »"
    assert row.created_by_id == cast.editeur.id
    assert row.organization_id == habilitation.request.editeur_id
    assert row.status is ConnectorTokenStatus.ACTIVE
    assert audit_count(session, "connector.token_created") == 1

    again = page_of(client.get(base))
    assert clear not in again
    assert row.token_prefix in again
    assert "Serveur « cantine »" in again
    dump = database_dump(connection)
    assert row.token_sha256 in dump, "the dump does not see the token row"
    assert clear not in dump
    assert clear[len(row.token_prefix) :] not in dump


@pytest.mark.parametrize(
    ("name", "days", "message"),
    [
        ("Serveur", 731, "deux ans au plus"),
        ("Serveur", 0, "postérieure à aujourd'hui"),
        ("Serveur", -3, "postérieure à aujourd'hui"),
        ("   ", 30, "Donnez un nom au jeton"),
        ("x" * 101, 30, "100 caractères"),
    ],
)
def test_a_refused_token_form_says_why_and_creates_nothing(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, name: str, days: int, message: str
) -> None:
    login(client, session, cast.collectivite)
    expires_on = (utcnow().date() + timedelta(days=days)).isoformat()

    response = client.post(
        f"/habilitations/{habilitation.id}/connecteur", data={"name": name, "expires_on": expires_on}
    )

    assert response.status_code == 422
    assert message in page_of(response)
    assert TOKEN_PATTERN.search(page_of(response)) is None
    assert session.execute(select(func.count()).select_from(ConnectorToken)).scalar_one() == 0


def test_two_years_is_the_longest_expiry(session: Session, create_token: CreateToken) -> None:
    create_token(expires_on=utcnow().date() + timedelta(days=730))
    assert session.execute(select(ConnectorToken.expires_on)).scalar_one() == utcnow().date() + timedelta(days=730)


def test_a_revoked_token_stops_the_connector_at_its_next_call(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, credential: ApiCredential,
    create_token: CreateToken,
) -> None:  # fmt: skip
    clear = create_token()
    assert client.get(API, headers=bearer(clear)).status_code == 200
    token = session.execute(select(ConnectorToken)).scalar_one()
    login(client, session, cast.editeur)

    response = client.post(f"/habilitations/{habilitation.id}/connecteur/{token.id}/revoquer")

    assert response.status_code == 302
    assert "est révoqué" in page_of(client.get(response.headers["Location"]))
    assert audit_count(session, "connector.token_revoked") == 1
    refused = client.get(API, headers=bearer(clear))
    assert refused.status_code == 401
    assert error_code(refused) == "token_revoked"
    assert client.post(f"/habilitations/{habilitation.id}/connecteur/{token.id}/revoquer").status_code == 302
    assert audit_count(session, "connector.token_revoked") == 1


def test_another_habilitations_token_is_not_revoked_through_this_one(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, create_token: CreateToken
) -> None:
    create_token()
    token = session.execute(select(ConnectorToken)).scalar_one()
    login(client, session, cast.collectivite)

    assert client.post(f"/habilitations/999999/connecteur/{token.id}/revoquer").status_code == 404
    assert client.post(f"/habilitations/{habilitation.id}/connecteur/999999/revoquer").status_code == 404
    assert session.get(ConnectorToken, token.id, populate_existing=True).revoked_at is None


# --- the connector API ----------------------------------------------------------------------------------


def test_the_connector_fetches_the_bundle_of_its_habilitation(
    client: FlaskClient,
    session: Session,
    habilitation: Habilitation,
    record: RecordCredentials,
    create_token: CreateToken,
    certificate_pair: tuple[str, str],
) -> None:
    certificate, private_key = certificate_pair
    credential = record(habilitation, client_certificate_pem=certificate, private_key_pem=private_key)
    session.commit()
    clear = create_token()

    response = client.get(API, headers=bearer(clear))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    bundle = response.get_json()
    assert bundle == {
        "habilitation": habilitation.number,
        "stage": habilitation.stage.value,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "id_teleservice": "TELESERVICE-42",
        "oauth_scopes": ["RessourceIR", "RessourceIRDerniere2"],
        "token_url": "https://gateway.exemple.fr/token",
        "api_base_url": "https://gateway.exemple.fr",
        "granted_scopes": ["dgfip_rfr", "dgfip_nbpart"],
        "modalities": ["SPI"],
        "quota_per_minute": 50,
        "expires_on": "2027-12-31",
        "status": "active",
        "client_certificate": certificate.strip() + "\n",
        "private_key": private_key.strip() + "\n",
    }
    token = session.execute(select(ConnectorToken)).scalar_one()
    assert token.last_used_at is not None
    [entry] = session.execute(select(AuditEntry).where(AuditEntry.action == "connector.bundle_fetched")).scalars()
    assert entry.details["credential"] == credential.id
    assert entry.object_id == str(token.id)
    assert leaks(str(entry.details)) == []
    assert not any(line in str(entry.details) for line in key_lines(private_key))


def test_the_newest_active_credential_is_handed_out(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials,
    create_token: CreateToken,
) -> None:  # fmt: skip
    old = record(habilitation, client_id="client-ancien")
    services.supersede(session, old, principal=cast.principal(Actor.INSTRUCTEUR))
    record(habilitation, client_id="client-nouveau")
    session.commit()

    bundle = client.get(API, headers=bearer(create_token())).get_json()

    assert bundle["client_id"] == "client-nouveau"


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Basic aGRjX3g6eQ==", "hdc_sans_schema", "Bearer a b"]
)
def test_a_missing_or_malformed_header_is_token_missing(
    client: FlaskClient, connection: Connection, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get(API, headers=headers)

    assert response.status_code == 401
    assert error_code(response) == "token_missing"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["hdc_" + "A" * 43, "inconnu", "hdc_"])
def test_an_unknown_token_is_token_invalid(client: FlaskClient, connection: Connection, token: str) -> None:
    response = client.get(API, headers=bearer(token))

    assert response.status_code == 401
    assert error_code(response) == "token_invalid"


def test_a_browser_session_alone_does_not_open_the_api(
    client: FlaskClient, session: Session, cast: Cast, credential: ApiCredential
) -> None:
    login(client, session, cast.collectivite)

    response = client.get(API)

    assert response.status_code == 401
    assert error_code(response) == "token_missing"


def _expire_token(session: Session) -> None:
    session.execute(update(ConnectorToken).values(expires_on=utcnow().date() - timedelta(days=1)))


def _end_habilitation(state: HabilitationState) -> Callable[[Session], None]:
    def _end(session: Session) -> None:
        session.execute(update(Habilitation).values(state=state, ended_at=utcnow()))

    return _end


def _habilitation_lapsed(session: Session) -> None:
    session.execute(update(Habilitation).values(expires_on=utcnow().date() - timedelta(days=1)))


def _credential_expired(session: Session) -> None:
    session.execute(update(ApiCredential).values(expires_on=utcnow().date() - timedelta(days=1)))


def _credential_revoked(session: Session) -> None:
    for credential in session.execute(select(ApiCredential)).scalars():
        services.revoke(session, credential, principal=None, reason="Habilitation révoquée")


REFUSALS: dict[str, tuple[Callable[[Session], None], int, str]] = {
    "token expired": (_expire_token, 401, "token_expired"),
    "habilitation revoked": (_end_habilitation(HabilitationState.REVOKED), 403, "habilitation_inactive"),
    "habilitation expired": (_end_habilitation(HabilitationState.EXPIRED), 403, "habilitation_inactive"),
    "habilitation past its expiry date": (_habilitation_lapsed, 403, "habilitation_inactive"),
    "credential revoked": (_credential_revoked, 403, "credentials_inactive"),
    "credential past its expiry date": (_credential_expired, 403, "credentials_inactive"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_end_stops_the_connector_with_a_clear_json_error(
    client: FlaskClient, session: Session, credential: ApiCredential, create_token: CreateToken, case: str
) -> None:
    """SECURITY §F 35: the call before works, the call after is refused with a stable code, and audited."""
    change, status, code = REFUSALS[case]
    clear = create_token()
    assert client.get(API, headers=bearer(clear)).status_code == 200
    change(session)
    session.commit()

    response = client.get(API, headers=bearer(clear))

    assert response.status_code == status
    assert error_code(response) == code
    assert response.headers["Cache-Control"] == "no-store"
    assert leaks(response.get_data(as_text=True)) == []
    [entry] = session.execute(select(AuditEntry).where(AuditEntry.action == "connector.bundle_refused")).scalars()
    assert entry.details["code"] == code


def test_no_credential_yet_is_credentials_not_issued(
    client: FlaskClient, session: Session, create_token: CreateToken
) -> None:
    response = client.get(API, headers=bearer(create_token()))

    assert response.status_code == 404
    assert error_code(response) == "credentials_not_issued"


def test_calls_are_rate_limited_per_token(
    app: Flask,
    client: FlaskClient,
    session: Session,
    credential: ApiCredential,
    create_token: CreateToken,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "CONNECTOR_CALLS_PER_MINUTE", "3 per minute")
    first, second = create_token(), create_token(name="Serveur de secours")

    statuses = [client.get(API, headers=bearer(first)).status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    limited = client.get(API, headers=bearer(first))
    assert limited.status_code == 429
    assert error_code(limited) == "rate_limited"
    assert client.get(API, headers=bearer(second)).status_code == 200
    assert audit_count(session, "connector.bundle_fetched") == 4


def test_the_default_rate_is_sixty_calls_a_minute(app: Flask) -> None:
    with app.test_request_context(API):
        assert _calls_per_minute() == "60 per minute"


def test_an_editeur_replaced_on_the_request_loses_its_tokens(
    client: FlaskClient, session: Session, habilitation: Habilitation, credential: ApiCredential,
    create_token: CreateToken,
) -> None:  # fmt: skip
    clear = create_token(actor=Actor.EDITEUR)
    assert client.get(API, headers=bearer(clear)).status_code == 200
    successor = make_organization(session, OrganizationKind.EDITEUR)
    session.execute(
        update(HabilitationRequest)
        .where(HabilitationRequest.id == habilitation.request_id)
        .values(editeur_id=successor.id)
    )
    session.commit()

    response = client.get(API, headers=bearer(clear))

    assert response.status_code == 401
    assert error_code(response) == "token_revoked"


def test_an_altered_envelope_answers_an_error_and_an_alert_never_garbage(
    client: FlaskClient, session: Session, credential: ApiCredential, create_token: CreateToken
) -> None:
    clear = create_token()
    envelope = credential.client_secret_encrypted
    flipped = envelope[:-3] + ("A" if envelope[-3] != "A" else "B") + envelope[-2:]
    session.execute(
        update(ApiCredential).where(ApiCredential.id == credential.id).values(client_secret_encrypted=flipped)
    )
    session.commit()

    response = client.get(API, headers=bearer(clear))

    assert response.status_code == 500
    assert error_code(response) == "credentials_unreadable"
    assert leaks(response.get_data(as_text=True)) == []
    assert audit_count(session, "vault.integrity_failure") == 1
    assert audit_count(session, "connector.bundle_fetched") == 0


def test_a_sealed_vault_answers_503_vault_sealed(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    credential: ApiCredential,
    create_token: CreateToken,
    set_vault: Callable[[dict[str, Any]], VaultState],
) -> None:
    clear = create_token()
    set_vault({"VAULT_KEYS": None})

    response = client.get(API, headers=bearer(clear))

    assert response.status_code == 503
    assert error_code(response) == "vault_sealed"
    login(client, session, cast.collectivite)
    assert client.get(f"/habilitations/{habilitation.id}/connecteur").status_code == 503


def test_a_token_is_refused_for_a_habilitation_that_is_no_longer_active(
    session: Session, cast: Cast, habilitation: Habilitation
) -> None:
    session.execute(update(Habilitation).values(state=HabilitationState.REVOKED))
    session.commit()
    session.expire_all()

    with pytest.raises(connector.GuardFailed, match="n'est plus active"):
        connector.create_token(session, habilitation, principal=cast.principal(Actor.EDITEUR), name="Serveur")
