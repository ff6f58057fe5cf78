"""The vault's services: who records, reveals, supersedes and revokes, what is refused and why, and
SECURITY §F 34 (a reveal whose audit entry cannot be written returns no secret)."""

from __future__ import annotations

from datetime import date

import pytest
from factories import make_organization, make_user, principal_for
from habilitations.builders import Cast, Situation, build
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind
from tracker.audit.models import AuditEntry
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor, ActorNotAllowed, GuardFailed
from tracker.vault import services
from tracker.vault.crypto import FieldContext, decrypt
from tracker.vault.models import ApiCredential, CredentialStatus
from tracker.vault.state import current_key_ring

from .conftest import CLIENT_ID, SECRET, RecordCredentials


def _actions(session: Session, credential: ApiCredential) -> list[str]:
    return list(
        session.execute(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "api_credential", AuditEntry.object_id == str(credential.id))
            .order_by(AuditEntry.seq)
        ).scalars()
    )


def test_an_instructeur_records_credentials_stored_encrypted_and_bound_to_the_row(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials
) -> None:
    credential = record(habilitation, oauth_scopes=[" RessourceIR ", "RessourceIR", "RessourceIFI"])
    session.commit()

    stored = session.get(ApiCredential, credential.id, populate_existing=True)
    assert stored is not None
    assert stored.status is CredentialStatus.ACTIVE
    assert stored.stage is habilitation.stage
    assert stored.client_id == CLIENT_ID
    assert stored.oauth_scopes == ["RessourceIR", "RessourceIFI"]
    assert stored.granted_scopes == ["dgfip_rfr", "dgfip_nbpart"]
    assert stored.quota_per_minute == 50
    assert stored.expires_on == date(2027, 12, 31)
    assert stored.key_id == "test2026"
    assert stored.created_by_id == cast.instructeur.id
    assert stored.private_key_encrypted is None
    assert SECRET not in stored.client_secret_encrypted
    context = FieldContext("api_credentials", stored.id, "client_secret")
    assert decrypt(current_key_ring(), stored.client_secret_encrypted, context) == SECRET
    assert _actions(session, stored) == ["vault.credentials_recorded"]
    [entry] = session.execute(select(AuditEntry).where(AuditEntry.action == "vault.credentials_recorded")).scalars()
    assert SECRET not in str(entry.details)


@pytest.mark.parametrize("actor", [Actor.COLLECTIVITE, Actor.EDITEUR, Actor.HEBERGEUR, Actor.RAPPORTEUR])
def test_only_an_instructeur_records_credentials(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials, actor: Actor
) -> None:
    with pytest.raises(ActorNotAllowed):
        record(habilitation, principal=cast.principal(actor))
    assert session.execute(select(ApiCredential)).first() is None


