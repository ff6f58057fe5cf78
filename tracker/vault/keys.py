"""The vault's master keys: a key ring read from ``TRACKER_VAULT_KEYS``, or the reason the vault is sealed.

``TRACKER_VAULT_KEYS`` holds one or more 256-bit keys, each under an id: ``k2026b:<base64url>,k2026a:<…>``.
The first key encrypts; every key decrypts, so that rows written before a rotation stay readable until
``tracker vault rotate`` has moved them to the first key. Anything wrong with the value seals the vault: no
fallback key is ever guessed or generated, except in development when no key is configured at all.

Pure apart from the development key file: no Flask, no database. Messages never contain a key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
ENVIRONMENT_VARIABLE = "TRACKER_VAULT_KEYS"


class VaultSealed(RuntimeError):
    """The vault cannot encrypt or decrypt; ``message`` says why in French (and never shows a key)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyRing:
    """The configured keys, newest first: ``current`` encrypts, ``get`` finds the key a row names."""

    keys: tuple[MasterKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise VaultSealed(f"Coffre scellé : aucune clé maîtresse n'est configurée ({ENVIRONMENT_VARIABLE}).")

    @property
    def current(self) -> MasterKey:
        return self.keys[0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key.key_id for key in self.keys)

    def get(self, key_id: str) -> MasterKey | None:
        return next((key for key in self.keys if key.key_id == key_id), None)


def _decode_key(encoded: str) -> bytes | None:
    text = encoded.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == KEY_BYTES else None


def parse_key_ring(value: str | None) -> KeyRing:
    """The key ring ``value`` describes, or ``VaultSealed`` naming the first problem (by position and id)."""
    if value is None or not value.strip():
        raise VaultSealed(f"Coffre scellé : aucune clé maîtresse n'est configurée ({ENVIRONMENT_VARIABLE}).")
    keys: list[MasterKey] = []
    for position, item in enumerate(value.split(","), start=1):
        key_id, separator, encoded = item.strip().partition(":")
        if not separator or not KEY_ID_PATTERN.match(key_id):
            raise VaultSealed(
                f"Coffre scellé : la clé n° {position} de {ENVIRONMENT_VARIABLE} doit s'écrire "
                "« identifiant:clé » (identifiant de 1 à 32 lettres, chiffres, « - » ou « _ »)."
            )
        secret = _decode_key(encoded)
        if secret is None:
            raise VaultSealed(
                f"Coffre scellé : la clé « {key_id} » de {ENVIRONMENT_VARIABLE} n'est pas une clé de 256 bits "
                "encodée en base64url."
            )
        if any(key.key_id == key_id for key in keys):
            raise VaultSealed(f"Coffre scellé : l'identifiant de clé « {key_id} » apparaît deux fois.")
        if any(secrets.compare_digest(key.secret, secret) for key in keys):
            raise VaultSealed(f"Coffre scellé : la clé « {key_id} » répète une autre clé sous un autre identifiant.")
        keys.append(MasterKey(key_id, secret))
    return KeyRing(tuple(keys))


def new_key_id(now: datetime | None = None) -> str:
    """An id that sorts by creation and does not collide within a second: ``k20261130t045512``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"k{moment:%Y%m%dt%H%M%S}"


def generate_key_line(key_id: str | None = None) -> str:
    """A new ``id:key`` item for ``TRACKER_VAULT_KEYS``."""
    key_id = key_id or new_key_id()
    if not KEY_ID_PATTERN.match(key_id):
        raise ValueError("identifiant de clé invalide : 1 à 32 lettres, chiffres, « - » ou « _ »")
    encoded = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii").rstrip("=")
    return f"{key_id}:{encoded}"


def _development_key_ring(path: Path) -> KeyRing:
    """The development key, created once (mode 0600) if the file does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        line = generate_key_line("dev")
        try:
            # O_EXCL: two processes starting together never overwrite each other's key.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w", encoding="ascii") as stream:
                stream.write(line + "\n")
            logger.warning(
                "vault: no %s configured; created a development master key in %s (never used in production)",
                ENVIRONMENT_VARIABLE,
                path,
            )
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise VaultSealed(f"Coffre scellé : le fichier de clé de développement {path} est illisible.") from None
    return parse_key_ring(text.strip())


def load_key_ring(config: dict[str, Any]) -> KeyRing:
    """The configured key ring, or ``VaultSealed``.

    The development key file is used only when the environment is development and no key is configured:
    a production deployment with a missing key stays sealed rather than encrypt under a key nobody chose.
    """
    configured = config.get("VAULT_KEYS")
    if configured is not None and configured.strip():
        return parse_key_ring(configured)
    development_file = config.get("VAULT_DEVELOPMENT_KEY_FILE")
    if development_file and config.get("ENV_NAME") == "development":
        return _development_key_ring(Path(development_file))
    return parse_key_ring(configured)
