"""The credentials' life over real HTTP on loopback to the local DGFiP stand-in: what is asked of the API
manager, provisioning, renewing a secret with an overlap, revocation with the habilitation (SECURITY §F 35),
expiry and its reminders through ``tracker remind``, and « Tester la connexion »."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from flask import Flask
from habilitations.builders import Cast, Situation, build
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from tracker.audit.models import AuditEntry
from tracker.habilitations import expiry
from tracker.habilitations import services as habilitation_services
from tracker.habilitations.models import Habilitation, HabilitationState
from tracker.habilitations.workflow import Actor, ActorNotAllowed, Event, GuardFailed, Stage
from tracker.notify.models import OutboxMessage
from tracker.vault import lifecycle, provisioning
from tracker.vault.crypto import FieldContext, decrypt
from tracker.vault.models import ApiCredential, CredentialStatus
from tracker.vault.provisioning import ProvisioningError
from tracker.vault.state import current_key_ring

from .conftest import SECRET, RecordCredentials, StandIn, token_status


def _secret(credential: ApiCredential) -> str:
    return decrypt(
        current_key_ring(),
        credential.client_secret_encrypted,
        FieldContext("api_credentials", credential.id, "client_secret"),
    )


def _actions(session: Session, credential: ApiCredential) -> list[str]:
    return list(
        session.execute(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "api_credential", AuditEntry.object_id == str(credential.id))
            .order_by(AuditEntry.seq)
        ).scalars()
    )


def _free_port() -> int:
    """A loopback port nobody listens on (bound then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def provisioned(
    session: Session, cast: Cast, habilitation: Habilitation, provisioning_configured: StandIn
) -> ApiCredential:
    credential = lifecycle.issue_from_api_manager(session, habilitation, principal=cast.principal(Actor.INSTRUCTEUR))
    session.commit()
    return credential


# --- what is asked ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("datapass_scopes", "resources"),
    [
        (["dgfip_annee_n_moins_1", "dgfip_rfr"], ["RessourceIR"]),
        (["dgfip_annee_n_moins_2", "dgfip_annee_n_moins_3"], ["RessourceIR"]),
        (["dgfip_annee_df_au_3112_si_deces_ctb_mp"], ["RessourceIR"]),
        (["dgfip_annee_n_moins_2_si_indispo_n_moins_1", "dgfip_rfr"], ["RessourceIRDerniere2"]),
        (
            ["dgfip_annee_n_moins_1", "dgfip_annee_n_moins_2_si_indispo_n_moins_1"],
            ["RessourceIR", "RessourceIRDerniere2"],
        ),
        (["dgfip_annee_n_moins_1", "dgfip_indiIFI"], ["RessourceIR", "RessourceIFI"]),
        (["dgfip_indiIFI"], ["RessourceIFI"]),
        (["dgfip_rfr", "dgfip_nbpart"], []),
    ],
)
def test_the_oauth_resources_follow_the_granted_years_and_ifi(datapass_scopes: list[str], resources: list[str]) -> None:
    assert provisioning.oauth_resources_for(datapass_scopes) == resources


def test_the_order_of_a_sandbox_and_of_a_production_habilitation(
    session: Session, cast: Cast, habilitation: Habilitation
) -> None:
    sandbox = provisioning.order_for(habilitation, sandbox_quota=42)
    assert sandbox.datapass_scopes == ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart"]
    assert sandbox.oauth_scopes == ["RessourceIR"]
    assert sandbox.quota_per_minute == 42
    assert sandbox.expires_on is None

    production = build(session, cast, Situation.VALIDATED_PRODUCTION).habilitations[-1]
    assert production.stage is Stage.PRODUCTION
    order = provisioning.order_for(production, sandbox_quota=42)
    volumetrie = production.snapshot["sections"]["production/volumetrie"]["data"]["volumetrie_appels_par_minute"]
    assert order.quota_per_minute == int(volumetrie)
    assert order.expires_on == production.expires_on is not None
    assert order.datapass_scopes == sandbox.datapass_scopes


