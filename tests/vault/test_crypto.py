"""The envelope format on its own (SECURITY §F 29 and 30 at the cryptographic level): an envelope opens
at its own row and field under a key of the ring, and nowhere else; any altered bit or any truncation is
an integrity error, never a wrong plaintext."""

from __future__ import annotations

import pytest

from tracker.vault import crypto
from tracker.vault.crypto import FieldContext, VaultIntegrityError
from tracker.vault.keys import parse_key_ring

from .conftest import NEW_KEY, OLD_KEY, SECRET

RING = parse_key_ring(f"{NEW_KEY},{OLD_KEY}")
HERE = FieldContext("api_credentials", 7, "client_secret")


def test_an_envelope_opens_at_its_place_with_the_exact_plaintext() -> None:
    envelope = crypto.encrypt(RING, SECRET, HERE)

    assert crypto.decrypt(RING, envelope, HERE) == SECRET
    assert envelope.startswith("v1.k2026.")
    assert crypto.envelope_key_id(envelope) == "k2026"
    assert SECRET not in envelope


def test_two_encryptions_of_the_same_secret_differ() -> None:
    """A fresh random nonce each time: equal secrets are not visible as equal ciphertexts."""
    assert crypto.encrypt(RING, SECRET, HERE) != crypto.encrypt(RING, SECRET, HERE)


def test_an_older_key_of_the_ring_still_decrypts() -> None:
    envelope = crypto.encrypt(parse_key_ring(OLD_KEY), SECRET, HERE)

    assert crypto.decrypt(RING, envelope, HERE) == SECRET


@pytest.mark.parametrize(
    "elsewhere",
    [
        FieldContext("api_credentials", 8, "client_secret"),
        FieldContext("api_credentials", 7, "private_key"),
        FieldContext("connector_tokens", 7, "client_secret"),
    ],
    ids=["another row", "another field", "another table"],
)
def test_an_envelope_moved_elsewhere_does_not_open(elsewhere: FieldContext) -> None:
    envelope = crypto.encrypt(RING, SECRET, HERE)

    with pytest.raises(VaultIntegrityError) as caught:
        crypto.decrypt(RING, envelope, elsewhere)
    assert SECRET not in str(caught.value)


def test_an_envelope_relabelled_with_another_key_id_does_not_open() -> None:
    envelope = crypto.encrypt(RING, SECRET, HERE)
    relabelled = envelope.replace("v1.k2026.", "v1.k2025.", 1)

    with pytest.raises(VaultIntegrityError):
        crypto.decrypt(RING, relabelled, HERE)


def test_an_unknown_key_id_is_an_integrity_error() -> None:
    envelope = crypto.encrypt(RING, SECRET, HERE)

    with pytest.raises(VaultIntegrityError, match="clé « k2026 » inconnue"):
        crypto.decrypt(parse_key_ring(OLD_KEY), envelope, HERE)


def _flipped(text: str, position: int, bit: int) -> str:
    return text[:position] + chr(ord(text[position]) ^ (1 << bit)) + text[position + 1 :]


def test_every_flipped_bit_of_the_envelope_fails() -> None:
    envelope = crypto.encrypt(RING, SECRET, HERE)
    survivors = []
    for position in range(len(envelope)):
        for bit in range(8):
            try:
                crypto.decrypt(RING, _flipped(envelope, position, bit), HERE)
            except VaultIntegrityError:
                continue
            survivors.append((position, bit))

    assert survivors == []


def test_every_truncation_of_the_envelope_fails() -> None:
    envelope = crypto.encrypt(RING, SECRET, HERE)
    survivors = []
    for length in range(len(envelope)):
        for truncated in (envelope[:length], envelope[len(envelope) - length :]):
            try:
                crypto.decrypt(RING, truncated, HERE)
            except VaultIntegrityError:
                continue
            survivors.append(truncated)

    assert survivors == []


def test_bytes_appended_to_the_envelope_fail() -> None:
    envelope = crypto.encrypt(RING, SECRET, HERE)

    for suffix in ("A", "AA", "AAAA", "=", "\n"):
        with pytest.raises(VaultIntegrityError):
            crypto.decrypt(RING, envelope + suffix, HERE)
