"""``tracker audit …``: checking the hash chain."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from tracker.audit.services import verify
from tracker.db import db


@click.group("audit", help="Journal d'audit chaîné.")
def audit_group() -> None:
    pass


@audit_group.command("verify", help="Vérifie la chaîne d'empreintes ; code de sortie 1 si elle est rompue.")
@with_appcontext
def audit_verify() -> None:
    result = verify(db.session)
    if result.is_valid:
        click.echo(f"Journal d'audit intègre : {result.checked} entrées vérifiées.")
        return
    click.echo(f"Journal d'audit ALTÉRÉ : {result.problem} ({result.checked} entrées valides avant).", err=True)
    sys.exit(1)
