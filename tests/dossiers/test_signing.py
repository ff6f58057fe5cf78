"""Signing dossiers and verifying them: real PDFs from WeasyPrint, real keys, real pyHanko signatures.

Every way a file can fail verification is produced for real (a byte changed in the content or in the
signature, an annotation added by another tool, another key, a truncated download…) and must end in its
own French message, never in an exception.
"""

from __future__ import annotations

import io
import json
import os
import random
import stat
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import weasyprint
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pypdf import PdfWriter
from pypdf.annotations import FreeText

from tracker.config import SIGNING_CERT_FILE_NAME, SIGNING_KEY_FILE_NAME, load_config
from tracker.dossiers.cli import SNAPSHOTS_MODULE, dossier_group
from tracker.dossiers.signing import (
    DEVELOPMENT_COMMON_NAME,
    MAX_VERIFIED_PDF_BYTES,
    SIGNATURE_FIELD_NAME,
    DossierMetadata,
    SigningKey,
    SigningKeyExists,
    SigningNotConfigured,
    VerificationStatus,
    configured_signing_key,
    configured_trusted_certificates,
    generate_signing_key,
    load_signing_key,
    sign_pdf,
    verify_pdf,
)

SIGNED_AT = datetime(2026, 3, 2, 9, 31, 5, tzinfo=UTC)
DOSSIER = {
    "format_version": 1,
    "kind": "approval",
    "generated_at": "2026-03-02T09:30:00+00:00",
    "request_id": 42,
    "request_number": "D42",
    "request_version": 7,
    "content_sha256": "5" * 64,
}
MODIFIED = "Le fichier a été modifié après sa signature"
PLATFORM_NAME = "Habilitations DGFiP – signature des dossiers (tests)"


# --- helpers ----------------------------------------------------------------------------------------------


def render_pdf(attachment: bytes | None = None) -> bytes:
    """A real one-page PDF from WeasyPrint, carrying ``attachment`` as dossier.json when given."""
    html = weasyprint.HTML(string="<h1>Dossier D42</h1><p>Cadre juridique : délibération du 12 janvier.</p>")
    attachments = [] if attachment is None else [weasyprint.Attachment(string=attachment, name="dossier.json")]
    return html.write_pdf(attachments=attachments)


def dossier_json(**changes: object) -> bytes:
    return json.dumps({"dossier": {**DOSSIER, **changes}, "request": {"sections": {}}}).encode()


