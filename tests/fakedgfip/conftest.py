"""The stand-in served over real HTTP on loopback (a free port, a thread), with a clock the tests move."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tracker.fakedgfip import create_fake_dgfip_app
from tracker.fakedgfip.server import make_stand_in_server

PROVISIONING_TOKEN = "jeton-de-provisionnement-de-test"
TELESERVICE = "TLS-TEST-0001"
# Household 2 of the bundled file: a couple with two dependants, declared every year from 2020 to 2025.
COUPLE_SPI = "9999000000210"
COUPLE_SECOND_SPI = "9999000000220"
# Household 5 filed no return for 2023; household 3 arrived in 2023; household 7 pays the IFI.
SPI_WITHOUT_2023 = "9999000000510"
SPI_FROM_2023 = "9999000000310"
IFI_SPI = "9999000000710"


class FakeClock:
    """The stand-in's time; tests move it forward to expire tokens, clients and quota windows."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 9, 15, 10, 0, tzinfo=UTC))


@pytest.fixture
def stand_in_app(clock: FakeClock) -> Flask:
    return create_fake_dgfip_app(provisioning_token=PROVISIONING_TOKEN, clock=clock)


@pytest.fixture
def base_url(stand_in_app: Flask) -> Iterator[str]:
    server = make_stand_in_server(stand_in_app, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def http(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    json_body: Any = None,
    form: dict[str, str] | None = None,
) -> Reply:
    """One real HTTP exchange; error statuses are returned, not raised."""
    data = None
    headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 (http only)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return Reply(response.status, response.headers, _decode(response.read()))
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.headers, _decode(error.read()))


def _decode(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


def provision(base_url: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "id_teleservice": TELESERVICE,
        "oauth_scopes": ["RessourceIR", "RessourceIRDerniere2", "RessourceIFI"],
        "datapass_scopes": ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart"],
        "quota_per_minute": 100,
        "expires_on": "2027-12-31",
        "label": "Commune de Test – bac à sable",
        **overrides,
    }
    reply = http(
        "POST",
        f"{base_url}/provisioning/clients",
        headers={"Authorization": f"Bearer {PROVISIONING_TOKEN}"},
        json_body=body,
    )
    assert reply.status == 201, reply.body
    return reply.body


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def request_token(base_url: str, client: dict[str, Any], **form: str) -> Reply:
    return http(
        "POST",
        f"{base_url}/token",
        headers=basic(client["client_id"], client["client_secret"]),
        form={"grant_type": "client_credentials", **form},
    )


def access_token(base_url: str, client: dict[str, Any], **form: str) -> str:
    reply = request_token(base_url, client, **form)
    assert reply.status == 200, reply.body
    return reply.body["access_token"]


def api_headers(token: str, teleservice: str = TELESERVICE) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Correlation-ID": str(uuid.uuid4()), "ID_Teleservice": teleservice}


def ir_url(base_url: str, spi: str, year: int | str) -> str:
    return f"{base_url}/impotparticulier/1.0/spi/{spi}/situations/ir/assiettes/annrev/{year}"


def two_years_url(base_url: str, spi: str) -> str:
    return f"{base_url}/impotparticulier/1.0/spi/{spi}/dernieresituation/ir/assiettes/deuxans"


def ifi_url(base_url: str, spi: str, year: int | str) -> str:
    return f"{base_url}/impotparticulier/1.0/spi/{spi}/situations/ifiisf/assiettes/annrev/{year}"
