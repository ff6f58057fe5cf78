"""AES-256-GCM envelopes bound to the row and field they belong to.

An envelope is one ASCII string: ``v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`` (no padding).
The associated data names the format version, the table, the row id, the field and the key id, so a
ciphertext copied to another row or another field, or relabelled with another key id, fails to
authenticate instead of decrypting there. The nonce is 96 random bits, fresh for every encryption.

Every way an envelope can be wrong (flipped bit, truncation, unknown version or key, another row) raises
``VaultIntegrityError``: decryption either returns the exact plaintext that was encrypted or nothing.

Pure: no Flask, no database. Error messages name the place, never a secret or a ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tracker.vault.keys import KEY_ID_PATTERN, KeyRing

FORMAT_VERSION = "v1"
NONCE_BYTES = 12
TAG_BYTES = 16
ASSOCIATED_DATA_LABEL = "habilitations-dgfip/vault"


class VaultIntegrityError(Exception):
    """An envelope that does not authenticate for its place; ``reason`` says how, in French."""

    def __init__(self, context: FieldContext, reason: str) -> None:
        self.context = context
        self.reason = reason
        self.message = (
            f"Le champ « {context.field} » de la ligne {context.row_id} ({context.table}) ne peut pas être "
            f"déchiffré : {reason}."
        )
        super().__init__(self.message)


@dataclass(frozen=True)
class FieldContext:
    """Where an envelope lives: it authenticates there and nowhere else."""

    table: str
    row_id: int
    field: str

    def associated_data(self, key_id: str) -> bytes:
        # JSON of a list: unambiguous whatever characters the parts hold.
        parts = [ASSOCIATED_DATA_LABEL, FORMAT_VERSION, self.table, self.row_id, self.field, key_id]
        return json.dumps(parts, separators=(",", ":")).encode("utf-8")


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes | None:
    """Strict base64url: any other spelling of the same bytes is refused, so no altered text decodes."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if _encode(raw) == text else None


def encrypt(ring: KeyRing, plaintext: str, context: FieldContext) -> str:
    """The envelope of ``plaintext`` under the ring's current key, valid only at ``context``."""
    key = ring.current
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, plaintext.encode("utf-8"), context.associated_data(key.key_id))
    return f"{FORMAT_VERSION}.{key.key_id}.{_encode(nonce + sealed)}"


def envelope_key_id(envelope: str) -> str | None:
    """The key id an envelope names, or None if it is not an envelope of this format."""
    version, _, rest = envelope.partition(".")
    key_id, separator, _ = rest.partition(".")
    if version != FORMAT_VERSION or not separator or not KEY_ID_PATTERN.match(key_id):
        return None
    return key_id


def decrypt(ring: KeyRing, envelope: str, context: FieldContext) -> str:
    """The plaintext, if ``envelope`` was made by ``encrypt`` for ``context`` under a key of ``ring``."""
    parts = envelope.split(".")
    if len(parts) != 3 or parts[0] != FORMAT_VERSION:
        raise VaultIntegrityError(context, "format d'enveloppe inconnu")
    _, key_id, payload = parts
    if not KEY_ID_PATTERN.match(key_id):
        raise VaultIntegrityError(context, "identifiant de clé invalide")
    key = ring.get(key_id)
    if key is None:
        raise VaultIntegrityError(context, f"clé « {key_id} » inconnue")
    raw = _decode(payload)
    if raw is None or len(raw) < NONCE_BYTES + TAG_BYTES:
        raise VaultIntegrityError(context, "enveloppe tronquée ou mal encodée")
    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    try:
        plaintext = AESGCM(key.secret).decrypt(nonce, sealed, context.associated_data(key_id))
    except InvalidTag:
        raise VaultIntegrityError(context, "authentification échouée (donnée altérée ou déplacée)") from None
    try:
        return plaintext.decode("utf-8")
    except UnicodeDecodeError:  # authenticated, so only a bug could get here; still never return garbage
        raise VaultIntegrityError(context, "contenu illisible") from None
