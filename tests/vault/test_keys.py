"""The master keys (SECURITY §F 31 at the configuration level): a valid ring or a sealed vault whose
reason is said in French and never shows a key; no key is generated outside development."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from tracker.config import load_config
from tracker.vault.keys import KEY_BYTES, VaultSealed, generate_key_line, load_key_ring, parse_key_ring
from tracker.vault.state import VaultState

from .conftest import NEW_KEY, OLD_KEY

NEW_KEY_MATERIAL = NEW_KEY.split(":", 1)[1]


def test_the_first_key_encrypts_and_every_key_is_known() -> None:
    ring = parse_key_ring(f" {NEW_KEY} , {OLD_KEY} ")

    assert ring.current.key_id == "k2026"
    assert ring.key_ids == ("k2026", "k2025")
    assert ring.get("k2025") is not None
    assert ring.get("k2024") is None
    assert len(ring.current.secret) == KEY_BYTES
    assert NEW_KEY_MATERIAL not in repr(ring)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "aucune clé maîtresse"),
        ("", "aucune clé maîtresse"),
        ("   ", "aucune clé maîtresse"),
        (NEW_KEY_MATERIAL, "« identifiant:clé »"),
        (f"k 2026:{NEW_KEY_MATERIAL}", "« identifiant:clé »"),
        ("k2026:trop-court", "n'est pas une clé de 256 bits"),
        (f"k2026:{NEW_KEY_MATERIAL}AAAA", "n'est pas une clé de 256 bits"),
        (f"k2026:{NEW_KEY_MATERIAL}!", "n'est pas une clé de 256 bits"),
        (f"{NEW_KEY},k2026:{OLD_KEY.split(':', 1)[1]}", "apparaît deux fois"),
        (f"{NEW_KEY},autre:{NEW_KEY_MATERIAL}", "répète une autre clé"),
        (f"{NEW_KEY},", "« identifiant:clé »"),
    ],
)
def test_a_missing_or_malformed_value_seals_the_vault_without_showing_the_key(value: str | None, reason: str) -> None:
    with pytest.raises(VaultSealed) as caught:
        parse_key_ring(value)

    assert reason in caught.value.message
    assert caught.value.message.startswith("Coffre scellé")
    assert NEW_KEY_MATERIAL not in caught.value.message
    assert NEW_KEY_MATERIAL[:12] not in caught.value.message


def test_a_generated_key_line_is_a_valid_ring() -> None:
    line = generate_key_line("k2030")

    ring = parse_key_ring(line)
    assert ring.current.key_id == "k2030"
    assert generate_key_line("k2030") != line


def test_development_creates_its_key_once_in_a_private_file_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "vault" / "master.key"
    config = {"ENV_NAME": "development", "VAULT_KEYS": None, "VAULT_DEVELOPMENT_KEY_FILE": str(key_file)}

    with caplog.at_level(logging.WARNING, logger="tracker.vault"):
        first = load_key_ring(config)
    second = load_key_ring(config)

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.current.secret == second.current.secret
    assert [record for record in caplog.records if "development master key" in record.getMessage()]
    assert first.current.secret.hex() not in caplog.text


def test_production_never_generates_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("VAULT_KEYS", "DOSSIER_SIGNING_KEY", "DOSSIER_SIGNING_CERT"):
        monkeypatch.delenv(f"TRACKER_{name}", raising=False)
    monkeypatch.setenv("TRACKER_ENV", "production")
    monkeypatch.setenv("TRACKER_SECRET_KEY", "x" * 48)
    config = load_config()
    assert config["VAULT_DEVELOPMENT_KEY_FILE"] is None

    # Even a key file path slipped into a production configuration is never written.
    key_file = tmp_path / "master.key"
    state = VaultState.from_config({**config, "VAULT_DEVELOPMENT_KEY_FILE": str(key_file)})

    assert state.is_sealed
    assert "aucune clé maîtresse" in (state.sealed_reason or "")
    assert not key_file.exists()


def test_development_with_a_configured_key_never_writes_the_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"

    config = {"ENV_NAME": "development", "VAULT_KEYS": NEW_KEY, "VAULT_DEVELOPMENT_KEY_FILE": str(key_file)}

    ring = load_key_ring(config)

    assert ring.current.key_id == "k2026"
    assert not key_file.exists()


def test_a_malformed_configured_key_seals_even_in_development(tmp_path: Path) -> None:
    key_file = tmp_path / "master.key"

    state = VaultState.from_config(
        {"ENV_NAME": "development", "VAULT_KEYS": "k2026:pas-une-cle", "VAULT_DEVELOPMENT_KEY_FILE": str(key_file)}
    )

    assert state.is_sealed
    assert not key_file.exists()
