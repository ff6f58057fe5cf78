"""SECURITY §F 32: ``tracker vault rotate`` moves every row to the newest key, batch by committed batch;
interrupted between two batches or inside one, then run again, it leaves every row on the new key and
every secret readable, with the old key gone from the configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from habilitations.builders import Cast
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tracker.audit.models import AuditEntry
from tracker.cli import main as tracker_cli
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor
from tracker.vault import services
from tracker.vault.keys import parse_key_ring
from tracker.vault.models import ApiCredential, SecretField
from tracker.vault.services import RotationProgress
from tracker.vault.state import VaultState, rows_per_key_id

from .conftest import NEW_KEY, OLD_KEY, RecordCredentials

SetVault = Callable[[dict[str, Any]], VaultState]
ROWS = 5


class Interrupted(Exception):
    """Stands for the operator's Ctrl-C or a killed process."""


@pytest.fixture
def secrets_under_old_key(
    session: Session,
    habilitation: Habilitation,
    record: RecordCredentials,
    set_vault: SetVault,
    certificate_pair: tuple[str, str],
) -> dict[int, dict[SecretField, str]]:
    """Five credentials recorded under the old key (two with a private key), then the new key configured
    in front of it. Returns each row's plaintexts, to check that none is lost."""
    set_vault({"VAULT_KEYS": OLD_KEY})
    certificate, private_key = certificate_pair
    expected: dict[int, dict[SecretField, str]] = {}
    for number in range(ROWS):
        secret = f"secret-numero-{number}-{'x' * number}"
        extra = {"client_certificate_pem": certificate, "private_key_pem": private_key} if number % 2 else {}
        credential = record(habilitation, client_id=f"client-{number}", client_secret=secret, **extra)
        expected[credential.id] = {SecretField.CLIENT_SECRET: secret}
        if extra:
            expected[credential.id][SecretField.PRIVATE_KEY] = private_key.strip() + "\n"
    session.commit()
    set_vault({"VAULT_KEYS": f"{NEW_KEY},{OLD_KEY}"})
    return expected


def _readable_secrets(session: Session, cast: Cast, keys: str) -> dict[int, dict[SecretField, str]]:
    ring = parse_key_ring(keys)
    principal = cast.principal(Actor.COLLECTIVITE)
    credentials = session.execute(select(ApiCredential).order_by(ApiCredential.id)).scalars()
    return {
        credential.id: {
            secret_field: services.reveal_secret(
                session, credential, principal=principal, secret_field=secret_field, keys=ring
            )
            for secret_field in SecretField
            if credential.envelope(secret_field) is not None
        }
        for credential in credentials
    }


def test_an_interrupted_rotation_resumes_and_leaves_every_row_on_the_new_key(
    session: Session, cast: Cast, secrets_under_old_key: dict[int, dict[SecretField, str]]
) -> None:
    def stop_after_first_batch(progress: RotationProgress) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        services.rotate_master_key(session, batch_size=2, on_batch=stop_after_first_batch)
    session.rollback()
    session.expire_all()

    assert rows_per_key_id(session) == {"k2025": 3, "k2026": 2}
    assert _readable_secrets(session, cast, f"{NEW_KEY},{OLD_KEY}") == secrets_under_old_key

    batches: list[tuple[int, int]] = []
    progress = services.rotate_master_key(
        session, batch_size=2, on_batch=lambda p: batches.append((p.reencrypted, p.remaining))
    )

    assert batches == [(2, 1), (3, 0)]
    assert progress.reencrypted == 3 and progress.remaining == 0 and progress.failed_ids == []
    session.expire_all()
    assert rows_per_key_id(session) == {"k2026": ROWS}
    # The old key can now leave the configuration: every secret still opens with the new key alone.
    assert _readable_secrets(session, cast, NEW_KEY) == secrets_under_old_key