def self_signed_key(common_name: str, *, not_before: datetime | None = None, days: int = 365) -> SigningKey:
    """A key pair unrelated to the platform's (another signer, or an old certificate with set dates)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .sign(private_key, hashes.SHA256())
    )
    return SigningKey(private_key=private_key, certificate=certificate)


def flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    changed = bytearray(data)
    changed[position] ^= mask
    return bytes(changed)


def signed_byte_range(pdf: bytes) -> list[int]:
    return [int(value) for value in PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures[0].byte_range]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The platform's pair for these tests, as PEM files; valid from 2026 so that SIGNED_AT can be fixed."""
    platform = self_signed_key(PLATFORM_NAME, not_before=datetime(2026, 1, 1, tzinfo=UTC), days=3650)
    directory = tmp_path_factory.mktemp("signing")
    key_path, cert_path = directory / SIGNING_KEY_FILE_NAME, directory / SIGNING_CERT_FILE_NAME
    key_path.write_bytes(
        platform.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(platform.certificate.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture(scope="module")
def key(pair: tuple[Path, Path]) -> SigningKey:
    return load_signing_key(*pair)


@pytest.fixture(scope="module")
def unsigned() -> bytes:
    return render_pdf(dossier_json())


@pytest.fixture(scope="module")
def signed(unsigned: bytes, key: SigningKey) -> bytes:
    return sign_pdf(unsigned, key, reason="Dossier D42, version 7", signed_at=SIGNED_AT)


# --- the key pair -------------------------------------------------------------------------------------------


def test_generated_pair_is_an_ec_p256_key_and_a_three_year_self_signed_certificate(tmp_path: Path) -> None:
    key_path, cert_path = generate_signing_key(tmp_path / "signing")

    assert (key_path.name, cert_path.name) == (SIGNING_KEY_FILE_NAME, SIGNING_CERT_FILE_NAME)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    loaded = load_signing_key(key_path, cert_path)
    assert isinstance(loaded.private_key, ec.EllipticCurvePrivateKey)
    assert loaded.private_key.curve.name == "secp256r1"
    certificate = loaded.certificate
    assert certificate.subject == certificate.issuer
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEVELOPMENT_COMMON_NAME
    assert certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "DGFiP"
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert timedelta(days=3 * 365) <= lifetime <= timedelta(days=3 * 366)
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert not usage.key_cert_sign
    assert loaded.subject == DEVELOPMENT_COMMON_NAME
    assert "private_key" not in repr(loaded)


def test_an_existing_pair_is_not_overwritten_unless_forced(tmp_path: Path) -> None:
    key_path, cert_path = generate_signing_key(tmp_path)
    original = key_path.read_bytes(), cert_path.read_bytes()

    with pytest.raises(SigningKeyExists, match="existe déjà"):
        generate_signing_key(tmp_path)
    assert (key_path.read_bytes(), cert_path.read_bytes()) == original

    generate_signing_key(tmp_path, force=True)
    assert key_path.read_bytes() != original[0]
    assert cert_path.read_bytes() != original[1]
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    load_signing_key(key_path, cert_path)  # a matching pair again
    assert sorted(path.name for path in tmp_path.iterdir()) == [SIGNING_CERT_FILE_NAME, SIGNING_KEY_FILE_NAME]


def test_a_lone_certificate_also_blocks_generation(tmp_path: Path) -> None:
    (tmp_path / SIGNING_CERT_FILE_NAME).write_text("someone's certificate")
    with pytest.raises(SigningKeyExists):
        generate_signing_key(tmp_path)
    assert not (tmp_path / SIGNING_KEY_FILE_NAME).exists()


def test_loading_problems_are_explained_in_french(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    key_path, cert_path = pair
    with pytest.raises(SigningNotConfigured, match="introuvable") as missing:
        load_signing_key(tmp_path / "absent.pem", cert_path)
    assert "TRACKER_DOSSIER_SIGNING_KEY" in missing.value.message

    _, other_cert = generate_signing_key(tmp_path / "other")
    with pytest.raises(SigningNotConfigured, match="ne correspond pas"):
        load_signing_key(key_path, other_cert)

    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(SigningNotConfigured, match="illisible"):
        load_signing_key(garbage, cert_path)
    with pytest.raises(SigningNotConfigured, match="certificat"):
        load_signing_key(key_path, garbage)


def test_an_encrypted_key_needs_its_password(tmp_path: Path, key: SigningKey, pair: tuple[Path, Path]) -> None:
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"phrase de passe"),
        )
    )
    cert_path = pair[1]

    with pytest.raises(SigningNotConfigured, match="TRACKER_DOSSIER_SIGNING_KEY_PASSWORD"):
        load_signing_key(encrypted, cert_path)
    with pytest.raises(SigningNotConfigured, match="mot de passe est faux"):
        load_signing_key(encrypted, cert_path, password="autre chose")
    assert load_signing_key(encrypted, cert_path, password="phrase de passe").certificate == key.certificate


# --- configuration --------------------------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("TRACKER_") and name != "TRACKER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    return monkeypatch


