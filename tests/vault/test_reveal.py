"""Revealing a secret once over HTTP (SECURITY §F 33-34, acceptance 3 of the vault issue).

The password is asked again and failures are throttled; the one-time link works for its user only, once,
before it expires, even under ten parallel uses (PostgreSQL); a failing audit write shows no secret; and
the secret appears on no HTML page but the one reveal response.
"""

from __future__ import annotations

import html
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from factories import TEST_PASSWORD, login, make_organization, make_user, principal_for
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, build, make_cast
from habilitations.test_concurrency import _chain_head, _delete_our_rows, _high_water_marks
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from tracker.accounts.models import OrganizationKind, User
from tracker.accounts.principal import Principal
from tracker.audit import services as audit_services
from tracker.audit.models import AuditEntry
from tracker.db import make_engine, utcnow
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor
from tracker.vault import reveal, services
from tracker.vault.models import ApiCredential, RevealLink, SecretField
from tracker.vault.state import VaultState, current_key_ring

from .conftest import SECRET, RecordCredentials, audit_count
from .test_no_secret_leaks import key_lines, leaks

PARALLEL_USES = 10
BARRIER_TIMEOUT = 30
TOKEN_FIELD = re.compile(r'name="token" type="hidden" value="([^"]+)"')


def page_of(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def confirm_url(habilitation: Habilitation, credential: ApiCredential, segment: str = "secret-client") -> str:
    return f"/habilitations/{habilitation.id}/acces/{credential.id}/afficher/{segment}"


def link_token(response: Any) -> str:
    match = TOKEN_FIELD.search(response.get_data(as_text=True))
    assert match is not None, "the page holds no reveal link"
    return match.group(1)


@pytest.fixture
def stranger(session: Session) -> User:
    user = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE))
    session.commit()
    return user


def actor_user(cast: Cast, stranger: User, who: str) -> User | None:
    if who == "anonymous":
        return None
    if who == "stranger":
        return stranger
    return cast.user(Actor(who))


# who → (GET the password page, POST the right password)
MATRIX = {
    "collectivite": (200, 200),
    "editeur": (200, 200),
    "hebergeur": (403, 403),
    "instructeur": (403, 403),
    "rapporteur": (403, 403),
    "stranger": (404, 404),
    "anonymous": (302, 302),
}


@pytest.mark.parametrize("who", list(MATRIX))
def test_who_may_ask_to_reveal_a_secret(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, credential: ApiCredential,
    stranger: User, who: str,
) -> None:  # fmt: skip
    user = actor_user(cast, stranger, who)
    if user is not None:
        login(client, session, user)
    expected_get, expected_post = MATRIX[who]

    assert client.get(confirm_url(habilitation, credential)).status_code == expected_get
    response = client.post(confirm_url(habilitation, credential), data={"password": TEST_PASSWORD})
    assert response.status_code == expected_post
    links = session.execute(select(func.count()).select_from(RevealLink)).scalar_one()
    assert links == (1 if expected_post == 200 else 0)
    assert leaks(page_of(response)) == []


@pytest.mark.parametrize("who", ["hebergeur", "instructeur", "rapporteur", "stranger", "editeur"])
def test_nobody_else_can_use_a_users_link(
    client: FlaskClient, session: Session, cast: Cast, credential: ApiCredential, stranger: User, who: str
) -> None:
    """SECURITY §F 33, by another user: the link is not found for them, and stays usable by its owner."""
    token = reveal.request_reveal_link(
        session, credential, principal=cast.principal(Actor.COLLECTIVITE), password=TEST_PASSWORD
    )
    session.commit()
    user = actor_user(cast, stranger, who)
    assert user is not None
    login(client, session, user)

    refused = client.post("/acces/afficher", data={"token": token})

    assert refused.status_code == 404
    assert leaks(page_of(refused)) == []
    login(client, session, cast.collectivite)
    assert SECRET in page_of(client.post("/acces/afficher", data={"token": token}))


def test_an_anonymous_visitor_cannot_use_a_link(
    client: FlaskClient, session: Session, cast: Cast, credential: ApiCredential
) -> None:
    token = reveal.request_reveal_link(
        session, credential, principal=cast.principal(Actor.EDITEUR), password=TEST_PASSWORD
    )
    session.commit()

    response = client.post("/acces/afficher", data={"token": token})

    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]
    assert session.execute(select(RevealLink.used_at)).scalar_one() is None


