"""``tracker documents sweep``: remove stored files that no row references."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.db import db
from tracker.documents.services import sweep_orphans


@click.group("documents", help="Documents déposés.")
def documents_group() -> None:
    pass


@documents_group.command(
    "sweep", help="Supprime les fichiers stockés qu'aucune ligne ne référence (plus vieux que le délai de grâce)."
)
@with_appcontext
def sweep() -> None:
    grace = current_app.config["ORPHAN_GRACE"]
    removed = sweep_orphans(db.session, current_app.extensions["tracker_storage"], older_than=grace)
    click.echo(f"{removed} fichier(s) orphelin(s) supprimé(s).")