def test_development_defaults_to_a_pair_under_instance(clean_environment: pytest.MonkeyPatch) -> None:
    config = load_config()
    assert Path(config["DOSSIER_SIGNING_KEY"]).parts[-3:] == ("instance", "signing", SIGNING_KEY_FILE_NAME)
    assert Path(config["DOSSIER_SIGNING_CERT"]).parts[-3:] == ("instance", "signing", SIGNING_CERT_FILE_NAME)
    assert config["DOSSIER_SIGNING_GENERATE_MISSING"] is True
    assert config["DOSSIER_SIGNING_KEY_PASSWORD"] is None
    assert config["DOSSIER_SIGNING_PREVIOUS_CERTS"] == ()


def test_paths_from_the_environment_are_never_filled_in(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("TRACKER_DOSSIER_SIGNING_KEY", "/etc/tracker/key.pem")
    clean_environment.setenv("TRACKER_DOSSIER_SIGNING_CERT", "/etc/tracker/cert.pem")
    clean_environment.setenv("TRACKER_DOSSIER_SIGNING_KEY_PASSWORD", "secret de clé")
    clean_environment.setenv("TRACKER_DOSSIER_SIGNING_PREVIOUS_CERTS", f"/etc/tracker/2025.pem{os.pathsep} ")
    config = load_config()
    assert config["DOSSIER_SIGNING_KEY"] == "/etc/tracker/key.pem"
    assert config["DOSSIER_SIGNING_CERT"] == "/etc/tracker/cert.pem"
    assert config["DOSSIER_SIGNING_KEY_PASSWORD"] == "secret de clé"
    assert config["DOSSIER_SIGNING_PREVIOUS_CERTS"] == ("/etc/tracker/2025.pem",)
    assert config["DOSSIER_SIGNING_GENERATE_MISSING"] is False


def test_production_has_no_default_key_and_says_signing_is_not_configured(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("TRACKER_ENV", "production")
    clean_environment.setenv("TRACKER_SECRET_KEY", "x" * 48)
    config = load_config()
    assert config["DOSSIER_SIGNING_KEY"] is None
    assert config["DOSSIER_SIGNING_GENERATE_MISSING"] is False

    with pytest.raises(SigningNotConfigured, match="n'est pas configurée") as error:
        configured_signing_key(config)
    assert "TRACKER_DOSSIER_SIGNING_KEY" in error.value.message
    with pytest.raises(SigningNotConfigured, match="n'est pas configurée"):
        configured_trusted_certificates(config)


def signing_config(directory: Path, *, generate: bool, previous: tuple[str, ...] = ()) -> dict[str, object]:
    return {
        "DOSSIER_SIGNING_KEY": str(directory / SIGNING_KEY_FILE_NAME),
        "DOSSIER_SIGNING_CERT": str(directory / SIGNING_CERT_FILE_NAME),
        "DOSSIER_SIGNING_KEY_PASSWORD": None,
        "DOSSIER_SIGNING_PREVIOUS_CERTS": previous,
        "DOSSIER_SIGNING_GENERATE_MISSING": generate,
    }


def test_development_creates_its_pair_on_first_use_then_keeps_it(tmp_path: Path) -> None:
    config = signing_config(tmp_path / "instance" / "signing", generate=True)

    first = configured_signing_key(config)
    assert stat.S_IMODE((tmp_path / "instance" / "signing" / SIGNING_KEY_FILE_NAME).stat().st_mode) == 0o600
    assert configured_signing_key(config).certificate == first.certificate
    assert configured_trusted_certificates(config) == [first.certificate]


def test_a_chosen_location_is_never_filled_in_silently(tmp_path: Path) -> None:
    config = signing_config(tmp_path, generate=False)
    with pytest.raises(SigningNotConfigured, match="introuvable"):
        configured_signing_key(config)
    with pytest.raises(SigningNotConfigured, match="introuvable"):
        configured_trusted_certificates(config)
    assert list(tmp_path.iterdir()) == []


def test_trusted_certificates_include_those_of_earlier_keys(tmp_path: Path) -> None:
    old_key, old_cert = generate_signing_key(tmp_path / "2025")
    current_key, current_cert = generate_signing_key(tmp_path / "2026")
    config = signing_config(tmp_path / "2026", generate=False, previous=(str(old_cert),))

    trusted = configured_trusted_certificates(config)

    assert trusted == [
        load_signing_key(current_key, current_cert).certificate,
        load_signing_key(old_key, old_cert).certificate,
    ]


# --- signing ------------------------------------------------------------------------------------------------


def test_signature_is_pades_in_an_incremental_update(unsigned: bytes, signed: bytes) -> None:
    assert signed.startswith(unsigned), "the dossier's own bytes are kept; the signature is appended"
    embedded = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    assert len(embedded) == 1
    signature = embedded[0]
    assert signature.field_name == SIGNATURE_FIELD_NAME
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert signature.sig_object["/Reason"] == "Dossier D42, version 7"
    assert signature.sig_object["/Location"] == "France"
    assert signature.self_reported_timestamp == SIGNED_AT
    # A certification signature allowing no change: PDF readers flag anything added afterwards.
    assert signature.docmdp_level is not None and signature.docmdp_level.value == 1
    assert signature.md_algorithm == "sha256"


def test_a_freshly_generated_pair_signs_dossiers_that_verify(tmp_path: Path, unsigned: bytes) -> None:
    fresh = load_signing_key(*generate_signing_key(tmp_path))
    verification = verify_pdf(sign_pdf(unsigned, fresh, reason="Dossier"), [fresh.certificate])
    assert verification.is_valid
    assert verification.signer == DEVELOPMENT_COMMON_NAME


def test_signing_time_defaults_to_now(unsigned: bytes, key: SigningKey) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    verification = verify_pdf(sign_pdf(unsigned, key, reason="Dossier"), [key.certificate])
    assert verification.signed_at is not None
    assert before <= verification.signed_at <= datetime.now(UTC)


# --- verification: the valid case ------------------------------------------------------------------------


def test_a_signed_dossier_verifies_and_says_which_request_and_version(signed: bytes, key: SigningKey) -> None:
    verification = verify_pdf(signed, [key.certificate])

    assert verification.status is VerificationStatus.VALID
    assert verification.is_valid
    assert (verification.is_signed, verification.is_intact, verification.covers_whole_file) == (True, True, True)
    assert verification.is_trusted is True
    assert verification.signed_at == SIGNED_AT
    assert verification.signer == PLATFORM_NAME
    assert verification.dossier == DossierMetadata(
        request_id=42,
        request_number="D42",
        request_version=7,
        kind="approval",
        content_sha256="5" * 64,
        generated_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        format_version=1,
    )
    assert verification.message == (
        "Signature valide : ce fichier est le dossier de la demande D42, version 7, émis par la plateforme "
        "Habilitations DGFiP le 02/03/2026 à 10:31 (heure de Paris), et il n'a pas été modifié depuis."
    )


def test_a_dossier_signed_before_a_key_rotation_still_verifies(signed: bytes, key: SigningKey) -> None:
    new_key = self_signed_key("Habilitations DGFiP – signature des dossiers 2027")
    assert verify_pdf(signed, [new_key.certificate, key.certificate]).is_valid
    assert verify_pdf(signed, [new_key.certificate]).status is VerificationStatus.UNKNOWN_SIGNER


def test_the_certificate_is_judged_at_the_signing_time(unsigned: bytes) -> None:
    """An expired certificate still vouches for what it signed while it was valid."""
    expired = self_signed_key("Habilitations DGFiP 2020", not_before=datetime(2020, 1, 1, tzinfo=UTC), days=365)

    during = sign_pdf(unsigned, expired, reason="Dossier", signed_at=datetime(2020, 6, 1, tzinfo=UTC))

    assert verify_pdf(during, [expired.certificate]).is_valid


def test_a_signature_made_outside_the_certificate_validity_is_refused(unsigned: bytes) -> None:
    expired = self_signed_key("Habilitations DGFiP 2020", not_before=datetime(2020, 1, 1, tzinfo=UTC), days=365)
    # sign_pdf itself refuses an expired certificate (next test): the file is made with pyHanko directly,
    # as another tool holding the old key would make it, signed now.
    signer = signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(expired.certificate.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            expired.private_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ),
        cert_registry=SimpleCertificateStore(),
    )
    metadata = signers.PdfSignatureMetadata(field_name=SIGNATURE_FIELD_NAME, subfilter=SigSeedSubFilter.PADES)
    late = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(unsigned)), metadata, signer).getvalue()

    verification = verify_pdf(late, [expired.certificate])

    assert verification.status is VerificationStatus.CERTIFICATE_INVALID
    assert verification.message.startswith(
        "La signature a été faite avec un certificat de la plateforme, mais ce certificat n'était pas valable "
        "pour signer le "
    )
    assert (verification.is_intact, verification.is_trusted) == (True, False)
    assert verification.dossier is None


