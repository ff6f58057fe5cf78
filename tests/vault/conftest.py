"""Fixtures of the vault tests: an approved request (so an active habilitation) and credentials recorded
for it through the real service, with a secret chosen so that each of its encodings differs from the others."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from habilitations.builders import Cast, Situation, build, make_cast
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.audit.models import AuditEntry
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor
from tracker.vault import services
from tracker.vault.keys import KeyRing, parse_key_ring
from tracker.vault.models import ApiCredential
from tracker.vault.state import EXTENSION_NAME, VaultState

# Characters that base64, hex, URL and JSON encodings each spell differently (« / », « + », « " », accents).
SECRET = 'S3cr3t/Ab+Cd=Ef "guillemets" élève-Ω_9f8e7d6c5b4a'
OTHER_SECRET = "Un-autre-secret_0123456789abcdef/+="
CLIENT_ID = "client-cantine-0001"

OLD_KEY = "k2025:lzDMi5aqNCxAiRKm1jXt1jeWSJ1jmu0HZMCY6BPuDLs"
NEW_KEY = "k2026:cYf2rikA2_aZc6Hvqvbzu0hrbkLCOvSNf6HVyxv7JQ8"


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def habilitation(session: Session, cast: Cast) -> Habilitation:
    request = build(session, cast, Situation.VALIDATED)
    session.commit()
    return request.habilitations[-1]


RecordCredentials = Callable[..., ApiCredential]


@pytest.fixture
def record(session: Session, cast: Cast) -> RecordCredentials:
    """Record credentials as the cast's instructeur; keyword arguments override the defaults."""

    def _record(habilitation: Habilitation, **overrides: Any) -> ApiCredential:
        arguments: dict[str, Any] = {
            "principal": cast.principal(Actor.INSTRUCTEUR),
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "id_teleservice": "TELESERVICE-42",
            "oauth_scopes": ["RessourceIR", "RessourceIRDerniere2"],
            "token_url": "https://gateway.exemple.fr/token",
            "api_base_url": "https://gateway.exemple.fr",
            "granted_scopes": ["dgfip_rfr", "dgfip_nbpart"],
            "modalities": ["SPI"],
            "quota_per_minute": 50,
            "expires_on": date(2027, 12, 31),
            **overrides,
        }
        return services.record_credentials(session, habilitation, **arguments)

    return _record


def ring(*items: str) -> KeyRing:
    return parse_key_ring(",".join(items))


@pytest.fixture
def set_vault(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Any]], VaultState]:
    """Give the app another vault configuration for one test (the app itself is shared by the session)."""

    def _set(config: dict[str, Any]) -> VaultState:
        state = VaultState.from_config({"ENV_NAME": "development", "VAULT_DEVELOPMENT_KEY_FILE": None, **config})
        monkeypatch.setitem(app.extensions, EXTENSION_NAME, state)
        return state

    return _set


def _certificate_pair() -> tuple[str, str]:
    """A client certificate and its private key, as PEM (an EC P-256 key, self-signed)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "connecteur-cantine.exemple.fr")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"), key_pem


@pytest.fixture(scope="session")
def certificate_pair() -> tuple[str, str]:
    return _certificate_pair()


# --- the local DGFiP stand-in over real HTTP on loopback (issuing and lifecycle tests) ------------------

STAND_IN_PROVISIONING_TOKEN = "jeton-de-provisionnement-du-coffre"


class StandInClock:
    """The stand-in's time, which the lifecycle tests move past a rotation's overlap."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self.now = datetime.now(UTC)

    def __call__(self) -> Any:
        return self.now

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.now += timedelta(**delta)


@dataclass
class StandIn:
    base_url: str
    app: Flask
    clock: StandInClock


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """The stand-in on a free loopback port, in a thread."""
    import threading

    from tracker.fakedgfip import create_fake_dgfip_app
    from tracker.fakedgfip.server import make_stand_in_server

    clock = StandInClock()
    stand_in_app = create_fake_dgfip_app(provisioning_token=STAND_IN_PROVISIONING_TOKEN, clock=clock)
    server = make_stand_in_server(stand_in_app, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield StandIn(f"http://127.0.0.1:{server.port}", stand_in_app, clock)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def provisioning_configured(app: Flask, monkeypatch: pytest.MonkeyPatch, stand_in: StandIn) -> StandIn:
    """The tracker configured with the stand-in as its API manager, for one test."""
    monkeypatch.setitem(app.config, "VAULT_PROVISIONING_URL", stand_in.base_url + "/")
    monkeypatch.setitem(app.config, "VAULT_PROVISIONING_TOKEN", STAND_IN_PROVISIONING_TOKEN)
    return stand_in


def token_status(token_url: str, client_id: str, secret: str) -> tuple[int, dict[str, Any]]:
    """Ask the stand-in's token endpoint for a token with these credentials, over HTTP, as a connector would."""
    import base64
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    authorization = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 (loopback)
        token_url,
        data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        headers={"Authorization": authorization, "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.fixture
def credential(session: Session, habilitation: Habilitation, record: RecordCredentials) -> ApiCredential:
    """Credentials recorded for the habilitation and committed."""
    recorded = record(habilitation)
    session.commit()
    return recorded


def audit_count(session: Session, action: str) -> int:
    return session.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)).scalar_one()
