"""Signing the PDF dossiers (PAdES, with pyHanko) and telling anyone whether a dossier is authentic.

Pure: no Flask, no database. The key and certificate come from PEM files named in the configuration
(``DOSSIER_SIGNING_KEY``, ``DOSSIER_SIGNING_CERT``); ``configured_signing_key`` reads them, creating a
self-signed development pair only at the development default location, and raises ``SigningNotConfigured``
(a French message for the user) everywhere else.

A signed dossier is a *certification* signature that allows no change: the tracker issues the whole file
and nobody is expected to add to it, so PDF readers and ``verify_pdf`` agree that anything appended after
signing (an annotation, a filled form, another signature) leaves a file that is no longer the dossier that
was issued. Nothing is fetched from the network, neither when signing (no timestamp server) nor when
verifying (no OCSP or CRL): trust means "signed by one of the certificates this platform has used", checked
by exact comparison, so a certificate authority named in the configuration never vouches for other keys.

``verify_pdf`` never raises on what it is given: every outcome is a ``DossierVerification`` whose ``status``
says what went wrong and whose ``message`` says it in French.
"""

from __future__ import annotations

import enum
import io
import json
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pypdf
from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.validation import EmbeddedPdfSignature, validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from tracker.config import SIGNING_CERT_FILE_NAME, SIGNING_KEY_FILE_NAME
from tracker.dossiers import DOSSIER_JSON_NAME

logger = logging.getLogger(__name__)

SIGNATURE_FIELD_NAME = "Signature_Habilitations_DGFiP"
DOSSIER_ATTACHMENT_NAME = DOSSIER_JSON_NAME
DEVELOPMENT_COMMON_NAME = "Habilitations DGFiP – signature des dossiers (développement)"
DEVELOPMENT_ORGANIZATION = "DGFiP"
# Three years, a leap day included.
DEVELOPMENT_CERTIFICATE_VALIDITY = timedelta(days=3 * 365 + 1)
# A dossier with its annexes stays far below this; anything larger is refused before parsing.
MAX_VERIFIED_PDF_BYTES = 50 * 1024 * 1024
MAX_DOSSIER_JSON_BYTES = 2 * 1024 * 1024
# Names in a signer's certificate are chosen by whoever made it: shown, but cut short.
MAX_SIGNER_NAME_LENGTH = 200
PARIS = ZoneInfo("Europe/Paris")

SigningPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_SETUP_HINT = (
    "définissez TRACKER_DOSSIER_SIGNING_KEY et TRACKER_DOSSIER_SIGNING_CERT (fichiers PEM) ; "
    "« tracker dossier init-signing-key » crée une paire autosignée pour le développement."
)
# The /Contents hole between the two signed byte ranges: one hex string, in one letter case.
_SIGNATURE_HOLE = re.compile(rb"<(?:[0-9A-F]*|[0-9a-f]*)>")