def test_signing_with_a_certificate_not_valid_at_that_time_is_refused(unsigned: bytes, key: SigningKey) -> None:
    with pytest.raises(SigningNotConfigured, match="n'est pas valable le 01/01/2020") as error:
        sign_pdf(unsigned, key, reason="Dossier", signed_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert "Renouvelez la clé de signature" in error.value.message


def test_an_rsa_key_from_an_authority_verifies_but_the_authority_vouches_for_no_one_else(unsigned: bytes) -> None:
    """Production may sign with an RSA certificate issued by a CA; trust stays the exact certificate."""
    authority_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    authority_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Autorité de test")])
    now = datetime.now(UTC)
    authority = (
        x509.CertificateBuilder()
        .subject_name(authority_name)
        .issuer_name(authority_name)
        .public_key(authority_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(authority_key, hashes.SHA256())
    )

    def issued(common_name: str) -> SigningKey:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(authority_name)
            .public_key(private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(authority_key, hashes.SHA256())
        )
        return SigningKey(private_key=private_key, certificate=certificate, chain=(authority,))

    platform, stranger = issued("Habilitations DGFiP"), issued("Quelqu'un d'autre")
    assert verify_pdf(sign_pdf(unsigned, platform, reason="Dossier"), [platform.certificate]).is_valid

    by_stranger = sign_pdf(unsigned, stranger, reason="Dossier")
    verification = verify_pdf(by_stranger, [platform.certificate, authority])
    assert verification.status is VerificationStatus.UNKNOWN_SIGNER


# --- verification: every failure has its message -----------------------------------------------------------


def test_one_byte_changed_in_the_signed_content_is_detected(signed: bytes, key: SigningKey) -> None:
    first_range_end = signed_byte_range(signed)[1]
    position = signed.index(b"stream\n") + 20  # inside the first content stream, covered by the signature
    assert position < first_range_end

    verification = verify_pdf(flip(signed, position), [key.certificate])

    assert verification.status is VerificationStatus.ALTERED
    assert not verification.is_valid
    assert verification.message.startswith(f"{MODIFIED} : son contenu ne correspond plus à l'empreinte")
    assert (verification.is_signed, verification.is_intact) == (True, False)
    assert verification.dossier is None, "nothing from an altered file is presented as authentic"


def test_one_byte_changed_in_the_signature_itself_is_detected(signed: bytes, key: SigningKey) -> None:
    embedded = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    value = embedded.signer_info["signature"].native.hex().upper().encode()
    position = signed.index(value) + len(value) // 2
    replacement = b"1" if signed[position : position + 1] != b"1" else b"2"
    changed = signed[:position] + replacement + signed[position + 1 :]

    verification = verify_pdf(changed, [key.certificate])

    assert verification.status is VerificationStatus.ALTERED
    assert verification.message.startswith(f"{MODIFIED} : la signature elle-même a été altérée.")


@pytest.mark.parametrize("where", ["padding", "letter case", "container length"])
def test_bytes_a_pdf_reader_would_ignore_in_the_signature_are_detected_too(
    signed: bytes, key: SigningKey, where: str
) -> None:
    _, hole_start, hole_end, _ = signed_byte_range(signed)
    hole = signed[hole_start:hole_end]
    if where == "padding":
        position = hole_start + hole.rindex(b"0000") + 1
        changed = signed[:position] + b"1" + signed[position + 1 :]
    elif where == "letter case":
        position = hole_start + next(index for index in range(1, len(hole)) if hole[index : index + 1] in b"ABCDEF")
        changed = flip(signed, position, 0x20)  # "A" becomes "a": the same value for a hex decoder
    else:
        # "<3082LLLL…": the outer length grown by 256 swallows zero padding, which a lenient parser accepts.
        assert hole.startswith(b"<3082")
        longer = b"%04X" % (int(hole[5:9], 16) + 256)
        changed = signed[: hole_start + 5] + longer + signed[hole_start + 9 :]

    verification = verify_pdf(changed, [key.certificate])

    assert verification.status is VerificationStatus.ALTERED
    assert verification.message.startswith(MODIFIED)


def test_no_single_changed_byte_anywhere_leaves_a_valid_file(signed: bytes, key: SigningKey) -> None:
    _, hole_start, hole_end, _ = signed_byte_range(signed)
    rng = random.Random(20260302)  # reproducible positions
    positions = rng.sample(range(len(signed)), 100) + rng.sample(range(hole_start, hole_end), 100)
    for position in positions:
        for mask in (0x01, 0x20, 0xFF):
            verification = verify_pdf(flip(signed, position, mask), [key.certificate])
            assert not verification.is_valid, f"byte {position} ^ {mask:#x} went unnoticed"
            assert verification.message


def test_an_annotation_added_after_signing_is_reported(signed: bytes, key: SigningKey) -> None:
    writer = PdfWriter(io.BytesIO(signed), incremental=True)
    writer.add_annotation(page_number=0, annotation=FreeText(text="Approuvé", rect=(50, 700, 250, 750)))
    output = io.BytesIO()
    writer.write(output)
    annotated = output.getvalue()
    assert annotated.startswith(signed), "an incremental update: the signed bytes are untouched"

    verification = verify_pdf(annotated, [key.certificate])

    assert verification.status is VerificationStatus.CONTENT_ADDED
    assert verification.message.startswith(f"{MODIFIED} : du contenu y a été ajouté depuis")
    assert "La version signée est le dossier de la demande D42, version 7." in verification.message
    assert (verification.is_intact, verification.covers_whole_file, verification.is_trusted) == (True, False, True)
    assert verification.dossier is not None and verification.dossier.request_version == 7


def test_bytes_appended_after_the_end_are_reported(signed: bytes, key: SigningKey) -> None:
    verification = verify_pdf(signed + b"\n% appended\n", [key.certificate])
    assert not verification.is_valid
    assert verification.message.startswith(MODIFIED)


def test_another_signer_is_unknown(unsigned: bytes, key: SigningKey) -> None:
    # A name made to fool a reader: escape sequences and a right-to-left override are shown harmless.
    impostor = self_signed_key("Habilitations DGFiP\x1b[32m OK\u202e")
    verification = verify_pdf(sign_pdf(unsigned, impostor, reason="Dossier"), [key.certificate])

    assert verification.status is VerificationStatus.UNKNOWN_SIGNER
    assert verification.message.startswith("Signataire inconnu : ce PDF est signé par « Habilitations DGFiP [32m OK »")
    assert verification.signer == "Habilitations DGFiP [32m OK"
    assert (verification.is_intact, verification.is_trusted) == (True, False)
    assert verification.dossier is None, "what an unknown signer wrote is not presented as a dossier"


def test_an_unsigned_pdf(unsigned: bytes, key: SigningKey) -> None:
    verification = verify_pdf(unsigned, [key.certificate])
    assert verification.status is VerificationStatus.NOT_SIGNED
    assert verification.message.startswith("Ce PDF ne porte aucune signature électronique")
    assert verification.is_signed is False


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage \x00\xff" * 100,
        b"<html><body>not a pdf</body></html>",
        b"%PDF-1.7\n" + b"\x00" * 500,
        b"%PDF-1.7\n1 0 obj\n" + b"[" * 200_000 + b"\nendobj\n%%EOF\n",
        b"%PDF-1.7\n1 0 obj\n<< /Length 999999999 >>\nstream\nabc\nendstream\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF",
    ],
    ids=["empty", "garbage", "html", "header-only", "deep-nesting", "lying-length"],
)
def test_hostile_or_broken_input_gives_a_verdict_never_an_exception(content: bytes, key: SigningKey) -> None:
    verification = verify_pdf(content, [key.certificate])
    assert verification.status in {VerificationStatus.UNREADABLE, VerificationStatus.NOT_SIGNED}
    assert not verification.is_valid
    assert verification.message


