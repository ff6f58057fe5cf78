"""``tracker dossier …``: the signing key pair for development, and checking a dossier PDF from a terminal."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.config import DEFAULT_SIGNING_DIRECTORY, SIGNING_CERT_FILE_NAME
from tracker.db import db
from tracker.dossiers.signing import (
    MAX_VERIFIED_PDF_BYTES,
    PARIS,
    DossierMetadata,
    DossierVerification,
    SigningKeyExists,
    SigningNotConfigured,
    configured_trusted_certificates,
    generate_signing_key,
    load_certificates,
    verify_pdf,
)

SNAPSHOTS_MODULE = "tracker.dossiers.snapshots"


@click.group("dossier", help="Dossiers PDF signés : clé de signature et vérification.")
def dossier_group() -> None:
    pass


@dossier_group.command(
    "init-signing-key",
    help="Crée une clé EC P-256 et un certificat autosigné pour signer les dossiers (développement et tests).",
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_SIGNING_DIRECTORY,
    show_default=True,
    help="Dossier où écrire la clé et le certificat.",
)
@click.option("--force", is_flag=True, help="Remplace une clé et un certificat existants.")
def init_signing_key(directory: Path, force: bool) -> None:
    directory = directory.resolve()
    kept = _keep_replaced_certificate(directory) if force else None
    try:
        key_path, cert_path = generate_signing_key(directory, force=force)
    except SigningKeyExists as error:
        raise click.ClickException(error.message) from None
    certificate = load_certificates(cert_path)[0]
    expires = certificate.not_valid_after_utc.astimezone(PARIS)
    click.echo(f"Clé privée : {key_path} (lisible par vous seul)")
    click.echo(f"Certificat autosigné : {cert_path} (valable jusqu'au {expires:%d/%m/%Y})")
    click.echo("Pour signer les dossiers avec cette paire, définissez :")
    click.echo(f"  export TRACKER_DOSSIER_SIGNING_KEY={key_path}")
    click.echo(f"  export TRACKER_DOSSIER_SIGNING_CERT={cert_path}")
    if directory == DEFAULT_SIGNING_DIRECTORY.resolve():
        click.echo("C'est l'emplacement par défaut en développement : sans ces variables, il est utilisé.")
    if kept is not None:
        click.echo(
            f"L'ancien certificat est conservé dans {kept} : pour que les dossiers déjà signés restent "
            "reconnus, ajoutez ce fichier à TRACKER_DOSSIER_SIGNING_PREVIOUS_CERTS."
        )
    click.echo(
        "Un certificat autosigné n'est reconnu que par cette plateforme ; en production, signez avec un "
        "certificat délivré par une autorité de certification."
    )


def _keep_replaced_certificate(directory: Path) -> Path | None:
    """Copy the certificate about to be replaced: dossiers it signed verify only while it is trusted."""
    current = directory / SIGNING_CERT_FILE_NAME
    if not current.exists():
        return None
    try:
        certificate = load_certificates(current)[0]
    except SigningNotConfigured:
        return None  # not a certificate: nothing worth keeping
    kept = current.with_name(f"{current.stem}-{certificate.serial_number:x}{current.suffix}")
    shutil.copyfile(current, kept)
    return kept


@dossier_group.command(
    "verify",
    help="Vérifie la signature d'un dossier PDF et dit quelle version de quelle demande il contient ; "
    "code de sortie 0 si la signature est valide, 1 sinon.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def verify(file: Path) -> None:
    try:
        trusted = configured_trusted_certificates(current_app.config)
    except SigningNotConfigured as error:
        click.echo(error.message, err=True)
        sys.exit(1)
    with file.open("rb") as stream:
        # One byte more than accepted is enough for verify_pdf to refuse the file without reading it all.
        content = stream.read(MAX_VERIFIED_PDF_BYTES + 1)
    verification = verify_pdf(content, trusted)
    currentness = _currentness(verification.dossier) if verification.dossier is not None else None
    for line in describe(verification, currentness):
        click.echo(line, err=not verification.is_valid)
    sys.exit(0 if verification.is_valid else 1)


def describe(verification: DossierVerification, currentness: str | None = None) -> list[str]:
    """The verdict, then what was found: signer, time, request and version, whether it is still current."""
    lines = [f"{verification.status.label}.", verification.message]
    if verification.signer:
        lines.append(f"Signataire : {verification.signer}")
    if verification.signed_at:
        lines.append(f"Date de signature : {verification.signed_at.astimezone(PARIS):%d/%m/%Y à %H:%M} (Paris)")
    dossier = verification.dossier
    if dossier is not None:
        lines.append(f"Demande : {dossier.request_number} (identifiant {dossier.request_id})")
        lines.append(f"Version de la demande : {dossier.request_version}")
        lines.append(f"Empreinte SHA-256 du contenu : {dossier.content_sha256}")
    if currentness:
        lines.append(currentness)
    return lines


def _currentness(dossier: DossierMetadata) -> str | None:
    """Whether the signed version is still the request's current one, once the snapshots module exists."""
    try:
        snapshots = importlib.import_module(SNAPSHOTS_MODULE)
    except ModuleNotFoundError as error:
        if error.name != SNAPSHOTS_MODULE:
            raise  # the module exists but is broken: say so rather than hide it
        return None
    return snapshots.currentness(db.session, dossier)
