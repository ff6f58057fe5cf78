"""Issuing on the access page, over HTTP: recording credentials issued by hand (the secret is never shown
again, not even after a validation error), « Générer les accès » at the stand-in over real HTTP on loopback,
« Renouveler le secret » and « Tester la connexion », who may do what, and 503 while the vault is sealed."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import pytest
from factories import login, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Cast
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor
from tracker.vault.models import ApiCredential, CredentialStatus
from tracker.vault.state import VaultState

from .conftest import CLIENT_ID, SECRET, RecordCredentials, StandIn

SetVault = Callable[[dict[str, Any]], VaultState]


def _form(**overrides: str) -> dict[str, str]:
    return {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "id_teleservice": "TELESERVICE-42",
        "oauth_scopes": "RessourceIR",
        "token_url": "https://gateway.exemple.fr/token",
        "api_base_url": "https://gateway.exemple.fr",
        "granted_scopes": "dgfip_annee_n_moins_1 dgfip_rfr",
        "quota_per_minute": "50",
        "expires_on": "2027-12-31",
        **overrides,
    }


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _credentials(session: Session) -> list[ApiCredential]:
    return list(session.execute(select(ApiCredential).order_by(ApiCredential.id)).scalars())


def test_the_record_form_is_prefilled_from_the_habilitation(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation
) -> None:
    login(client, session, cast.instructeur)

    page = client.get(f"/habilitations/{habilitation.id}/acces/enregistrer")

    assert page.status_code == 200
    text = _text(page)
    assert 'value="dgfip_annee_n_moins_1 dgfip_rfr dgfip_nbpart"' in text
    assert 'value="RessourceIR"' in text
    assert 'type="password"' in text


def test_an_instructeur_records_credentials_and_the_page_never_shows_the_secret(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, certificate_pair: tuple[str, str]
) -> None:
    certificate, private_key = certificate_pair
    login(client, session, cast.instructeur)

    response = client.post(
        f"/habilitations/{habilitation.id}/acces/enregistrer",
        data=_form(client_certificate_pem=certificate, private_key_pem=private_key),
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/habilitations/{habilitation.id}/acces")
    [credential] = _credentials(session)
    assert credential.status is CredentialStatus.ACTIVE and credential.has_private_key
    assert credential.granted_scopes == ["dgfip_annee_n_moins_1", "dgfip_rfr"]
    page = _text(client.get(f"/habilitations/{habilitation.id}/acces"))
    assert "Les accès sont enregistrés" in page
    assert CLIENT_ID in page
    assert SECRET not in page and html.escape(SECRET) not in page
    assert "PRIVATE KEY" not in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client_id": ""}, "Saisissez l'identifiant client."),
        ({"token_url": "http://gateway.exemple.fr/token"}, "https://"),
        ({"oauth_scopes": "Ressource/IR"}, "n'est pas un identifiant valide"),
        ({"quota_per_minute": "0"}, "Le quota est un nombre d'appels par minute entre 1 et"),
        ({"quota_per_minute": "beaucoup"}, "Saisissez un nombre entier."),
        ({"expires_on": "31/02/2027"}, "Saisissez une date valide."),
    ],
    ids=["form", "service-url", "service-scope", "form-quota", "form-quota-text", "form-date"],
)
def test_a_validation_error_renders_the_form_again_without_the_secret(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    certificate_pair: tuple[str, str],
    overrides: dict[str, str],
    message: str,
) -> None:
    certificate, private_key = certificate_pair
    login(client, session, cast.instructeur)

    response = client.post(
        f"/habilitations/{habilitation.id}/acces/enregistrer",
        data=_form(client_certificate_pem=certificate, private_key_pem=private_key, **overrides),
    )

    assert response.status_code == 422
    page = _text(response)
    assert message in page
    assert "ressaisissez le secret" in page
    assert SECRET not in page and html.escape(SECRET) not in page
    assert private_key.strip().splitlines()[1] not in page
    assert "-----BEGIN CERTIFICATE-----" in page, "the certificate is public and kept"
    assert _credentials(session) == []


def test_generating_at_the_stand_in_records_the_credentials_without_showing_the_secret(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, provisioning_configured: StandIn
) -> None:
    login(client, session, cast.instructeur)
    page = _text(client.get(f"/habilitations/{habilitation.id}/acces"))
    assert "Générer les accès" in page

    response = client.post(f"/habilitations/{habilitation.id}/acces/generer")

    assert response.status_code == 302
    [credential] = _credentials(session)
    assert credential.token_url == f"{provisioning_configured.base_url}/token"
    page = _text(client.get(f"/habilitations/{habilitation.id}/acces"))
    assert f"Accès générés auprès du gestionnaire d'API (client {credential.client_id})" in page
    assert "Renouveler le secret" in page and "Tester la connexion" in page


def test_a_refusal_of_the_api_manager_is_said_and_nothing_is_recorded(
    app: Flask,
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    provisioning_configured: StandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "VAULT_PROVISIONING_TOKEN", "un-jeton-perime")
    login(client, session, cast.instructeur)

    client.post(f"/habilitations/{habilitation.id}/acces/generer")

    page = _text(client.get(f"/habilitations/{habilitation.id}/acces"))
    assert "Le gestionnaire d'API refuse de créer les accès (HTTP 401)" in page
    assert "un-jeton-perime" not in page
    assert _credentials(session) == []


def test_without_provisioning_only_recording_by_hand_is_offered(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation
) -> None:
    login(client, session, cast.instructeur)
    page = _text(client.get(f"/habilitations/{habilitation.id}/acces"))
    assert "Enregistrer des accès délivrés" in page
    assert "Générer les accès" not in page


def test_renewing_and_testing_from_the_page(
    client: FlaskClient, session: Session, cast: Cast, habilitation: Habilitation, provisioning_configured: StandIn
) -> None:
    login(client, session, cast.instructeur)
    client.post(f"/habilitations/{habilitation.id}/acces/generer")
    [first] = _credentials(session)

    assert client.post(f"/acces/{first.id}/renouveler").status_code == 302
    page = _text(client.get(f"/habilitations/{habilitation.id}/acces"))
    assert "Nouveau secret enregistré ; l'ancien reste accepté pendant 24 heures." in page
    assert "Ancien secret accepté jusqu'au" in page
    old, new = _credentials(session)
    assert (old.status, new.status) == (CredentialStatus.SUPERSEDED, CredentialStatus.ACTIVE)

    login(client, session, cast.collectivite)
    assert client.post(f"/acces/{new.id}/tester").status_code == 302
    page = _text(client.get(f"/habilitations/{habilitation.id}/acces"))
    assert "Connexion réussie : scopes accordés RessourceIR, jeton valable 3600 secondes." in page


def test_testing_a_credential_the_token_endpoint_refuses_says_so(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    stand_in: StandIn,
) -> None:
    credential = record(habilitation, token_url=f"{stand_in.base_url}/token", api_base_url=stand_in.base_url)
    session.commit()
    login(client, session, cast.editeur)

    client.post(f"/acces/{credential.id}/tester")

    page = _text(client.get(f"/habilitations/{habilitation.id}/acces"))
    assert "Le point de jeton refuse ces identifiants : invalid_client (HTTP 401)" in page
    assert SECRET not in page


# --- who may do what -------------------------------------------------------------------------------------

INSTRUCTEUR_ONLY = {Actor.INSTRUCTEUR: 200, Actor.COLLECTIVITE: 403, Actor.EDITEUR: 403, Actor.RAPPORTEUR: 403}


@pytest.mark.parametrize(
    ("route", "method", "expected"),
    [
        ("record_page", "GET", INSTRUCTEUR_ONLY),
        ("record", "POST", {**INSTRUCTEUR_ONLY, Actor.INSTRUCTEUR: 302}),
        ("generate", "POST", {**INSTRUCTEUR_ONLY, Actor.INSTRUCTEUR: 302}),
        ("rotate", "POST", {**INSTRUCTEUR_ONLY, Actor.INSTRUCTEUR: 302}),
        (
            "test",
            "POST",
            {Actor.INSTRUCTEUR: 302, Actor.COLLECTIVITE: 302, Actor.EDITEUR: 302, Actor.RAPPORTEUR: 403},
        ),
    ],
)
def test_permission_matrix(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    provisioning_configured: StandIn,
    route: str,
    method: str,
    expected: dict[Actor, int],
) -> None:
    from tracker.vault import lifecycle

    credential = lifecycle.issue_from_api_manager(session, habilitation, principal=cast.principal(Actor.INSTRUCTEUR))
    session.commit()
    urls = {
        "record_page": f"/habilitations/{habilitation.id}/acces/enregistrer",
        "record": f"/habilitations/{habilitation.id}/acces/enregistrer",
        "generate": f"/habilitations/{habilitation.id}/acces/generer",
        "rotate": f"/acces/{credential.id}/renouveler",
        "test": f"/acces/{credential.id}/tester",
    }
    stranger = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE))
    session.commit()
    for actor, status in expected.items():
        login(client, session, cast.user(actor))
        data = _form(client_id=f"client-{actor.value}") if route == "record" else {}
        response = client.open(urls[route], method=method, data=data)
        assert response.status_code == status, (actor, response.status_code)
        if status == 403:
            assert SECRET not in response.get_data(as_text=True)
    login(client, session, stranger)
    assert client.open(urls[route], method=method).status_code == 404
    client.post("/deconnexion")
    anonymous = client.open(urls[route], method=method)
    assert anonymous.status_code in (302, 401)


def test_missing_credentials_and_habilitations_answer_404(client: FlaskClient, session: Session, cast: Cast) -> None:
    login(client, session, cast.instructeur)
    assert client.get("/habilitations/999999/acces/enregistrer").status_code == 404
    assert client.post("/habilitations/999999/acces/generer").status_code == 404
    assert client.post("/acces/999999/renouveler").status_code == 404
    assert client.post("/acces/999999/tester").status_code == 404


def test_every_issuing_route_answers_503_while_sealed(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    set_vault: SetVault,
) -> None:
    credential = record(habilitation)
    session.commit()
    set_vault({"VAULT_KEYS": None})
    login(client, session, cast.instructeur)

    for method, url in [
        ("GET", f"/habilitations/{habilitation.id}/acces/enregistrer"),
        ("POST", f"/habilitations/{habilitation.id}/acces/enregistrer"),
        ("POST", f"/habilitations/{habilitation.id}/acces/generer"),
        ("POST", f"/acces/{credential.id}/renouveler"),
        ("POST", f"/acces/{credential.id}/tester"),
    ]:
        response = client.open(url, method=method, data=_form() if method == "POST" else None)
        assert response.status_code == 503, url
        assert "Le coffre des accès à l'API est scellé" in _text(response)
    assert len(_credentials(session)) == 1