# --- provisioning ----------------------------------------------------------------------------------------


def test_provisioned_credentials_are_recorded_and_get_a_token_from_the_stand_in(
    session: Session, cast: Cast, habilitation: Habilitation, provisioned: ApiCredential, stand_in: StandIn
) -> None:
    stored = session.get(ApiCredential, provisioned.id, populate_existing=True)
    assert stored is not None and stored.status is CredentialStatus.ACTIVE
    assert stored.token_url == f"{stand_in.base_url}/token"
    assert stored.api_base_url == f"{stand_in.base_url}/impotparticulier/1.0"
    assert stored.oauth_scopes == ["RessourceIR"]
    assert sorted(stored.granted_scopes) == sorted(["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart"])
    assert stored.quota_per_minute == 50
    assert _actions(session, stored) == ["vault.credentials_recorded", "vault.credentials_provisioned"]

    status, body = token_status(stored.token_url, stored.client_id, _secret(stored))
    assert status == 200 and body["scope"] == "RessourceIR"


def test_a_new_credential_supersedes_the_active_one(
    session: Session, cast: Cast, habilitation: Habilitation, provisioned: ApiCredential
) -> None:
    newer = lifecycle.issue_from_api_manager(session, habilitation, principal=cast.principal(Actor.INSTRUCTEUR))
    session.commit()

    assert provisioned.status is CredentialStatus.SUPERSEDED and provisioned.valid_until is None
    assert newer.status is CredentialStatus.ACTIVE
    assert lifecycle.active_credentials(session, habilitation.id) == [newer]


def test_only_an_instructeur_generates_credentials(
    session: Session, cast: Cast, habilitation: Habilitation, provisioning_configured: StandIn
) -> None:
    with pytest.raises(ActorNotAllowed):
        lifecycle.issue_from_api_manager(session, habilitation, principal=cast.principal(Actor.COLLECTIVITE))
    assert session.execute(select(ApiCredential)).first() is None


def test_generating_needs_a_configured_api_manager(session: Session, cast: Cast, habilitation: Habilitation) -> None:
    with pytest.raises(provisioning.ProvisioningNotConfigured, match="TRACKER_VAULT_PROVISIONING_URL"):
        lifecycle.issue_from_api_manager(session, habilitation, principal=cast.principal(Actor.INSTRUCTEUR))