class SigningNotConfigured(RuntimeError):
    """No usable signing key or certificate; ``message`` says in French what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SigningKeyExists(FileExistsError):
    """``generate_signing_key`` would overwrite an existing key or certificate."""

    def __init__(self, path: Path) -> None:
        self.message = f"Le fichier {path} existe déjà ; utilisez --force pour le remplacer."
        super().__init__(self.message)
        self.path = path


@dataclass(frozen=True)
class SigningKey:
    """The private key that signs dossiers, its certificate, and the certificates that issued it (if any)."""

    private_key: SigningPrivateKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def subject(self) -> str:
        return describe_subject(self.certificate)

    def _pyhanko_signer(self) -> signers.SimpleSigner:
        private_der = self.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        certificate = _to_asn1(self.certificate)
        return signers.SimpleSigner(
            signing_cert=certificate,
            signing_key=asn1_keys.PrivateKeyInfo.load(private_der),
            # pyHanko embeds the signing certificate itself; listing it here too would embed a second copy,
            # one that no check reads and whose bytes could then be changed unnoticed.
            cert_registry=SimpleCertificateStore.from_certs([_to_asn1(issuer) for issuer in self.chain]),
        )


# --- keys and certificates --------------------------------------------------------------------------------


def generate_signing_key(directory: Path | str, *, force: bool = False) -> tuple[Path, Path]:
    """Write a new EC P-256 key (mode 0600) and a self-signed certificate for it into ``directory``.

    For development and tests: production signs with a certificate issued by an authority the readers of
    the dossiers trust. Raises ``SigningKeyExists`` rather than replace an existing file, unless ``force``:
    a replaced key cannot sign again, and dossiers it signed verify only if its certificate stays listed in
    ``TRACKER_DOSSIER_SIGNING_PREVIOUS_CERTS``.
    """
    directory = Path(directory)
    key_path = directory / SIGNING_KEY_FILE_NAME
    cert_path = directory / SIGNING_CERT_FILE_NAME
    _write_new_pair(key_path, cert_path, force=force)
    return key_path, cert_path


def _write_new_pair(key_path: Path, cert_path: Path, *, force: bool) -> None:
    if not force:
        for path in (key_path, cert_path):
            if path.exists():
                raise SigningKeyExists(path)
    private_key = ec.generate_private_key(ec.SECP256R1())
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    certificate = _self_signed_certificate(private_key)
    key_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_file(key_path, key_pem, mode=0o600, replace=force)
    _write_file(cert_path, certificate.public_bytes(serialization.Encoding.PEM), mode=0o644, replace=force)


def _self_signed_certificate(private_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, DEVELOPMENT_COMMON_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEVELOPMENT_ORGANIZATION),
        ]
    )
    # A few minutes back: a verifier whose clock is slightly behind must not see a not-yet-valid certificate.
    not_before = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    public_key = private_key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + DEVELOPMENT_CERTIFICATE_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(private_key, hashes.SHA256())
    )


def _write_file(path: Path, content: bytes, *, mode: int, replace: bool) -> None:
    """Write completely to a temporary file, then put it in place, so no half-written key is ever read.

    Without ``replace`` the final name is created by a hard link, which fails if the name already exists:
    two processes generating at once cannot overwrite each other's key.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)
            except FileExistsError:
                raise SigningKeyExists(path) from None
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def load_signing_key(key_path: Path | str, cert_path: Path | str, *, password: str | None = None) -> SigningKey:
    """Read a PEM private key and its PEM certificate (optionally followed by the issuing certificates)."""
    key_path, cert_path = Path(key_path), Path(cert_path)
    key_pem = _read_configured_file(key_path, "la clé de signature", "TRACKER_DOSSIER_SIGNING_KEY")
    try:
        private_key = serialization.load_pem_private_key(key_pem, password.encode() if password else None)
    except TypeError:
        # cryptography's way of saying that a password is missing, or given for an unencrypted key.
        raise SigningNotConfigured(
            f"La clé de signature {key_path} ne s'ouvre pas : vérifiez TRACKER_DOSSIER_SIGNING_KEY_PASSWORD "
            "(absent pour une clé chiffrée, ou donné pour une clé qui ne l'est pas)."
        ) from None
    except ValueError:
        raise SigningNotConfigured(
            f"La clé de signature {key_path} est illisible ou son mot de passe est faux "
            "(TRACKER_DOSSIER_SIGNING_KEY_PASSWORD)."
        ) from None
    if not isinstance(private_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SigningNotConfigured(f"La clé de signature {key_path} doit être une clé EC ou RSA.")
    certificates = load_certificates(cert_path)
    certificate, chain = certificates[0], tuple(certificates[1:])
    if _public_key_der(private_key.public_key()) != _public_key_der(certificate.public_key()):
        raise SigningNotConfigured(
            f"Le certificat {cert_path} ne correspond pas à la clé {key_path} : "
            "la clé et le certificat doivent former une paire."
        )
    return SigningKey(private_key=private_key, certificate=certificate, chain=chain)


def load_certificates(path: Path | str) -> list[x509.Certificate]:
    """Every certificate of a PEM file, in file order (a signing certificate comes first, its issuers after)."""
    path = Path(path)
    pem = _read_configured_file(path, "le certificat de signature", "TRACKER_DOSSIER_SIGNING_CERT")
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise SigningNotConfigured(f"Le fichier {path} ne contient pas de certificat PEM lisible.") from None
    return certificates


def _read_configured_file(path: Path, what: str, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SigningNotConfigured(
            f"La signature des dossiers n'est pas configurée : {what} est introuvable ({path}, {variable})."
        ) from None
    except OSError as error:
        raise SigningNotConfigured(f"Impossible de lire {what} ({path}) : {error.strerror}.") from None


def configured_signing_key(config: Mapping[str, Any]) -> SigningKey:
    """The signing key the configuration names; in development only, a pair is created on first use."""
    key_setting, cert_setting = config.get("DOSSIER_SIGNING_KEY"), config.get("DOSSIER_SIGNING_CERT")
    if not key_setting or not cert_setting:
        raise SigningNotConfigured("La signature des dossiers n'est pas configurée : " + _SETUP_HINT)
    key_path, cert_path = Path(key_setting), Path(cert_setting)
    if config.get("DOSSIER_SIGNING_GENERATE_MISSING") and not key_path.exists() and not cert_path.exists():
        try:
            _write_new_pair(key_path, cert_path, force=False)
            logger.warning("Development dossier signing key created: %s (certificate %s)", key_path, cert_path)
        except SigningKeyExists:
            pass  # another process created it first; load theirs
    return load_signing_key(key_path, cert_path, password=config.get("DOSSIER_SIGNING_KEY_PASSWORD"))


def configured_trusted_certificates(config: Mapping[str, Any]) -> list[x509.Certificate]:
    """The certificates whose signatures ``verify_pdf`` accepts: the current one and those of earlier keys.

    Only the current certificate file's first certificate is taken: the ones after it are its issuers,
    and this platform does not sign with their keys.
    """
    trusted: list[x509.Certificate] = []
    cert_setting = config.get("DOSSIER_SIGNING_CERT")
    if cert_setting:
        if config.get("DOSSIER_SIGNING_GENERATE_MISSING") and not Path(cert_setting).exists():
            trusted.append(configured_signing_key(config).certificate)
        else:
            trusted.append(load_certificates(cert_setting)[0])
    for previous in config.get("DOSSIER_SIGNING_PREVIOUS_CERTS") or ():
        trusted.extend(load_certificates(previous))
    if not trusted:
        raise SigningNotConfigured("La vérification des dossiers n'est pas configurée : " + _SETUP_HINT)
    return trusted


def describe_subject(certificate: x509.Certificate) -> str:
    """« Habilitations DGFiP – signature des dossiers (DGFiP) »: common name and organization, for people."""
    subject = certificate.subject

    def first(oid: x509.ObjectIdentifier) -> str | None:
        attributes = subject.get_attributes_for_oid(oid)
        value = attributes[0].value if attributes else None
        return value if isinstance(value, str) else None

    common_name, organization = first(NameOID.COMMON_NAME), first(NameOID.ORGANIZATION_NAME)
    if common_name and organization and organization not in common_name:
        text = f"{common_name} ({organization})"
    else:
        text = common_name or organization or subject.rfc4514_string()
    return _printable(text)


def _printable(text: str) -> str:
    """Control and format characters removed (terminal escapes, right-to-left overrides), length capped."""
    cleaned = "".join(" " if unicodedata.category(char).startswith("C") else char for char in text)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > MAX_SIGNER_NAME_LENGTH:
        cleaned = cleaned[: MAX_SIGNER_NAME_LENGTH - 1] + "…"
    return cleaned


def _public_key_der(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _to_asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


# --- signing ----------------------------------------------------------------------------------------------


class _PdfSignerAt(signers.PdfSigner):
    """pyHanko's signer with the signing time chosen by the caller instead of read from the clock."""

    def __init__(self, signature_meta: signers.PdfSignatureMetadata, signer: signers.Signer, *, at: datetime):
        super().__init__(signature_meta, signer)
        self._at = at

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._at
        return session


def sign_pdf(
    pdf: bytes,
    key: SigningKey,
    *,
    reason: str,
    location: str = "France",
    signed_at: datetime | None = None,
) -> bytes:
    """Return ``pdf`` with a PAdES certification signature appended as an incremental update.

    The signing time (``signed_at``, now by default, stored in UTC) is the one the signature declares: no
    timestamp server is asked. Raises ``SigningNotConfigured`` if the certificate is not valid at that time,
    and pyHanko's errors if ``pdf`` cannot be parsed: it is always a PDF the tracker has just produced.
    """
    moment = (signed_at or datetime.now(UTC)).astimezone(UTC)
    if not _is_valid_at(key.certificate, moment):
        # Signing anyway would issue dossiers that fail verification from the first day.
        raise SigningNotConfigured(
            f"Le certificat de signature « {key.subject} » n'est pas valable{_at_moment(moment)} : il l'est "
            f"du {key.certificate.not_valid_before_utc.astimezone(PARIS):%d/%m/%Y} au "
            f"{key.certificate.not_valid_after_utc.astimezone(PARIS):%d/%m/%Y}. Renouvelez la clé de signature."
        )
    metadata = signers.PdfSignatureMetadata(
        field_name=SIGNATURE_FIELD_NAME,
        reason=reason,
        location=location,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    output = _PdfSignerAt(metadata, key._pyhanko_signer(), at=moment).sign_pdf(writer)
    return output.getvalue()


# --- verification -----------------------------------------------------------------------------------------


class VerificationStatus(enum.StrEnum):
    VALID = "valid"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    NOT_SIGNED = "not_signed"
    ALTERED = "altered"
    CONTENT_ADDED = "content_added"
    UNKNOWN_SIGNER = "unknown_signer"
    CERTIFICATE_INVALID = "certificate_invalid"
    NO_DOSSIER_DATA = "no_dossier_data"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    VerificationStatus.VALID: "Signature valide",
    VerificationStatus.TOO_LARGE: "Fichier trop volumineux",
    VerificationStatus.UNREADABLE: "Fichier illisible",
    VerificationStatus.NOT_SIGNED: "Aucune signature",
    VerificationStatus.ALTERED: "Fichier modifié après sa signature",
    VerificationStatus.CONTENT_ADDED: "Contenu ajouté après la signature",
    VerificationStatus.UNKNOWN_SIGNER: "Signataire inconnu",
    VerificationStatus.CERTIFICATE_INVALID: "Certificat non valable",
    VerificationStatus.NO_DOSSIER_DATA: "Données du dossier absentes",
}


@dataclass(frozen=True)
class DossierMetadata:
    """What ``dossier.json`` says about the dossier: which request, which version, which content."""

    request_id: int
    request_number: str
    request_version: int
    kind: str
    content_sha256: str
    generated_at: datetime
    format_version: int


@dataclass(frozen=True)
class DossierVerification:
    """The verdict on one PDF. ``message`` is the sentence to show; the other fields say what was found.

    ``is_intact``, ``covers_whole_file`` and ``is_trusted`` are ``None`` when verification stopped before
    that question could be asked. ``dossier`` is read only from a revision signed by a trusted certificate,
    so it can be believed even when content was added afterwards (``CONTENT_ADDED``).
    """

    status: VerificationStatus
    message: str
    is_signed: bool = False
    is_intact: bool | None = None
    covers_whole_file: bool | None = None
    is_trusted: bool | None = None
    signed_at: datetime | None = None
    signer: str | None = None
    dossier: DossierMetadata | None = None

    @property
    def is_valid(self) -> bool:
        return self.status is VerificationStatus.VALID


def verify_pdf(pdf: bytes, trusted: Sequence[x509.Certificate]) -> DossierVerification:
    """Whether ``pdf`` is a dossier signed by one of the ``trusted`` certificates and unchanged since."""
    if len(pdf) > MAX_VERIFIED_PDF_BYTES:
        return DossierVerification(
            VerificationStatus.TOO_LARGE,
            f"Fichier refusé : il dépasse {MAX_VERIFIED_PDF_BYTES // (1024 * 1024)} Mo, "
            "bien plus qu'un dossier d'habilitation.",
        )
    try:
        return _verify(pdf, trusted)
    except Exception:
        # A hostile or broken file may trip the parsers anywhere; it is a verdict, never a crash.
        logger.warning("PDF dossier verification failed on unexpected input", exc_info=True)
        return _unreadable()


def _unreadable() -> DossierVerification:
    return DossierVerification(
        VerificationStatus.UNREADABLE,
        "Ce fichier n'est pas un PDF lisible : il est incomplet (téléchargement interrompu), endommagé ou "
        "a été modifié. Téléchargez à nouveau le dossier.",
    )


def _verify(pdf: bytes, trusted: Sequence[x509.Certificate]) -> DossierVerification:
    if not pdf.startswith(b"%PDF-"):
        return _unreadable()
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except Exception:
        return _unreadable()
    if not signatures:
        return DossierVerification(
            VerificationStatus.NOT_SIGNED,
            "Ce PDF ne porte aucune signature électronique : ce n'est pas un dossier émis par la plateforme "
            "Habilitations DGFiP, ou sa signature en a été retirée.",
        )
    embedded = next((sig for sig in signatures if sig.field_name == SIGNATURE_FIELD_NAME), signatures[0])
    signed_at = _signing_time(embedded)
    try:
        status = validate_pdf_signature(
            embedded,
            _validation_context(trusted, signed_at),
            key_usage_settings=KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"}),
            # Anything after the signed revision already makes the file invalid here (CONTENT_ADDED), so
            # pyHanko's analysis of what was added, costly on a crafted file, would change nothing.
            skip_diff=True,
        )
    except Exception:
        return _altered("la signature elle-même est endommagée et ne peut plus être lue.", signed_at=signed_at)
    signer = _signer_name(status)
    found = {"is_signed": True, "signed_at": signed_at, "signer": signer}
    if not status.intact:
        return _altered("son contenu ne correspond plus à l'empreinte qui a été signée.", is_intact=False, **found)
    if not status.valid or not _hole_is_untouched(pdf, embedded):
        return _altered("la signature elle-même a été altérée.", is_intact=False, **found)
    certificate = _matching_certificate(status, trusted)
    if certificate is None:
        return DossierVerification(
            VerificationStatus.UNKNOWN_SIGNER,
            f"Signataire inconnu : ce PDF est signé par « {signer} », qui n'est pas la plateforme "
            "Habilitations DGFiP. Son contenu n'est pas garanti par la plateforme.",
            is_intact=True,
            covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
            is_trusted=False,
            **found,
        )
    # A certificate trusted as such is not checked for expiry by the path validation: checked here, at
    # the signing time the signature declares.
    if not status.trusted or signed_at is None or not _is_valid_at(certificate, signed_at):
        return DossierVerification(
            VerificationStatus.CERTIFICATE_INVALID,
            "La signature a été faite avec un certificat de la plateforme, mais ce certificat n'était pas "
            f"valable pour signer{_at_moment(signed_at)} (période de validité ou usage du certificat).",
            is_intact=True,
            covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
            is_trusted=False,
            **found,
        )
    found["is_intact"] = True
    found["is_trusted"] = True
    if status.coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        dossier = _dossier_metadata(_signed_revision(pdf, embedded))
        signed_version = f" La version signée est {_describe(dossier)}." if dossier else ""
        return DossierVerification(
            VerificationStatus.CONTENT_ADDED,
            "Le fichier a été modifié après sa signature : du contenu y a été ajouté depuis (annotation, "
            "formulaire rempli ou autre signature). Il ne correspond plus au dossier émis par la plateforme."
            + signed_version,
            covers_whole_file=False,
            dossier=dossier,
            **found,
        )
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        return _altered("la signature ne couvre pas le fichier comme prévu.", covers_whole_file=False, **found)
    dossier = _dossier_metadata(pdf)
    if dossier is None:
        return DossierVerification(
            VerificationStatus.NO_DOSSIER_DATA,
            "La signature de la plateforme est valide, mais ce PDF ne contient pas de données de dossier "
            f"lisibles (pièce jointe {DOSSIER_ATTACHMENT_NAME}) : ce n'est pas un dossier d'habilitation.",
            covers_whole_file=True,
            **found,
        )
    return DossierVerification(
        VerificationStatus.VALID,
        f"Signature valide : ce fichier est {_describe(dossier)}, émis par la plateforme Habilitations DGFiP"
        f"{_at_moment(signed_at)}, et il n'a pas été modifié depuis.",
        covers_whole_file=True,
        dossier=dossier,
        **found,
    )


def _altered(reason: str, **found: Any) -> DossierVerification:
    found.setdefault("is_signed", True)
    return DossierVerification(
        VerificationStatus.ALTERED,
        f"Le fichier a été modifié après sa signature : {reason} Ne vous fiez pas à son contenu ; "
        "demandez une copie authentique du dossier.",
        **found,
    )


def _validation_context(trusted: Sequence[x509.Certificate], signed_at: datetime | None) -> ValidationContext:
    # The certificate is judged at the signing time it declares, so that a dossier signed while the
    # certificate was valid still verifies after the certificate has expired.
    return ValidationContext(
        trust_roots=[_to_asn1(certificate) for certificate in trusted],
        moment=signed_at,
        allow_fetching=False,
        revocation_mode="soft-fail",
    )


def _signing_time(embedded: EmbeddedPdfSignature) -> datetime | None:
    try:
        moment = embedded.self_reported_timestamp
    except Exception:
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def _signer_name(status: PdfSignatureStatus) -> str:
    try:
        return describe_subject(x509.load_der_x509_certificate(status.signing_cert.dump()))
    except Exception:
        return _printable(status.signing_cert.subject.human_friendly)


def _matching_certificate(status: PdfSignatureStatus, trusted: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The trusted certificate the signature was made with, compared byte for byte."""
    signer_der = status.signing_cert.dump()
    return next(
        (certificate for certificate in trusted if certificate.public_bytes(serialization.Encoding.DER) == signer_der),
        None,
    )


def _is_valid_at(certificate: x509.Certificate, moment: datetime) -> bool:
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


def _hole_is_untouched(pdf: bytes, embedded: EmbeddedPdfSignature) -> bool:
    """Whether the bytes the signature cannot cover (its own /Contents) are exactly what a signer writes.

    The byte ranges leave a hole for the signature container: a hex string holding a DER-encoded CMS
    object, then zeros. Parts of that container are not signed (its headers, the certificates it carries)
    and readers tolerate changed padding or a hex digit in the other letter case. Requiring the canonical
    form (one letter case, strict DER, zeros after it, the fields as sign_pdf writes them) makes a changed
    byte there detectable too; the signed parts are checked by the signature itself, and the signer's
    certificate is compared byte for byte with the trusted ones.
    """
    _, first_length, second_start, _ = (int(value) for value in embedded.byte_range)
    hole = pdf[first_length:second_start]
    if not _SIGNATURE_HOLE.fullmatch(hole):
        return False
    contents = bytes.fromhex(hole[1:-1].decode("ascii"))
    outer = _read_der_header(contents, 0, len(contents))
    if outer is None:
        return False
    der, padding = contents[: outer[1]], contents[outer[1] :]
    if padding.strip(b"\x00") or not _is_strict_der(der):
        return False
    try:
        signed_data = cms.ContentInfo.load(der)["content"]
        signer_infos = list(signed_data["signer_infos"])
        certificates = [choice.chosen.dump() for choice in signed_data["certificates"] or ()]
        digest_algorithms = [algorithm.dump() for algorithm in signed_data["digest_algorithms"]]
        return (
            # As sign_pdf writes it: version 1, one signer, its digest algorithm listed once, no certificate twice.
            signed_data["version"].native == "v1"
            and len(signer_infos) == 1
            and signer_infos[0]["version"].native == "v1"
            and digest_algorithms == [signer_infos[0]["digest_algorithm"].dump()]
            and len(set(certificates)) == len(certificates)
        )
    except Exception:
        return False


def _read_der_header(data: bytes, offset: int, limit: int) -> tuple[int, int, bool] | None:
    """Where the content of the DER value at ``offset`` starts and ends, and whether it is constructed.

    None unless the header is well formed with its length in the shortest definite form, and the value
    ends by ``limit``.
    """
    if offset + 2 > limit:
        return None
    identifier, position = data[offset], offset + 1
    if identifier == 0:
        return None  # end-of-contents: no place in DER, and what zero padding would parse as
    if identifier & 0x1F == 0x1F:  # tag number on several bytes, the last one without its high bit
        while position < limit and data[position] & 0x80:
            position += 1
        position += 1
    if position >= limit:
        return None
    first, position = data[position], position + 1
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or position + count > limit or data[position] == 0:
            return None  # indefinite length, absurd size, or a leading zero byte
        length = int.from_bytes(data[position : position + count], "big")
        position += count
        if length < 0x80:
            return None  # the long form where the short one fits
    end = position + length
    return (position, end, bool(identifier & 0x20)) if end <= limit else None


def _is_strict_der(data: bytes) -> bool:
    """One DER value filling ``data``, every constructed value exactly filled by its children."""
    outer = _read_der_header(data, 0, len(data))
    if outer is None or outer[1] != len(data):
        return False
    pending = [outer]
    while pending:
        start, end, constructed = pending.pop()
        offset = start
        while constructed and offset < end:
            child = _read_der_header(data, offset, end)
            if child is None:
                return False
            pending.append(child)
            offset = child[1]
    return True


def _signed_revision(pdf: bytes, embedded: EmbeddedPdfSignature) -> bytes:
    _, _, second_start, second_length = (int(value) for value in embedded.byte_range)
    return pdf[: second_start + second_length]


def _dossier_metadata(pdf: bytes) -> DossierMetadata | None:
    """The ``dossier`` object of the attached ``dossier.json``, or None if absent or not as expected.

    Called only on bytes signed by a trusted certificate: the attachment was written by the tracker itself.
    """
    try:
        attachments = pypdf.PdfReader(io.BytesIO(pdf), strict=False).attachments
        contents = attachments.get(DOSSIER_ATTACHMENT_NAME) or []
        if len(contents) != 1 or len(contents[0]) > MAX_DOSSIER_JSON_BYTES:
            return None
        document = json.loads(contents[0])
        dossier = document["dossier"]
        metadata = DossierMetadata(
            request_id=dossier["request_id"],
            request_number=dossier["request_number"],
            request_version=dossier["request_version"],
            kind=dossier["kind"],
            content_sha256=dossier["content_sha256"],
            generated_at=datetime.fromisoformat(dossier["generated_at"]),
            format_version=dossier["format_version"],
        )
    except Exception:
        logger.warning("Signed dossier without a readable %s", DOSSIER_ATTACHMENT_NAME, exc_info=True)
        return None
    expected_types = (
        (metadata.request_id, int),
        (metadata.request_number, str),
        (metadata.request_version, int),
        (metadata.kind, str),
        (metadata.content_sha256, str),
        (metadata.format_version, int),
    )
    if any(isinstance(value, bool) or not isinstance(value, kind) for value, kind in expected_types):
        return None
    return metadata


def _describe(dossier: DossierMetadata) -> str:
    return f"le dossier de la demande {_printable(dossier.request_number)}, version {dossier.request_version}"


def _at_moment(moment: datetime | None) -> str:
    """« le 29/11/2026 à 05:05 (heure de Paris) », with a leading space; empty when unknown."""
    if moment is None:
        return ""
    local = moment.astimezone(PARIS)
    return f" le {local:%d/%m/%Y} à {local:%H:%M} (heure de Paris)"
