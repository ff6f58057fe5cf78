"""``tracker vault …``: a new master key, the vault's state, and re-encryption under the newest key."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.db import db
from tracker.vault.keys import KEY_ID_PATTERN, VaultSealed, generate_key_line
from tracker.vault.services import RotationProgress, rotate_master_key
from tracker.vault.state import rows_per_key_id, unknown_key_ids, vault_state


@click.group("vault", help="Coffre des accès à l'API : clés maîtresses, état, rotation.")
def vault_group() -> None:
    pass


@vault_group.command("init-key", help="Affiche une nouvelle clé maîtresse à placer en tête de TRACKER_VAULT_KEYS.")
@click.option("--key-id", help="Identifiant de la clé (par défaut, tiré de la date et de l'heure).")
def init_key(key_id: str | None) -> None:
    if key_id is not None and not KEY_ID_PATTERN.match(key_id):
        raise click.BadParameter("1 à 32 lettres, chiffres, « - » ou « _ ».", param_hint="--key-id")
    line = generate_key_line(key_id)
    # Only the key on standard output, so that « $(tracker vault init-key) » captures it alone.
    click.echo(line)
    click.echo(
        "Placez cette clé en tête de TRACKER_VAULT_KEYS (séparée des anciennes par une virgule), redémarrez, "
        "puis lancez « tracker vault rotate ». Gardez-en une copie en lieu sûr : sans elle, les secrets "
        "chiffrés sont perdus.",
        err=True,
    )


@vault_group.command("status", help="Dit si le coffre est scellé, quelles clés il connaît, combien de lignes par clé.")
@with_appcontext
def status() -> None:
    """Exit code 0 when the vault is open, 1 when sealed (for monitoring)."""
    state = vault_state(current_app)
    counts = rows_per_key_id(db.session)
    ring = state.ring
    missing = unknown_key_ids(db.session, ring) if ring is not None else []
    if ring is None:
        click.echo(state.sealed_reason or "Coffre scellé.")
    elif missing:
        click.echo("Coffre scellé : des lignes sont chiffrées avec une clé absente de TRACKER_VAULT_KEYS.")
    else:
        click.echo("Coffre ouvert.")
    if ring is not None:
        click.echo(f"Clé courante (chiffrement) : {ring.current.key_id}")
        others = ring.key_ids[1:]
        click.echo("Clés de déchiffrement seulement : " + (", ".join(others) if others else "aucune"))
    click.echo("Lignes par clé :" if counts else "Aucun accès enregistré.")
    for key_id, count in counts.items():
        note = "" if ring is not None and ring.get(key_id) is not None else " (clé absente de la configuration)"
        click.echo(f"  {key_id} : {count}{note}")
    sys.exit(1 if ring is None or missing else 0)


@vault_group.command("rotate", help="Rechiffre chaque accès avec la clé courante ; peut être interrompu et relancé.")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@with_appcontext
def rotate(batch_size: int) -> None:
    try:
        ring = vault_state(current_app).key_ring()
    except VaultSealed as sealed:
        raise click.ClickException(sealed.message) from None

    def report(progress: RotationProgress) -> None:
        click.echo(
            f"Lot {progress.batches} : {progress.reencrypted} ligne(s) rechiffrée(s) au total, "
            f"{progress.remaining} restante(s)."
        )

    click.echo(f"Rotation vers la clé « {ring.current.key_id} » par lots de {batch_size}.")
    progress = rotate_master_key(db.session, batch_size=batch_size, keys=ring, on_batch=report)
    click.echo(f"Terminé : {progress.reencrypted} ligne(s) rechiffrée(s).")
    if progress.failed_ids:
        click.echo(
            "Lignes impossibles à déchiffrer (altérées ou déplacées), laissées en l'état et signalées au journal "
            "d'audit : " + ", ".join(str(row_id) for row_id in progress.failed_ids),
            err=True,
        )
        sys.exit(1)
