"""SECURITY §F 29 and 30 through the services: an envelope copied to another row or field, a flipped bit or
a truncated value in the database → ``VaultIntegrityError``, an alert in the logs and in the audit log,
and never a plaintext."""

from __future__ import annotations

import logging

import pytest
from habilitations.builders import Cast
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tracker.audit.models import AuditEntry
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor
from tracker.vault import services
from tracker.vault.crypto import VaultIntegrityError
from tracker.vault.models import ApiCredential, SecretField

from .conftest import OTHER_SECRET, SECRET, RecordCredentials


def _store(session: Session, credential: ApiCredential, **values: str) -> None:
    """Write the row behind the ORM's back, as someone with database access would."""
    session.execute(update(ApiCredential).where(ApiCredential.id == credential.id).values(**values))
    session.commit()
    session.expire_all()


def _alerts(session: Session, credential: ApiCredential) -> list[AuditEntry]:
    return list(
        session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "vault.integrity_failure", AuditEntry.object_id == str(credential.id)
            )
        ).scalars()
    )


def _reveal_fails(
    session: Session, cast: Cast, credential: ApiCredential, field: SecretField = SecretField.CLIENT_SECRET
) -> VaultIntegrityError:
    with pytest.raises(VaultIntegrityError) as caught:
        services.reveal_secret(session, credential, principal=cast.principal(Actor.COLLECTIVITE), secret_field=field)
    return caught.value


def test_a_ciphertext_copied_to_another_row_does_not_decrypt(
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = record(habilitation)
    second = record(habilitation, client_id="client-cantine-0002", client_secret=OTHER_SECRET)
    session.commit()

    _store(session, second, client_secret_encrypted=first.client_secret_encrypted)
    with caplog.at_level(logging.ERROR, logger="tracker.vault"):
        error = _reveal_fails(session, cast, second)

    assert "authentification échouée" in error.reason
    [alert] = _alerts(session, second)
    assert alert.details == {"field": "client_secret", "key_id": "test2026", "reason": error.reason}
    assert "vault integrity failure: api_credentials row" in caplog.text
    assert SECRET not in caplog.text and OTHER_SECRET not in caplog.text
    # The row the ciphertext came from still opens where it belongs.
    assert services.reveal_secret(session, first, principal=cast.principal(Actor.COLLECTIVITE)) == SECRET


def test_a_ciphertext_copied_to_another_field_does_not_decrypt(
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    certificate_pair: tuple[str, str],
) -> None:
    certificate, private_key = certificate_pair
    credential = record(habilitation, client_certificate_pem=certificate, private_key_pem=private_key)
    session.commit()
    assert (
        services.reveal_secret(
            session, credential, principal=cast.principal(Actor.EDITEUR), secret_field=SecretField.PRIVATE_KEY
        ).strip()
        == private_key.strip()
    )

    _store(session, credential, private_key_encrypted=credential.client_secret_encrypted)

    _reveal_fails(session, cast, credential, SecretField.PRIVATE_KEY)
    assert [alert.details["field"] for alert in _alerts(session, credential)] == ["private_key"]


def _flip_bit(text: str, position: int, bit: int = 0) -> str:
    return text[:position] + chr(ord(text[position]) ^ (1 << bit)) + text[position + 1 :]


@pytest.mark.parametrize(
    "position",
    [0, 3, 9, 20, -20, -1],
    ids=["version", "key id", "nonce", "ciphertext", "inside the tag", "last character"],
)
def test_a_flipped_bit_in_the_stored_envelope_fails_and_alerts(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials, position: int
) -> None:
    credential = record(habilitation)
    session.commit()
    envelope = credential.client_secret_encrypted

    _store(session, credential, client_secret_encrypted=_flip_bit(envelope, position % len(envelope)))

    _reveal_fails(session, cast, credential)
    assert len(_alerts(session, credential)) == 1


@pytest.mark.parametrize("kept", [0, 8, 30, -1], ids=["emptied", "header only", "half", "last character cut"])
def test_a_truncated_envelope_fails_and_alerts(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials, kept: int
) -> None:
    credential = record(habilitation)
    session.commit()

    _store(session, credential, client_secret_encrypted=credential.client_secret_encrypted[:kept])

    error = _reveal_fails(session, cast, credential)
    assert SECRET not in error.message
    assert len(_alerts(session, credential)) == 1


def test_an_envelope_under_another_key_than_its_row_says_fails(
    session: Session, cast: Cast, habilitation: Habilitation, record: RecordCredentials
) -> None:
    credential = record(habilitation)
    session.commit()

    _store(session, credential, key_id="k1999")

    error = _reveal_fails(session, cast, credential)
    assert error.reason == "clé différente de celle de la ligne"