@pytest.fixture
def broken_api_manager() -> Iterator[tuple[str, dict[str, object]]]:
    """An API manager on loopback that answers whatever status and body the test sets."""
    import threading

    answer: dict[str, object] = {"status": 500, "body": "Internal Server Error"}
    broken = Flask("broken_api_manager")

    @broken.route("/<path:_path>", methods=["GET", "POST", "DELETE"])
    def anything(_path: str) -> tuple[object, int]:
        return answer["body"], int(answer["status"])  # type: ignore[call-overload]

    server = make_server("127.0.0.1", 0, broken, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", answer
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_provisioning_errors_are_clear_and_french(
    habilitation: Habilitation, stand_in: StandIn, broken_api_manager: tuple[str, dict[str, object]]
) -> None:
    order = provisioning.order_for(habilitation, sandbox_quota=50)

    with pytest.raises(ProvisioningError, match="vérifiez le jeton de provisionnement") as refused:
        provisioning.ProvisioningClient(stand_in.base_url, "mauvais-jeton").create_client(order)
    assert refused.value.status == 401 and "mauvais-jeton" not in refused.value.message

    with pytest.raises(ProvisioningError, match="injoignable"):
        provisioning.ProvisioningClient(f"http://127.0.0.1:{_free_port()}", "jeton", timeout=2).create_client(order)

    with pytest.raises(ProvisioningError, match=r"https://"):
        provisioning.ProvisioningClient("http://apim.exemple.fr", "jeton").create_client(order)

    url, answer = broken_api_manager
    with pytest.raises(ProvisioningError, match=r"en erreur \(HTTP 500\)"):
        provisioning.ProvisioningClient(url, "jeton").create_client(order)
    answer.update(status=201, body="<html>pas du JSON</html>")
    with pytest.raises(ProvisioningError, match="illisible"):
        provisioning.ProvisioningClient(url, "jeton").create_client(order)
    answer.update(status=400, body={"error": "invalid_scope", "error_description": "Scopes OAuth inconnus : X."})
    with pytest.raises(ProvisioningError, match="refuse de créer les accès \\(HTTP 400\\) : Scopes OAuth inconnus"):
        provisioning.ProvisioningClient(url, "jeton").create_client(order)


# --- rotation --------------------------------------------------------------------------------------------


def test_rotation_keeps_the_old_secret_working_during_the_overlap_only(
    session: Session, cast: Cast, habilitation: Habilitation, provisioned: ApiCredential, stand_in: StandIn
) -> None:
    old_secret = _secret(provisioned)
    before = provisioned.created_at

    renewed = lifecycle.rotate(
        session, provisioned, principal=cast.principal(Actor.INSTRUCTEUR), overlap=timedelta(hours=2)
    )
    session.commit()

    assert renewed.status is CredentialStatus.ACTIVE and renewed.client_id == provisioned.client_id
    assert provisioned.status is CredentialStatus.SUPERSEDED
    assert provisioned.valid_until is not None
    # The API manager says until when, to the second.
    assert timedelta(hours=2, seconds=-1) <= provisioned.valid_until - before < timedelta(hours=2, minutes=5)
    new_secret = _secret(renewed)
    assert new_secret != old_secret
    assert "vault.secret_rotated" in _actions(session, renewed)

    assert token_status(renewed.token_url, renewed.client_id, old_secret)[0] == 200
    assert token_status(renewed.token_url, renewed.client_id, new_secret)[0] == 200
    stand_in.clock.advance(hours=2, seconds=1)
    status, body = token_status(renewed.token_url, renewed.client_id, old_secret)
    assert (status, body["error"]) == (401, "invalid_client")
    assert token_status(renewed.token_url, renewed.client_id, new_secret)[0] == 200


def test_the_overlap_comes_from_the_setting(
    app: Flask, session: Session, cast: Cast, provisioned: ApiCredential, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "VAULT_ROTATION_OVERLAP_HOURS", 24)
    lifecycle.rotate(session, provisioned, principal=cast.principal(Actor.INSTRUCTEUR))
    assert provisioned.valid_until is not None
    assert (
        timedelta(hours=23, minutes=59)
        < provisioned.valid_until - provisioned.created_at
        < timedelta(hours=24, minutes=5)
    )


def test_only_an_active_credential_is_renewed_and_only_by_an_instructeur(
    session: Session, cast: Cast, provisioned: ApiCredential
) -> None:
    with pytest.raises(ActorNotAllowed):
        lifecycle.rotate(session, provisioned, principal=cast.principal(Actor.EDITEUR))
    lifecycle.rotate(session, provisioned, principal=cast.principal(Actor.INSTRUCTEUR))
    with pytest.raises(GuardFailed, match="remplacé"):
        lifecycle.rotate(session, provisioned, principal=cast.principal(Actor.INSTRUCTEUR))


# --- revocation (SECURITY §F 35) -------------------------------------------------------------------------


def test_revoking_the_habilitation_revokes_its_credentials_and_the_client_at_the_api_manager(
    session: Session, cast: Cast, habilitation: Habilitation, provisioned: ApiCredential
) -> None:
    secret = _secret(provisioned)
    renewed = lifecycle.rotate(session, provisioned, principal=cast.principal(Actor.INSTRUCTEUR))
    session.commit()
    renewed_secret = _secret(renewed)
    assert token_status(provisioned.token_url, provisioned.client_id, secret)[0] == 200

    habilitation_services.apply_event(
        session,
        habilitation.request,
        Event.REVOKE,
        principal=cast.principal(Actor.INSTRUCTEUR),
        reason="Manquement aux conditions générales d'utilisation.",
    )
    session.commit()

    assert habilitation.state is HabilitationState.REVOKED
    for credential in (provisioned, renewed):
        assert credential.status is CredentialStatus.REVOKED
        assert credential.revocation_reason == (
            "Habilitation révoquée : Manquement aux conditions générales d'utilisation."
        )
    for candidate in (secret, renewed_secret):
        status, body = token_status(provisioned.token_url, provisioned.client_id, candidate)
        assert (status, body["error"]) == (401, "invalid_client")
    assert _actions(session, provisioned)[-2:] == ["vault.credentials_revoked", "vault.remote_revocation_done"]


def test_a_failed_remote_revocation_still_revokes_locally_and_is_retried_by_remind(
    app: Flask,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    provisioned: ApiCredential,
    stand_in: StandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = _secret(provisioned)
    monkeypatch.setitem(app.config, "VAULT_PROVISIONING_URL", f"http://127.0.0.1:{_free_port()}")

    habilitation_services.apply_event(
        session, habilitation.request, Event.REVOKE, principal=cast.principal(Actor.INSTRUCTEUR), reason="Fraude."
    )
    session.commit()

    assert provisioned.status is CredentialStatus.REVOKED
    assert _actions(session, provisioned)[-1] == "vault.remote_revocation_failed"
    assert token_status(provisioned.token_url, provisioned.client_id, secret)[0] == 200, "still open over there"

    monkeypatch.setitem(app.config, "VAULT_PROVISIONING_URL", stand_in.base_url)
    report = expiry.run(session, date.today())
    session.commit()

    assert report.credentials is not None and report.credentials.remote_revocations_retried == 1
    assert token_status(provisioned.token_url, provisioned.client_id, secret)[0] == 401
    assert expiry.run(session, date.today()).credentials.remote_revocations_retried == 0  # type: ignore[union-attr]


def test_an_expired_habilitation_revokes_its_credentials_in_the_same_run(
    session: Session, cast: Cast, record: RecordCredentials
) -> None:
    production = build(session, cast, Situation.VALIDATED_PRODUCTION).habilitations[-1]
    credential = record(production, expires_on=None)
    session.commit()
    assert production.expires_on is not None

    report = expiry.run(session, production.expires_on + timedelta(days=1))
    session.commit()

    assert report.expired == [production.number]
    assert credential.status is CredentialStatus.REVOKED
    assert credential.revocation_reason is not None and credential.revocation_reason.startswith("Habilitation expirée")


# --- credential expiry and reminders ---------------------------------------------------------------------


def test_remind_expires_credentials_past_their_date_and_reminds_30_and_7_days_before_once_each(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials
) -> None:
    ends = date.today() + timedelta(days=60)
    credential = record(habilitation, expires_on=ends)
    session.commit()

    def reminders() -> list[OutboxMessage]:
        return list(
            session.execute(
                select(OutboxMessage).where(OutboxMessage.template == "credentials_expiry").order_by(OutboxMessage.id)
            ).scalars()
        )

    assert expiry.run(session, ends - timedelta(days=31)).credentials.reminders == 0  # type: ignore[union-attr]
    for days_left in (30, 7):
        day = ends - timedelta(days=days_left)
        assert expiry.run(session, day).credentials.reminders == 2, days_left  # type: ignore[union-attr]
        session.commit()
        assert expiry.run(session, day).credentials.reminders == 0  # type: ignore[union-attr]
        session.commit()
    messages = reminders()
    assert sorted({message.recipient for message in messages}) == sorted([cast.collectivite.email, cast.editeur.email])
    assert len(messages) == 4
    assert f"{ends:%d/%m/%Y}" in messages[-1].subject and "dans 7 jours" in messages[-1].subject
    assert credential.client_id in messages[-1].body_text
    assert SECRET not in messages[-1].body_text and SECRET not in (messages[-1].body_html or "")
    assert messages[0].details.get("notification") == "expiry_reminder"

    assert expiry.run(session, ends).credentials.expired == []  # type: ignore[union-attr]
    report = expiry.run(session, ends + timedelta(days=1))
    session.commit()
    assert report.credentials is not None and report.credentials.expired == [credential.id]
    assert credential.status is CredentialStatus.EXPIRED
    assert _actions(session, credential)[-1] == "vault.credentials_expired"
    assert len(reminders()) == 4


# --- « Tester la connexion » -----------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [Actor.INSTRUCTEUR, Actor.COLLECTIVITE, Actor.EDITEUR])
def test_testing_the_connection_reports_the_scopes_and_the_lifetime(
    session: Session, cast: Cast, provisioned: ApiCredential, actor: Actor
) -> None:
    report = lifecycle.check_connection(session, provisioned, principal=cast.principal(actor))

    assert report.is_ok and report.status == 200
    assert report.scopes == ("RessourceIR",) and report.expires_in == 3600
    assert report.message == "Connexion réussie : scopes accordés RessourceIR, jeton valable 3600 secondes."
    [entry] = session.execute(select(AuditEntry).where(AuditEntry.action == "vault.connection_tested")).scalars()
    assert entry.actor_id == cast.user(actor).id
    assert entry.details["ok"] is True
    assert _secret(provisioned) not in str(entry.details)


def test_testing_the_connection_reports_invalid_client_and_network_errors(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials, stand_in: StandIn
) -> None:
    unknown = record(habilitation, token_url=f"{stand_in.base_url}/token", api_base_url=stand_in.base_url)
    report = lifecycle.check_connection(session, unknown, principal=cast.principal(Actor.INSTRUCTEUR))
    assert not report.is_ok and (report.status, report.error) == (401, "invalid_client")
    assert report.message.startswith("Le point de jeton refuse ces identifiants : invalid_client (HTTP 401)")
    assert SECRET not in report.message

    unreachable = record(habilitation, token_url=f"http://127.0.0.1:{_free_port()}/token")
    report = lifecycle.check_connection(session, unreachable, principal=cast.principal(Actor.INSTRUCTEUR))
    assert not report.is_ok and report.status is None
    assert report.message == "Connexion impossible : le point de jeton est injoignable (connexion refusée)."


@pytest.mark.parametrize("actor", [Actor.HEBERGEUR, Actor.RAPPORTEUR])
def test_others_do_not_test_the_connection(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials, actor: Actor
) -> None:
    credential = record(habilitation)
    with pytest.raises(ActorNotAllowed):
        lifecycle.check_connection(session, credential, principal=cast.principal(actor))


def test_no_secret_reaches_the_logs_or_the_audit_log_across_the_lifecycle(
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    provisioning_configured: StandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SECURITY §F 28 for these flows: provisioning, renewal, a connection test and revocation, with every
    logger at DEBUG (the stand-in's included)."""
    caplog.set_level("DEBUG")
    instructeur = cast.principal(Actor.INSTRUCTEUR)
    first = lifecycle.issue_from_api_manager(session, habilitation, principal=instructeur)
    second = lifecycle.rotate(session, first, principal=instructeur, overlap=timedelta(minutes=5))
    lifecycle.check_connection(session, second, principal=cast.principal(Actor.COLLECTIVITE))
    habilitation_services.apply_event(
        session, habilitation.request, Event.REVOKE, principal=instructeur, reason="Fin du service."
    )
    session.commit()

    secrets = [_secret(first), _secret(second)]
    details = " ".join(str(entry.details) for entry in session.execute(select(AuditEntry)).scalars())
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in details
    assert "jeton-de-provisionnement" not in caplog.text
