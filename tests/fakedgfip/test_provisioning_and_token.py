"""The API manager side of the stand-in: provisioning, /token (RFC 6749 client credentials), rotation and
revocation, all over real HTTP on loopback."""

from __future__ import annotations

import logging

import pytest

from tests.fakedgfip.conftest import (
    COUPLE_SPI,
    PROVISIONING_TOKEN,
    TELESERVICE,
    FakeClock,
    access_token,
    api_headers,
    basic,
    http,
    ir_url,
    provision,
    request_token,
)


@pytest.mark.parametrize(
    "authorization", [None, "Bearer un-autre-jeton", f"Basic {PROVISIONING_TOKEN}", PROVISIONING_TOKEN]
)
def test_provisioning_requires_the_provisioning_token(base_url: str, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    body = {"oauth_scopes": ["RessourceIR"], "datapass_scopes": ["dgfip_rfr"]}
    created = http("POST", f"{base_url}/provisioning/clients", headers=headers, json_body=body)
    revoked = http("DELETE", f"{base_url}/provisioning/clients/whatever", headers=headers)
    rotated = http("POST", f"{base_url}/provisioning/clients/whatever/secret", headers=headers, json_body={})

    for reply in (created, revoked, rotated):
        assert reply.status == 401
        assert reply.body["error"] == "invalid_token"
        assert reply.headers["WWW-Authenticate"] == "Bearer"


def test_provisioning_returns_the_credentials_once_with_the_urls_of_the_stand_in(base_url: str) -> None:
    client = provision(base_url, quota_per_minute=30)

    assert set(client) == {
        "client_id",
        "client_secret",
        "id_teleservice",
        "oauth_scopes",
        "datapass_scopes",
        "token_url",
        "api_base_url",
        "quota_per_minute",
        "expires_on",
        "label",
    }
    assert client["id_teleservice"] == TELESERVICE
    assert client["oauth_scopes"] == ["RessourceIFI", "RessourceIR", "RessourceIRDerniere2"]
    assert client["token_url"] == f"{base_url}/token"
    assert client["api_base_url"] == f"{base_url}/impotparticulier/1.0"
    assert client["quota_per_minute"] == 30
    assert client["expires_on"] == "2027-12-31"
    assert len(client["client_secret"]) >= 43  # token_urlsafe(32)
    assert provision(base_url)["client_secret"] != client["client_secret"]


def test_provisioning_without_teleservice_assigns_one(base_url: str) -> None:
    client = provision(base_url, id_teleservice=None, expires_on=None, label=None)

    assert client["id_teleservice"].startswith("TLS-")
    assert client["expires_on"] is None


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"oauth_scopes": ["RessourceInconnue"]}, "invalid_scope"),
        ({"oauth_scopes": []}, "invalid_request"),
        ({"datapass_scopes": ["dgfip_rfr", "dgfip_pas_une_donnee"]}, "invalid_scope"),
        ({"datapass_scopes": "dgfip_rfr"}, "invalid_request"),
        ({"quota_per_minute": 0}, "invalid_request"),
        ({"quota_per_minute": True}, "invalid_request"),
        ({"expires_on": "31/12/2027"}, "invalid_request"),
        ({"label": 12}, "invalid_request"),
    ],
)
def test_provisioning_refuses_a_bad_request(base_url: str, override: dict, error: str) -> None:
    body = {"oauth_scopes": ["RessourceIR"], "datapass_scopes": ["dgfip_rfr"], **override}
    reply = http(
        "POST",
        f"{base_url}/provisioning/clients",
        headers={"Authorization": f"Bearer {PROVISIONING_TOKEN}"},
        json_body=body,
    )

    assert reply.status == 400
    assert reply.body["error"] == error


def test_token_with_basic_authentication(base_url: str) -> None:
    client = provision(base_url)

    reply = request_token(base_url, client)

    assert reply.status == 200
    assert reply.body["token_type"] == "Bearer"
    assert reply.body["expires_in"] == 3600
    assert reply.body["scope"] == "RessourceIFI RessourceIR RessourceIRDerniere2"
    assert len(reply.body["access_token"]) >= 43
    assert reply.headers["Cache-Control"] == "no-store"


