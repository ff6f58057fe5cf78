"""``tracker fake-dgfip``: the local DGFiP stand-in, on loopback only."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from pathlib import Path

import click

from tracker.fakedgfip.app import create_fake_dgfip_app
from tracker.fakedgfip.households import DEFAULT_HOUSEHOLDS_PATH, HouseholdsFileError, load_households
from tracker.fakedgfip.server import is_loopback, make_stand_in_server

PROVISIONING_TOKEN_VARIABLE = "TRACKER_FAKE_DGFIP_PROVISIONING_TOKEN"


def _log_to_console() -> None:
    logger = logging.getLogger("tracker.fakedgfip")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@click.command(
    "fake-dgfip",
    help="Lance un faux DGFiP local (gestionnaire d'API, /token et API Impôt particulier) "
    "servant des foyers fictifs, pour le développement et les tests. Écoute uniquement sur la boucle locale.",
)
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="Port d'écoute (0 : un port libre).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Adresse de boucle locale d'écoute.")
@click.option(
    "--households",
    "households_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=f"Fichier JSON des foyers fictifs (par défaut {DEFAULT_HOUSEHOLDS_PATH.name}, fourni).",
)
@click.option(
    "--provisioning-token",
    envvar=PROVISIONING_TOKEN_VARIABLE,
    default=None,
    help=f"Jeton exigé par l'API de provisionnement (ou {PROVISIONING_TOKEN_VARIABLE}) ; "
    "à défaut, un jeton aléatoire est créé et affiché.",
)
@click.option(
    "--token-lifetime",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Durée de validité des jetons d'accès, en secondes.",
)
def fake_dgfip(
    port: int, host: str, households_path: Path | None, provisioning_token: str | None, token_lifetime: int
) -> None:
    if not is_loopback(host):
        raise click.BadParameter(
            f"« {host} » n'est pas une adresse de boucle locale (127.0.0.1, ::1 ou localhost) : "
            "le faux DGFiP délivre des identifiants et ne doit pas être joignable depuis le réseau.",
            param_hint="--host",
        )
    try:
        households = load_households(households_path or DEFAULT_HOUSEHOLDS_PATH)
    except HouseholdsFileError as error:
        raise click.ClickException(f"Fichier des foyers refusé : {error}") from None
    generated = not provisioning_token
    token = provisioning_token or secrets.token_urlsafe(32)
    app = create_fake_dgfip_app(
        provisioning_token=token, households=households, token_lifetime=timedelta(seconds=token_lifetime)
    )
    server = make_stand_in_server(app, host=host, port=port)
    _log_to_console()
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"Faux DGFiP à l'écoute sur http://{shown_host}:{server.port}", color=False)
    click.echo(f"{len(households.households)} foyers fictifs chargés.")
    if generated:
        click.echo(f"Jeton de provisionnement (créé pour cette exécution) : {token}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        click.echo("Faux DGFiP arrêté.")