@pytest.mark.parametrize("kept", [0.5, 0.9, 0.999])
def test_a_truncated_download_is_not_valid(signed: bytes, key: SigningKey, kept: float) -> None:
    verification = verify_pdf(signed[: int(len(signed) * kept)], [key.certificate])
    assert not verification.is_valid
    assert verification.status in {VerificationStatus.UNREADABLE, VerificationStatus.NOT_SIGNED}
    assert verification.message


def test_a_huge_file_is_refused_before_parsing(key: SigningKey) -> None:
    verification = verify_pdf(b"%PDF-1.7\n" + b" " * MAX_VERIFIED_PDF_BYTES, [key.certificate])
    assert verification.status is VerificationStatus.TOO_LARGE
    assert verification.message == ("Fichier refusé : il dépasse 50 Mo, bien plus qu'un dossier d'habilitation.")


@pytest.mark.parametrize(
    "attachment",
    [
        None,
        b"{not json",
        json.dumps({"dossier": {"request_number": "D42"}}).encode(),
        dossier_json(request_version="7"),
        dossier_json(request_id=True),
        dossier_json(generated_at="hier"),
    ],
    ids=["absent", "not-json", "incomplete", "version-as-text", "boolean-id", "bad-date"],
)
def test_a_signed_pdf_without_usable_dossier_data(key: SigningKey, attachment: bytes | None) -> None:
    signed = sign_pdf(render_pdf(attachment), key, reason="Dossier")
    verification = verify_pdf(signed, [key.certificate])
    assert verification.status is VerificationStatus.NO_DOSSIER_DATA
    assert verification.message.startswith("La signature de la plateforme est valide, mais ce PDF ne contient pas")
    assert "dossier.json" in verification.message
    assert verification.is_trusted is True
    assert verification.dossier is None


