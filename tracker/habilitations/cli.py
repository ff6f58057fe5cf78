"""``tracker remind``: expiry reminders and expiries, for cron at any frequency."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import with_appcontext

from tracker.db import db, utcnow
from tracker.habilitations import expiry


@click.command(
    "remind",
    help="Envoie les rappels d'échéance (90, 30 et 7 jours) et fait expirer les habilitations "
    "dont une échéance est dépassée. Sans effet s'il est relancé le même jour.",
)
@click.option(
    "--date",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Jour à considérer comme aujourd'hui (AAAA-MM-JJ), pour un rattrapage ; par défaut, aujourd'hui (UTC).",
)
@with_appcontext
def remind(on: object) -> None:
    today: date = on.date() if on is not None else utcnow().date()  # type: ignore[attr-defined]
    report = expiry.run(db.session, today)
    db.session.commit()
    click.echo(
        f"{today:%d/%m/%Y} : {len(report.expired)} habilitation(s) expirée(s)"
        + (f" ({', '.join(report.expired)})" if report.expired else "")
        + f", {report.reminders} rappel(s) mis en file d'envoi."
    )
    if report.credentials is not None:
        credentials = report.credentials
        click.echo(
            f"Accès à l'API : {len(credentials.expired)} expiré(s), {credentials.reminders} rappel(s), "
            f"{credentials.remote_revocations_retried} révocation(s) relancée(s) auprès du gestionnaire d'API."
        )