def test_no_credentials_for_a_habilitation_that_is_not_active(
    session: Session, cast: Cast, record: RecordCredentials
) -> None:
    revoked = build(session, cast, Situation.REVOKED).habilitations[-1]

    with pytest.raises(GuardFailed, match="n'est pas active"):
        record(revoked)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"client_secret": "   "}, "Indiquez le secret client"),
        ({"client_id": ""}, "Indiquez l'identifiant client"),
        ({"token_url": "http://gateway.exemple.fr/token"}, "https://"),
        ({"api_base_url": "ftp://gateway.exemple.fr"}, "https://"),
        ({"oauth_scopes": ["Ressource IR"]}, "n'est pas un identifiant valide"),
        ({"quota_per_minute": 0}, "quota"),
        ({"id_teleservice": "x" * 65}, "64 caractères au maximum"),
        ({"private_key_pem": "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"}, "clé PEM"),
        ({"client_certificate_pem": "pas un certificat"}, "certificat PEM"),
    ],
)
def test_invalid_credentials_are_refused_in_french(
    session: Session, habilitation: Habilitation, record: RecordCredentials, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(services.InvalidCredentials, match=message) as caught:
        record(habilitation, **overrides)
    assert caught.value.http_status == 422
    assert SECRET not in caught.value.message


def test_a_private_key_needs_its_certificate(
    habilitation: Habilitation, record: RecordCredentials, certificate_pair: tuple[str, str]
) -> None:
    _, private_key = certificate_pair
    with pytest.raises(services.InvalidCredentials, match="avec son certificat"):
        record(habilitation, private_key_pem=private_key)


def test_plain_http_is_accepted_on_the_loopback_for_the_local_stand_in(
    habilitation: Habilitation, record: RecordCredentials
) -> None:
    credential = record(habilitation, token_url="http://127.0.0.1:8765/token", api_base_url="http://localhost:8765")
    assert credential.token_url == "http://127.0.0.1:8765/token"


@pytest.mark.parametrize("actor", [Actor.COLLECTIVITE, Actor.EDITEUR])
def test_the_collectivite_and_its_editeur_reveal_the_secret_and_each_reveal_is_audited(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials, actor: Actor
) -> None:
    credential = record(habilitation)
    session.commit()

    assert services.reveal_secret(session, credential, principal=cast.principal(actor)) == SECRET
    assert services.reveal_secret(session, credential, principal=cast.principal(actor)) == SECRET

    entries = list(session.execute(select(AuditEntry).where(AuditEntry.action == "vault.secret_revealed")).scalars())
    assert len(entries) == 2
    assert {entry.actor_id for entry in entries} == {cast.user(actor).id}
    assert entries[0].details == {"habilitation": habilitation.id, "field": "client_secret"}


@pytest.mark.parametrize("actor", [Actor.INSTRUCTEUR, Actor.RAPPORTEUR, Actor.HEBERGEUR])
def test_others_never_reveal_the_secret(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials, actor: Actor
) -> None:
    credential = record(habilitation)

    with pytest.raises(ActorNotAllowed):
        services.reveal_secret(session, credential, principal=cast.principal(actor))
    assert "vault.secret_revealed" not in _actions(session, credential)


def test_a_collectivite_of_another_request_never_reveals_the_secret(
    session: Session, habilitation: Habilitation, record: RecordCredentials
) -> None:
    credential = record(habilitation)
    stranger = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE))

    with pytest.raises(ActorNotAllowed):
        services.reveal_secret(session, credential, principal=principal_for(stranger))


def test_when_the_audit_write_fails_no_secret_is_returned(
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SECURITY §F 34: the reveal fails closed. The audit log's own write is made to fail, as it would if
    the database refused the insert."""
    credential = record(habilitation)
    session.commit()
    real_record = services.audit.record

    def failing_record(session: Session, action: str, **kwargs: object) -> AuditEntry:
        if action == "vault.secret_revealed":
            raise OperationalError("INSERT INTO audit_entries", {}, Exception("disk full"))
        return real_record(session, action, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services.audit, "record", failing_record)
    outcome: list[str] = []
    with pytest.raises(OperationalError):
        outcome.append(services.reveal_secret(session, credential, principal=cast.principal(Actor.COLLECTIVITE)))

    assert outcome == []


def test_supersede_then_revoke(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials
) -> None:
    instructeur = cast.principal(Actor.INSTRUCTEUR)
    old = record(habilitation)
    new = record(habilitation, client_id="client-cantine-0002")

    services.supersede(session, old, principal=instructeur)
    assert old.status is CredentialStatus.SUPERSEDED and old.superseded_at is not None
    with pytest.raises(GuardFailed):
        services.supersede(session, old, principal=instructeur)
    with pytest.raises(GuardFailed, match="remplacé"):
        services.reveal_secret(session, old, principal=cast.principal(Actor.COLLECTIVITE))

    services.revoke(session, old, principal=instructeur, reason="Fin du chevauchement")
    services.revoke(session, new, principal=None, reason="Habilitation révoquée")
    session.commit()

    assert old.status is CredentialStatus.REVOKED and old.revocation_reason == "Fin du chevauchement"
    assert new.status is CredentialStatus.REVOKED and new.updated_by_id is None
    assert _actions(session, old) == [
        "vault.credentials_recorded",
        "vault.credentials_superseded",
        "vault.credentials_revoked",
    ]
    with pytest.raises(GuardFailed, match="déjà révoqué"):
        services.revoke(session, new, principal=instructeur, reason="Encore")
    with pytest.raises(GuardFailed):
        services.reveal_secret(session, new, principal=cast.principal(Actor.COLLECTIVITE))


def test_only_an_instructeur_supersedes_or_revokes(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials
) -> None:
    credential = record(habilitation)
    collectivite = cast.principal(Actor.COLLECTIVITE)

    with pytest.raises(ActorNotAllowed):
        services.supersede(session, credential, principal=collectivite)
    with pytest.raises(ActorNotAllowed):
        services.revoke(session, credential, principal=collectivite, reason="Non")
    assert credential.status is CredentialStatus.ACTIVE