def test_token_with_credentials_in_the_body_and_a_narrower_scope(base_url: str) -> None:
    client = provision(base_url)

    reply = http(
        "POST",
        f"{base_url}/token",
        form={
            "grant_type": "client_credentials",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "scope": "RessourceIR",
        },
    )

    assert reply.status == 200
    assert reply.body["scope"] == "RessourceIR"


def test_token_refuses_a_scope_not_granted(base_url: str) -> None:
    client = provision(base_url, oauth_scopes=["RessourceIR"])

    reply = request_token(base_url, client, scope="RessourceIR RessourceIFI")

    assert reply.status == 400
    assert reply.body["error"] == "invalid_scope"


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),
    ],
)
def test_token_grant_type(base_url: str, form: dict, status: int, error: str) -> None:
    client = provision(base_url)

    reply = http("POST", f"{base_url}/token", headers=basic(client["client_id"], client["client_secret"]), form=form)

    assert reply.status == status
    assert reply.body["error"] == error


def test_token_refuses_two_authentication_methods_at_once(base_url: str) -> None:
    client = provision(base_url)

    reply = http(
        "POST",
        f"{base_url}/token",
        headers=basic(client["client_id"], client["client_secret"]),
        form={"grant_type": "client_credentials", "client_id": client["client_id"]},
    )

    assert reply.status == 400
    assert reply.body["error"] == "invalid_request"


def test_token_wants_a_form_body(base_url: str) -> None:
    client = provision(base_url)

    reply = http(
        "POST",
        f"{base_url}/token",
        headers=basic(client["client_id"], client["client_secret"]),
        json_body={"grant_type": "client_credentials"},
    )

    assert reply.status == 400
    assert reply.body["error"] == "invalid_request"


def _bad_credentials(client: dict) -> list[dict[str, str]]:
    return [
        basic(client["client_id"], "pas-le-bon-secret"),
        basic("client-inconnu", client["client_secret"]),
        {"Authorization": "Basic pas-du-base64!"},
        {"Authorization": f"Bearer {client['client_secret']}"},
        {},
    ]


def test_token_refuses_a_bad_client_with_www_authenticate(base_url: str) -> None:
    client = provision(base_url)

    for headers in _bad_credentials(client):
        reply = http("POST", f"{base_url}/token", headers=headers, form={"grant_type": "client_credentials"})
        assert reply.status == 401, headers
        assert reply.body["error"] == "invalid_client"
        assert reply.headers["WWW-Authenticate"].startswith("Basic")


def test_a_revoked_client_gets_no_token_and_its_tokens_stop_at_once(base_url: str) -> None:
    client = provision(base_url)
    token = access_token(base_url, client)
    assert http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=api_headers(token)).status == 200

    revoked = http(
        "DELETE",
        f"{base_url}/provisioning/clients/{client['client_id']}",
        headers={"Authorization": f"Bearer {PROVISIONING_TOKEN}"},
    )

    assert revoked.status == 204
    after = http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=api_headers(token))
    assert after.status == 401
    assert after.body["erreur"]["code"] == 4010
    assert request_token(base_url, client).body["error"] == "invalid_client"


def test_revoking_an_unknown_client_is_404(base_url: str) -> None:
    reply = http(
        "DELETE",
        f"{base_url}/provisioning/clients/inconnu",
        headers={"Authorization": f"Bearer {PROVISIONING_TOKEN}"},
    )

    assert reply.status == 404


def test_an_expired_client_gets_no_token_and_its_tokens_stop(base_url: str, clock: FakeClock) -> None:
    client = provision(base_url, expires_on="2026-09-15")
    token = access_token(base_url, client)

    clock.advance(days=1)

    assert request_token(base_url, client).status == 401
    assert http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=api_headers(token)).status == 401