def test_the_secret_is_revealed_once_with_no_store_and_one_audit_entry(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, credential: ApiCredential
) -> None:
    login(client, session, cast.collectivite)

    confirmed = client.post(confirm_url(habilitation, credential), data={"password": TEST_PASSWORD})
    assert confirmed.status_code == 200
    assert leaks(page_of(confirmed)) == []
    assert confirmed.headers["Cache-Control"] == "no-store"
    token = link_token(confirmed)
    stored = session.execute(select(RevealLink)).scalar_one()
    assert stored.token_sha256 == reveal.token_sha256(token)
    assert token not in stored.token_sha256
    assert stored.user_id == cast.collectivite.id
    assert stored.secret_field is SecretField.CLIENT_SECRET
    assert timedelta(minutes=4) < stored.expires_at - stored.created_at <= timedelta(minutes=5)

    shown = client.post("/acces/afficher", data={"token": token})
    assert shown.status_code == 200
    assert SECRET in page_of(shown)
    assert shown.headers["Cache-Control"] == "no-store"
    assert shown.headers["Pragma"] == "no-cache"
    assert audit_count(session, "vault.secret_revealed") == 1
    assert audit_count(session, "vault.reveal_link_created") == 1

    again = client.post("/acces/afficher", data={"token": token})
    assert again.status_code == 409
    assert "déjà servi ou a expiré" in page_of(again)
    assert leaks(page_of(again)) == []
    assert audit_count(session, "vault.secret_revealed") == 1


def test_the_private_key_is_revealed_through_its_own_link(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    certificate_pair: tuple[str, str],
) -> None:
    certificate, private_key = certificate_pair
    credential = record(habilitation, client_certificate_pem=certificate, private_key_pem=private_key)
    without_key = record(habilitation, client_id="client-sans-cle")
    session.commit()
    login(client, session, cast.editeur)

    assert client.get(confirm_url(habilitation, without_key, "cle-privee")).status_code == 404
    confirmed = client.post(confirm_url(habilitation, credential, "cle-privee"), data={"password": TEST_PASSWORD})
    shown = page_of(client.post("/acces/afficher", data={"token": link_token(confirmed)}))

    assert all(line in shown for line in key_lines(private_key))
    assert leaks(shown) == []


def test_a_wrong_password_gives_no_link_and_failures_are_throttled(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, credential: ApiCredential
) -> None:
    login(client, session, cast.collectivite)

    for _ in range(5):
        refused = client.post(confirm_url(habilitation, credential), data={"password": "pas le bon mot de passe"})
        assert refused.status_code == 401
        page = page_of(refused)
        assert "Mot de passe incorrect." in page
        assert 'name="token"' not in page
        assert leaks(page) == []
    assert session.execute(select(func.count()).select_from(RevealLink)).scalar_one() == 0
    assert audit_count(session, "vault.reveal_password_failed") == 5

    throttled = client.post(confirm_url(habilitation, credential), data={"password": TEST_PASSWORD})
    assert throttled.status_code == 429
    assert session.execute(select(func.count()).select_from(RevealLink)).scalar_one() == 0


def test_an_empty_password_re_renders_the_form(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, credential: ApiCredential
) -> None:
    login(client, session, cast.collectivite)

    response = client.post(confirm_url(habilitation, credential), data={"password": ""})

    assert response.status_code == 422
    assert "Saisissez votre mot de passe." in page_of(response)
    assert leaks(page_of(response)) == []


