"""The connector's whole journey (issue « credentials vault and connector », acceptance 1): DGFiP approves a
sandbox stage and generates the credentials at the API manager (the local stand-in, over real HTTP on
loopback); the collectivité creates a connector token; the connector fetches its bundle from the tracker,
obtains an access token from the stand-in and calls the assiette endpoint, receiving only the fields of
the granted scopes; DGFiP revokes the habilitation, and the connector's next bundle fetch and API call
both fail."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from factories import login
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, build, event_form, event_url
from sqlalchemy.orm import Session

from tracker.catalogue.scopes import SCOPES_BY_KEY
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Event

from .conftest import StandIn

HOUSEHOLD_SPI = "9999000000110"  # the first household of tracker/fakedgfip/households.json
INCOME_YEAR = 2024  # taxed whatever the day the test runs (2025 is only from 1 August 2026)


def _http(method: str, url: str, *, headers: dict[str, str], form: dict[str, str] | None = None) -> tuple[int, Any]:
    """One call as the connector makes it: real HTTP, on loopback."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    if form is not None:
        headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def _fields_of(scopes: list[str]) -> set[str]:
    """The response fields the granted DataPass scopes open, read from the catalogue (DOMAIN §6)."""
    return {path.split(".")[0] for key in scopes if key in SCOPES_BY_KEY for path in SCOPES_BY_KEY[key].response_fields}


def test_a_connector_reads_only_its_granted_fields_until_the_habilitation_is_revoked(
    app: Flask,
    client: FlaskClient,
    session: Session,
    cast: Cast,
    provisioning_configured: StandIn,
) -> None:
    request = build(session, cast, Situation.SUBMITTED)
    session.commit()

    # DGFiP approves the sandbox stage, then generates the credentials at the API manager.
    login(client, session, cast.instructeur)
    response = client.post(event_url(request.id, Event.APPROVE), data=event_form(request, Event.APPROVE, reason=""))
    assert response.status_code == 302
    session.expire_all()
    request = session.get(HabilitationRequest, request.id)
    assert request is not None
    habilitation = request.habilitations[-1]
    assert client.post(f"/habilitations/{habilitation.id}/acces/generer").status_code == 302

    # The collectivité creates a connector token, shown once.
    login(client, session, cast.collectivite)
    page = client.post(
        f"/habilitations/{habilitation.id}/connecteur",
        data={"name": "Logiciel de la cantine", "expires_on": ""},
    )
    assert page.status_code == 201, page.get_data(as_text=True)[:2000]
    token = re.search(r"hdc_[A-Za-z0-9_-]{20,}", page.get_data(as_text=True))
    assert token is not None
    connector = app.test_client()  # no browser session: the token alone

    # The connector fetches its bundle.
    bundle = connector.get("/api/v1/connector/credentials", headers={"Authorization": f"Bearer {token.group(0)}"})
    assert bundle.status_code == 200 and bundle.headers["Cache-Control"] == "no-store"
    credentials = bundle.get_json()
    assert credentials["token_url"].startswith(provisioning_configured.base_url)
    granted = credentials["granted_scopes"]
    assert "RessourceIR" in credentials["oauth_scopes"]

    # It obtains an access token from the stand-in, then calls the assiette endpoint.
    status, answer = _http(
        "POST",
        credentials["token_url"],
        headers={},
        form={
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    )
    assert status == 200 and answer["token_type"] == "Bearer"
    api_headers = {
        "Authorization": f"Bearer {answer['access_token']}",
        "X-Correlation-ID": str(uuid.uuid4()),
        "ID_Teleservice": credentials["id_teleservice"],
    }
    assiette = f"{credentials['api_base_url']}/spi/{HOUSEHOLD_SPI}/situations/ir/assiettes/annrev/{INCOME_YEAR}"
    status, body = _http("GET", assiette, headers=api_headers)
    assert status == 200, body
    expected = _fields_of(granted) - {"indicateurIfiIsf"}  # the IFI indicator has its own resource
    assert expected, "the approved request grants some fields"
    assert set(body) == {"spi", "anneeRevenus", *expected}
    assert (body["spi"], body["anneeRevenus"]) == (HOUSEHOLD_SPI, INCOME_YEAR)

    # DGFiP revokes the habilitation: the next bundle fetch and the next API call both fail.
    login(client, session, cast.instructeur)
    response = client.post(
        event_url(request.id, Event.REVOKE),
        data=event_form(request, Event.REVOKE, reason="Engagements de sécurité non tenus."),
    )
    assert response.status_code == 302
    refused = connector.get("/api/v1/connector/credentials", headers={"Authorization": f"Bearer {token.group(0)}"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] in {"habilitation_inactive", "credentials_inactive"}
    status, body = _http("GET", assiette, headers={**api_headers, "X-Correlation-ID": str(uuid.uuid4())})
    assert status == 401, body
