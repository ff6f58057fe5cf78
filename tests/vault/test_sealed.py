"""SECURITY §F 31: without a valid key the vault is sealed. Its routes answer 503 with a French page (JSON
under /api/), its services refuse to work, and the rest of the application carries on."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from factories import login, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Cast
from sqlalchemy import update
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor
from tracker.vault import services
from tracker.vault.keys import VaultSealed
from tracker.vault.models import ApiCredential
from tracker.vault.state import VaultState, open_key_ring
from tracker.vault.views import refuse_while_sealed

from .conftest import NEW_KEY, RecordCredentials

SetVault = Callable[[dict[str, Any]], VaultState]
NEW_KEY_MATERIAL = NEW_KEY.split(":", 1)[1]

SEALING_CONFIGURATIONS = {
    "no key": {"VAULT_KEYS": None},
    "empty": {"VAULT_KEYS": ""},
    "malformed key": {"VAULT_KEYS": f"k2026:{NEW_KEY_MATERIAL[:-4]}"},
    "key without id": {"VAULT_KEYS": NEW_KEY_MATERIAL},
}


@pytest.fixture(params=list(SEALING_CONFIGURATIONS), ids=list(SEALING_CONFIGURATIONS))
def sealed(request: pytest.FixtureRequest, set_vault: SetVault) -> VaultState:
    state = set_vault(SEALING_CONFIGURATIONS[request.param])
    assert state.is_sealed
    return state


def test_a_sealed_vault_answers_503_on_its_routes_and_the_rest_of_the_app_works(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, sealed: VaultState
) -> None:
    login(client, session, cast.collectivite)

    vault_page = client.get(f"/habilitations/{habilitation.id}/acces")
    assert vault_page.status_code == 503
    text = html.unescape(vault_page.get_data(as_text=True))
    assert "Le coffre des accès à l'API est scellé" in text
    assert NEW_KEY_MATERIAL[:12] not in text

    assert client.get("/").status_code == 200
    assert client.get(f"/demandes/{habilitation.request_id}").status_code == 200


def test_a_sealed_vault_answers_json_under_the_api(app: Flask, connection: object, sealed: VaultState) -> None:
    with app.test_request_context("/api/v1/connector/credentials"):
        response = refuse_while_sealed()

    assert response is not None
    assert response.status_code == 503
    assert response.get_json()["error"]["status"] == 503
    assert "scellé" in response.get_json()["error"]["message"]


def test_services_refuse_to_work_while_sealed(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials, set_vault: SetVault
) -> None:
    credential = record(habilitation)
    session.commit()
    set_vault({"VAULT_KEYS": None})

    with pytest.raises(VaultSealed):
        record(habilitation)
    with pytest.raises(VaultSealed):
        services.reveal_secret(session, credential, principal=cast.principal(Actor.COLLECTIVITE))
    with pytest.raises(VaultSealed):
        services.rotate_master_key(session, batch_size=10)


def test_rows_under_a_key_the_configuration_lacks_seal_the_vault(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
) -> None:
    """The wrong keys configured: rows name a key id the ring does not hold."""
    credential = record(habilitation)
    session.execute(update(ApiCredential).where(ApiCredential.id == credential.id).values(key_id="k1999"))
    session.commit()

    with pytest.raises(VaultSealed, match="« k1999 », absente de TRACKER_VAULT_KEYS"):
        open_key_ring(session)
    login(client, session, cast.collectivite)
    assert client.get(f"/habilitations/{habilitation.id}/acces").status_code == 503
    assert client.get("/").status_code == 200


def test_an_open_vault_serves_its_page_and_hides_other_requests(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials
) -> None:
    record(habilitation)
    stranger = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE))
    session.commit()

    login(client, session, cast.collectivite)
    assert client.get(f"/habilitations/{habilitation.id}/acces").status_code == 200
    assert client.get("/habilitations/999999/acces").status_code == 404
    login(client, session, stranger)
    assert client.get(f"/habilitations/{habilitation.id}/acces").status_code == 404