def test_a_crash_inside_a_batch_loses_nothing_and_a_rerun_finishes(
    session: Session,
    cast: Cast,
    secrets_under_old_key: dict[int, dict[SecretField, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies halfway through the second batch (after some rows of it were re-encrypted in
    memory): that batch's transaction rolls back whole, the first batch stays committed."""
    real_encrypt = services.crypto.encrypt
    calls = {"count": 0}

    def encrypt_then_crash(*args: Any, **kwargs: Any) -> str:
        calls["count"] += 1
        if calls["count"] == 4:  # batch 1: row 1 (one secret) and row 2 (two); batch 2 dies on its first row
            raise Interrupted
        return real_encrypt(*args, **kwargs)

    monkeypatch.setattr(services.crypto, "encrypt", encrypt_then_crash)
    with pytest.raises(Interrupted):
        services.rotate_master_key(session, batch_size=2)
    session.rollback()
    session.expire_all()
    monkeypatch.setattr(services.crypto, "encrypt", real_encrypt)

    assert rows_per_key_id(session) == {"k2025": 3, "k2026": 2}
    assert _readable_secrets(session, cast, f"{NEW_KEY},{OLD_KEY}") == secrets_under_old_key

    services.rotate_master_key(session, batch_size=2)

    session.expire_all()
    assert rows_per_key_id(session) == {"k2026": ROWS}
    assert _readable_secrets(session, cast, NEW_KEY) == secrets_under_old_key


def test_a_tampered_row_is_reported_and_does_not_stop_the_others(
    session: Session, secrets_under_old_key: dict[int, dict[SecretField, str]]
) -> None:
    tampered_id = sorted(secrets_under_old_key)[1]
    other_id = sorted(secrets_under_old_key)[0]
    other = session.get(ApiCredential, other_id)
    assert other is not None
    session.execute(
        update(ApiCredential)
        .where(ApiCredential.id == tampered_id)
        .values(client_secret_encrypted=other.client_secret_encrypted)
    )
    session.commit()

    progress = services.rotate_master_key(session, batch_size=2)

    assert progress.failed_ids == [tampered_id]
    assert progress.reencrypted == ROWS - 1 and progress.remaining == 1
    session.expire_all()
    assert rows_per_key_id(session) == {"k2025": 1, "k2026": ROWS - 1}
    alerts = session.execute(
        select(AuditEntry.object_id).where(AuditEntry.action == "vault.integrity_failure")
    ).scalars()
    assert list(alerts) == [str(tampered_id)]


def test_the_rotate_and_status_commands(
    app: Flask, session: Session, secrets_under_old_key: dict[int, dict[SecretField, str]]
) -> None:
    runner = app.test_cli_runner()

    before = runner.invoke(tracker_cli, ["vault", "status"])
    assert before.exit_code == 0, before.output
    assert "Coffre ouvert." in before.output
    assert "Clé courante (chiffrement) : k2026" in before.output
    assert "Clés de déchiffrement seulement : k2025" in before.output
    assert "  k2025 : 5" in before.output

    rotated = runner.invoke(tracker_cli, ["vault", "rotate", "--batch-size", "2"])
    assert rotated.exit_code == 0, rotated.output
    assert "Rotation vers la clé « k2026 » par lots de 2." in rotated.output
    assert "Lot 1 : 2 ligne(s) rechiffrée(s) au total, 3 restante(s)." in rotated.output
    assert "Lot 3 : 5 ligne(s) rechiffrée(s) au total, 0 restante(s)." in rotated.output
    assert "Terminé : 5 ligne(s) rechiffrée(s)." in rotated.output

    again = runner.invoke(tracker_cli, ["vault", "rotate"])
    assert "Terminé : 0 ligne(s) rechiffrée(s)." in again.output

    after = runner.invoke(tracker_cli, ["vault", "status"])
    assert "  k2026 : 5" in after.output and "k2025 :" not in after.output


def test_status_and_rotate_say_when_the_vault_is_sealed(app: Flask, session: Session, set_vault: SetVault) -> None:
    set_vault({"VAULT_KEYS": None})
    runner = app.test_cli_runner()

    status = runner.invoke(tracker_cli, ["vault", "status"])
    assert status.exit_code == 1
    assert "Coffre scellé : aucune clé maîtresse" in status.output

    rotate = runner.invoke(tracker_cli, ["vault", "rotate"])
    assert rotate.exit_code == 1
    assert "Coffre scellé" in rotate.output


def test_init_key_prints_a_key_line_the_vault_accepts(app: Flask) -> None:
    result = app.test_cli_runner().invoke(tracker_cli, ["vault", "init-key", "--key-id", "k2030"])

    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert parse_key_ring(line).current.key_id == "k2030"
    assert "TRACKER_VAULT_KEYS" in result.stderr