def test_an_access_token_expires(base_url: str, clock: FakeClock) -> None:
    client = provision(base_url)
    token = access_token(base_url, client)

    clock.advance(seconds=3599)
    assert http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=api_headers(token)).status == 200
    clock.advance(seconds=1)
    assert http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=api_headers(token)).status == 401


def _rotate(base_url: str, client_id: str, body: dict | None) -> dict:
    reply = http(
        "POST",
        f"{base_url}/provisioning/clients/{client_id}/secret",
        headers={"Authorization": f"Bearer {PROVISIONING_TOKEN}"},
        json_body=body,
    )
    assert reply.status == 200, reply.body
    return reply.body


def test_secret_rotation_keeps_the_old_secret_for_the_overlap(base_url: str, clock: FakeClock) -> None:
    client = provision(base_url)

    rotated = _rotate(base_url, client["client_id"], {"overlap_seconds": 600})

    new_client = {**client, "client_secret": rotated["client_secret"]}
    assert rotated["client_secret"] != client["client_secret"]
    assert rotated["previous_secret_valid_until"] == "2026-09-15T10:10:00+00:00"
    assert request_token(base_url, client).status == 200
    assert request_token(base_url, new_client).status == 200
    clock.advance(seconds=600)
    assert request_token(base_url, client).status == 401
    assert request_token(base_url, new_client).status == 200


def test_secret_rotation_without_overlap_retires_the_old_secret_at_once(base_url: str) -> None:
    client = provision(base_url)

    rotated = _rotate(base_url, client["client_id"], None)

    assert request_token(base_url, client).status == 401
    assert request_token(base_url, {**client, "client_secret": rotated["client_secret"]}).status == 200


def test_a_second_rotation_does_not_extend_the_first_secret(base_url: str, clock: FakeClock) -> None:
    client = provision(base_url)
    second = _rotate(base_url, client["client_id"], {"overlap_seconds": 60})
    clock.advance(seconds=30)

    _rotate(base_url, client["client_id"], {"overlap_seconds": 600})

    clock.advance(seconds=30)
    assert request_token(base_url, client).status == 401
    assert request_token(base_url, {**client, "client_secret": second["client_secret"]}).status == 200


@pytest.mark.parametrize("body", [{"overlap_seconds": -1}, {"overlap_seconds": "60"}, ["overlap_seconds"]])
def test_secret_rotation_refuses_a_bad_overlap(base_url: str, body: object) -> None:
    client = provision(base_url)

    reply = http(
        "POST",
        f"{base_url}/provisioning/clients/{client['client_id']}/secret",
        headers={"Authorization": f"Bearer {PROVISIONING_TOKEN}"},
        json_body=body,
    )

    assert reply.status == 400


def test_a_revoked_client_cannot_rotate(base_url: str) -> None:
    client = provision(base_url)
    authorization = {"Authorization": f"Bearer {PROVISIONING_TOKEN}"}
    http("DELETE", f"{base_url}/provisioning/clients/{client['client_id']}", headers=authorization)

    reply = http(
        "POST", f"{base_url}/provisioning/clients/{client['client_id']}/secret", headers=authorization, json_body={}
    )

    assert reply.status == 404


def test_logs_name_each_request_but_never_a_secret_or_token(base_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tracker.fakedgfip")
    client = provision(base_url)
    token = access_token(base_url, client)
    headers = api_headers(token)
    http("GET", ir_url(base_url, COUPLE_SPI, 2024), headers=headers)
    http("POST", f"{base_url}/token", headers=basic(client["client_id"], "faux"), form={"grant_type": "x"})

    lines = [record.getMessage() for record in caplog.records if record.name == "tracker.fakedgfip"]
    text = "\n".join(lines)
    assert f"GET /impotparticulier/1.0/spi/{COUPLE_SPI}/situations/ir/assiettes/annrev/2024 200" in text
    assert f"client={client['client_id']}" in text
    assert f"correlation={headers['X-Correlation-ID']}" in text
    assert "POST /provisioning/clients 201" in text
    assert "POST /token 200" in text
    for secret in (client["client_secret"], token, PROVISIONING_TOKEN, "faux"):
        assert secret not in text
