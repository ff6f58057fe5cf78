"""The ``tracker`` command: Flask's CLI plus the project's own commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from tracker import create_app


@click.group(cls=FlaskGroup, create_app=lambda: create_app(), help="Habilitations DGFiP.")
def main() -> None:
    """Entry point of the ``tracker`` console script."""


@main.group("db", help="Schéma de la base de données (migrations Alembic).")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Applique les migrations jusqu'à la dernière version.")
@click.option("--revision", default="head", show_default=True)
@with_appcontext
def db_upgrade(revision: str) -> None:
    from tracker.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Base de données à jour ({revision}).")


def register_commands() -> None:
    """Feature packages attach their commands here so ``main`` sees them all."""
    from tracker.audit.cli import audit_group
    from tracker.datasets.cli import dataset_group
    from tracker.demo import seed_demo
    from tracker.documents.cli import documents_group
    from tracker.dossiers.cli import dossier_group
    from tracker.fakedgfip.cli import fake_dgfip
    from tracker.habilitations.cli import remind
    from tracker.notify.cli import worker
    from tracker.vault.cli import vault_group

    main.add_command(audit_group)
    main.add_command(dataset_group)
    main.add_command(documents_group)
    main.add_command(dossier_group)
    main.add_command(fake_dgfip)
    main.add_command(remind)
    main.add_command(seed_demo)
    main.add_command(worker)
    main.add_command(vault_group)


register_commands()