def test_every_status_has_a_label() -> None:
    assert all(status.label for status in VerificationStatus)


# --- the ``tracker dossier`` commands -----------------------------------------------------------------------


def test_init_signing_key_writes_the_pair_and_tells_how_to_use_it(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    directory = tmp_path / "keys"

    result = runner.invoke(dossier_group, ["init-signing-key", "--directory", str(directory)])

    assert result.exit_code == 0, result.output
    key_path, cert_path = directory / SIGNING_KEY_FILE_NAME, directory / SIGNING_CERT_FILE_NAME
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    load_signing_key(key_path, cert_path)
    assert f"export TRACKER_DOSSIER_SIGNING_KEY={key_path}" in result.output
    assert f"export TRACKER_DOSSIER_SIGNING_CERT={cert_path}" in result.output
    assert "Certificat autosigné" in result.output

    again = runner.invoke(dossier_group, ["init-signing-key", "--directory", str(directory)])
    assert again.exit_code == 1
    assert "existe déjà ; utilisez --force pour le remplacer" in again.output

    old_certificate = cert_path.read_bytes()
    forced = runner.invoke(dossier_group, ["init-signing-key", "--directory", str(directory), "--force"])
    assert forced.exit_code == 0, forced.output
    kept = [path for path in directory.iterdir() if path.name not in {key_path.name, cert_path.name}]
    assert len(kept) == 1 and kept[0].read_bytes() == old_certificate
    assert "TRACKER_DOSSIER_SIGNING_PREVIOUS_CERTS" in forced.output


@pytest.fixture
def verifying_app(app: Flask, monkeypatch: pytest.MonkeyPatch, pair: tuple[Path, Path]) -> Flask:
    """The test app trusting the module's key pair (and creating nothing)."""
    for name, value in signing_config(pair[0].parent, generate=False).items():
        monkeypatch.setitem(app.config, name, value)
    return app


def test_verify_command_on_a_valid_dossier(
    verifying_app: Flask, tmp_path: Path, signed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, SNAPSHOTS_MODULE, None)  # as before the snapshots module exists
    path = tmp_path / "dossier.pdf"
    path.write_bytes(signed)

    result = verifying_app.test_cli_runner().invoke(dossier_group, ["verify", str(path)])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Signature valide."
    assert lines[1].startswith("Signature valide : ce fichier est le dossier de la demande D42, version 7")
    assert f"Signataire : {PLATFORM_NAME}" in lines
    assert "Date de signature : 02/03/2026 à 10:31 (Paris)" in lines
    assert "Demande : D42 (identifiant 42)" in lines
    assert "Version de la demande : 7" in lines


def test_verify_command_says_whether_the_version_is_current(
    verifying_app: Flask, tmp_path: Path, signed: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[object] = []

    def currentness(session: object, dossier: object) -> str:
        asked.append(dossier)
        return "Une version plus récente existe : version 8."

    monkeypatch.setitem(sys.modules, SNAPSHOTS_MODULE, types.SimpleNamespace(currentness=currentness))
    path = tmp_path / "dossier.pdf"
    path.write_bytes(signed)

    result = verifying_app.test_cli_runner().invoke(dossier_group, ["verify", str(path)])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "Une version plus récente existe : version 8."
    assert [(dossier.request_id, dossier.request_version) for dossier in asked] == [(42, 7)]  # type: ignore[attr-defined]


def test_verify_command_on_a_modified_dossier(verifying_app: Flask, tmp_path: Path, signed: bytes) -> None:
    path = tmp_path / "dossier.pdf"
    path.write_bytes(flip(signed, signed.index(b"stream\n") + 20))

    result = verifying_app.test_cli_runner().invoke(dossier_group, ["verify", str(path)])

    assert result.exit_code == 1
    assert result.output.splitlines()[0] == "Fichier modifié après sa signature."
    assert f"{MODIFIED} : son contenu ne correspond plus à l'empreinte qui a été signée." in result.output


def test_verify_command_on_garbage(verifying_app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "dossier.pdf"
    path.write_bytes(b"\x00garbage")
    result = verifying_app.test_cli_runner().invoke(dossier_group, ["verify", str(path)])
    assert result.exit_code == 1
    assert "Ce fichier n'est pas un PDF lisible" in result.output


def test_verify_command_without_configuration(
    app: Flask, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, signed: bytes
) -> None:
    monkeypatch.setitem(app.config, "DOSSIER_SIGNING_CERT", None)
    monkeypatch.setitem(app.config, "DOSSIER_SIGNING_PREVIOUS_CERTS", ())
    path = tmp_path / "dossier.pdf"
    path.write_bytes(signed)

    result = app.test_cli_runner().invoke(dossier_group, ["verify", str(path)])

    assert result.exit_code == 1
    assert "La vérification des dossiers n'est pas configurée" in result.output


def test_the_command_group_is_registered() -> None:
    from tracker.cli import main

    assert main.commands["dossier"] is dossier_group