def test_an_expired_link_reveals_nothing(
    client: FlaskClient, session: Session, cast: Cast, credential: ApiCredential
) -> None:
    token = reveal.request_reveal_link(
        session, credential, principal=cast.principal(Actor.COLLECTIVITE), password=TEST_PASSWORD
    )
    session.execute(update(RevealLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    login(client, session, cast.collectivite)

    response = client.post("/acces/afficher", data={"token": token})

    assert response.status_code == 409
    assert leaks(page_of(response)) == []
    assert session.execute(select(RevealLink.used_at)).scalar_one() is None
    assert audit_count(session, "vault.secret_revealed") == 0


def test_a_revoked_credential_gives_no_link(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, credential: ApiCredential
) -> None:
    services.revoke(session, credential, principal=cast.principal(Actor.INSTRUCTEUR), reason="Fuite supposée")
    session.commit()
    login(client, session, cast.collectivite)

    response = client.post(confirm_url(habilitation, credential), data={"password": TEST_PASSWORD})

    assert response.status_code == 409
    assert session.execute(select(func.count()).select_from(RevealLink)).scalar_one() == 0


def test_uses_in_sequence_give_one_secret(session: Session, cast: Cast, credential: ApiCredential) -> None:
    """SECURITY §F 33 on any database: the conditional UPDATE lets the first use through, not the next."""
    principal = cast.principal(Actor.COLLECTIVITE)
    token = reveal.request_reveal_link(session, credential, principal=principal, password=TEST_PASSWORD)
    session.commit()

    outcomes = []
    for _ in range(PARALLEL_USES):
        try:
            outcomes.append(reveal.use_reveal_link(session, token, principal=principal).plaintext)
            session.commit()
        except reveal.RevealLinkUnusable:
            session.rollback()
            outcomes.append("refused")

    assert Counter(outcomes) == {SECRET: 1, "refused": PARALLEL_USES - 1}


def test_when_the_audit_write_fails_no_secret_is_shown(
    client: FlaskClient, session: Session, cast: Cast, credential: ApiCredential, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SECURITY §F 34 over HTTP: the reveal's audit entry cannot be written, so the answer is a 500 page
    without the secret, and the link is left unspent (its use rolled back with the failed entry)."""
    token = reveal.request_reveal_link(
        session, credential, principal=cast.principal(Actor.COLLECTIVITE), password=TEST_PASSWORD
    )
    session.commit()
    login(client, session, cast.collectivite)
    real_record = audit_services.record

    def failing_record(db_session: Session, action: str, **kwargs: Any) -> AuditEntry:
        if action == "vault.secret_revealed":
            raise RuntimeError("journal d'audit indisponible")
        return real_record(db_session, action, **kwargs)

    monkeypatch.setattr(audit_services, "record", failing_record)

    response = client.post("/acces/afficher", data={"token": token})

    assert response.status_code == 500
    assert leaks(page_of(response)) == []
    assert session.execute(select(RevealLink.used_at)).scalar_one() is None


def test_an_altered_envelope_is_alerted_and_shows_no_secret(
    client: FlaskClient, session: Session, cast: Cast, credential: ApiCredential
) -> None:
    token = reveal.request_reveal_link(
        session, credential, principal=cast.principal(Actor.COLLECTIVITE), password=TEST_PASSWORD
    )
    envelope = credential.client_secret_encrypted
    flipped = envelope[:-3] + ("A" if envelope[-3] != "A" else "B") + envelope[-2:]
    session.execute(
        update(ApiCredential).where(ApiCredential.id == credential.id).values(client_secret_encrypted=flipped)
    )
    session.commit()
    login(client, session, cast.collectivite)

    response = client.post("/acces/afficher", data={"token": token})

    assert response.status_code == 500
    assert "ne peut pas être déchiffré" in page_of(response)
    assert leaks(page_of(response)) == []
    assert audit_count(session, "vault.integrity_failure") == 1
    assert session.execute(select(RevealLink.used_at)).scalar_one() is not None


def test_every_reveal_route_answers_503_while_sealed(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    credential: ApiCredential,
    set_vault: Callable[[dict[str, Any]], VaultState],
) -> None:
    token = reveal.request_reveal_link(
        session, credential, principal=cast.principal(Actor.COLLECTIVITE), password=TEST_PASSWORD
    )
    session.commit()
    set_vault({"VAULT_KEYS": None})
    login(client, session, cast.collectivite)

    assert client.get(confirm_url(habilitation, credential)).status_code == 503
    assert client.post(confirm_url(habilitation, credential), data={"password": TEST_PASSWORD}).status_code == 503
    sealed = client.post("/acces/afficher", data={"token": token})
    assert sealed.status_code == 503
    assert leaks(page_of(sealed)) == []
    assert session.execute(select(RevealLink.used_at)).scalar_one() is None


def test_the_access_page_offers_the_reveal_and_the_tokens_to_the_parties_only(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, credential: ApiCredential
) -> None:
    for actor, offered in (
        (Actor.COLLECTIVITE, True),
        (Actor.EDITEUR, True),
        (Actor.HEBERGEUR, False),
        (Actor.INSTRUCTEUR, False),
    ):
        login(client, session, cast.user(actor))
        page = page_of(client.get(f"/habilitations/{habilitation.id}/acces"))
        assert (confirm_url(habilitation, credential) in page) is offered, actor
        assert (f"/habilitations/{habilitation.id}/connecteur" in page) is offered, actor
        assert leaks(page) == []


def test_the_secret_appears_on_no_html_page_but_the_one_reveal_response(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    certificate_pair: tuple[str, str],
    stranger: User,
) -> None:
    """Acceptance 3: every page a party can reach around the secret, error pages and forms re-rendered
    after an error included, is searched for the secret and the private key in every encoding."""
    certificate, private_key = certificate_pair
    credential = record(habilitation, client_certificate_pem=certificate, private_key_pem=private_key)
    session.commit()
    base = f"/habilitations/{habilitation.id}"
    pages: dict[str, Any] = {}

    login(client, session, cast.collectivite)
    pages["access page"] = client.get(f"{base}/acces")
    pages["password page"] = client.get(confirm_url(habilitation, credential))
    pages["wrong password (401)"] = client.post(confirm_url(habilitation, credential), data={"password": "faux"})
    pages["empty password (422)"] = client.post(confirm_url(habilitation, credential), data={"password": ""})
    pages["link page"] = client.post(confirm_url(habilitation, credential), data={"password": TEST_PASSWORD})
    token = link_token(pages["link page"])
    revealed = client.post("/acces/afficher", data={"token": token})
    pages["used link (409)"] = client.post("/acces/afficher", data={"token": token})
    pages["unknown link (404)"] = client.post("/acces/afficher", data={"token": "inconnu"})
    pages["access page after the reveal"] = client.get(f"{base}/acces")
    pages["connector tokens page"] = client.get(f"{base}/connecteur")
    pages["token form error (422)"] = client.post(f"{base}/connecteur", data={"name": "", "expires_on": ""})
    pages["token created"] = client.post(f"{base}/connecteur", data={"name": "Serveur", "expires_on": ""})
    pages["token created with a date"] = client.post(
        f"{base}/connecteur", data={"name": "Serveur", "expires_on": (utcnow().date() + timedelta(days=30)).isoformat()}
    )
    login(client, session, cast.hebergeur)
    pages["other party (403)"] = client.get(confirm_url(habilitation, credential))
    login(client, session, stranger)
    pages["stranger (404)"] = client.get(confirm_url(habilitation, credential))

    assert revealed.status_code == 200
    assert SECRET in page_of(revealed)
    for name, response in pages.items():
        assert response.mimetype == "text/html", name
        page = response.get_data(as_text=True)
        for text in (page, html.unescape(page)):
            assert leaks(text) == [], name
            assert not any(line in text for line in key_lines(private_key)), name


# --- ten parallel uses of one link (PostgreSQL) -----------------------------------------------------------


@pytest.fixture
def committed_engine(app: Flask, database_url: str, is_postgresql: bool) -> Iterator[Engine]:
    """Real concurrent transactions need committed rows: ours are deleted at the end (as in
    tests/habilitations/test_concurrency.py)."""
    if not is_postgresql:
        pytest.skip("concurrent transactions and row locks need PostgreSQL (TRACKER_TEST_DATABASE_URL)")
    engine = make_engine(database_url, pool_size=PARALLEL_USES + 2, max_overflow=0)
    marks, head = _high_water_marks(engine), _chain_head(engine)
    try:
        yield engine
    finally:
        _delete_our_rows(engine, marks, head)
        assert _high_water_marks(engine) == marks, "rows left behind"
        engine.dispose()


@pytest.mark.postgresql_only
def test_ten_parallel_uses_of_one_link_give_exactly_one_secret(app: Flask, committed_engine: Engine) -> None:
    """SECURITY §F 33, in parallel: each use in its own thread, session and transaction, all released at once."""
    with app.app_context(), Session(committed_engine) as session:
        cast = make_cast(session)
        request = build(session, cast, Situation.VALIDATED)
        credential = services.record_credentials(
            session,
            request.habilitations[-1],
            principal=cast.principal(Actor.INSTRUCTEUR),
            client_id="client-parallele",
            client_secret=SECRET,
            id_teleservice="TELESERVICE-10",
            oauth_scopes=["RessourceIR"],
            token_url="https://gateway.exemple.fr/token",
            api_base_url="https://gateway.exemple.fr",
            granted_scopes=["dgfip_rfr"],
        )
        token = reveal.request_reveal_link(
            session, credential, principal=cast.principal(Actor.COLLECTIVITE), password=TEST_PASSWORD
        )
        session.commit()
        user_id, credential_id = cast.collectivite.id, credential.id
        keys = current_key_ring()

    barrier = threading.Barrier(PARALLEL_USES)
    factory = sessionmaker(bind=committed_engine)

    def attempt() -> str:
        with app.app_context(), factory() as session:
            user = session.get(User, user_id)
            assert user is not None
            principal: Principal = principal_for(user)
            barrier.wait(timeout=BARRIER_TIMEOUT)
            try:
                revealed = reveal.use_reveal_link(session, token, principal=principal, keys=keys)
                session.commit()
            except reveal.RevealLinkUnusable:
                session.rollback()
                return "refused"
            return revealed.plaintext

    with ThreadPoolExecutor(max_workers=PARALLEL_USES) as pool:
        futures = [pool.submit(attempt) for _ in range(PARALLEL_USES)]
        outcomes = [future.result(timeout=BARRIER_TIMEOUT * 2) for future in futures]

    assert Counter(outcomes) == {SECRET: 1, "refused": PARALLEL_USES - 1}
    with Session(committed_engine) as session:
        revealed_entries = session.execute(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "vault.secret_revealed", AuditEntry.object_id == str(credential_id))
        ).scalar_one()
        assert revealed_entries == 1
        assert session.execute(select(RevealLink.used_at).where(RevealLink.credential_id == credential_id)).scalar_one()
