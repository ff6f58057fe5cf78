"""``tracker dataset seed --tier S|M|L``: fill an empty database with a generated dataset (PERFORMANCE.md)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.accounts.services import password_hashing
from tracker.datasets.generator import DEFAULT_SEED, TIERS, DatasetError, is_empty, seed, wipe
from tracker.db import db


@click.group("dataset", help="Jeux de données générés pour les tests de charge et les mesures de performance.")
def dataset_group() -> None:
    pass


@dataset_group.command("seed", help="Remplit une base vide avec le palier S, M ou L de PERFORMANCE.md.")
@click.option("--tier", type=click.Choice(sorted(TIERS)), required=True, help="Palier : S, M ou L.")
@click.option("--seed", "seed_value", type=int, default=DEFAULT_SEED, show_default=True, help="Graine aléatoire.")
@click.option("--force", is_flag=True, help="Vide d'abord TOUTES les tables d'une base qui n'est pas vide.")
@with_appcontext
def seed_command(tier: str, seed_value: int, force: bool) -> None:
    if current_app.config["ENV_NAME"] == "production":
        raise click.ClickException("Les jeux de données générés sont refusés en production.")
    session = db.session
    if not is_empty(session):
        if not force:
            raise click.ClickException(
                "La base de données n'est pas vide : rien n'a été écrit. Relancez avec --force pour la vider "
                "entièrement avant de générer le jeu de données."
            )
        wipe(session)
    password = current_app.config["DEMO_PASSWORD"]
    try:
        report = seed(session, TIERS[tier], seed=seed_value, password_hash=password_hashing().hash(password))
    except DatasetError as error:
        session.rollback()
        raise click.ClickException(str(error)) from error
    session.commit()
    click.echo(f"Palier {report.tier} (graine {report.seed}) généré en {report.seconds:.1f} s :")
    for table, count in report.counts.items():
        click.echo(f"  {table:<24} {count:>10,}".replace(",", " "))
    states = ", ".join(f"{state} {count}" for state, count in sorted(report.states.items()))
    click.echo(f"  demandes par état : {states}")
    click.echo(f"Tous les comptes ont le mot de passe « {password} ».")
    click.echo("Les documents générés n'ont pas de fichier : leur téléchargement échoue.")
