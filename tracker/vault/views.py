"""Vault pages. Every route here answers 503 while the vault is sealed; the rest of the app is unaffected.

Secrets never travel through these pages (ARCHITECTURE habit 10): they show a placeholder, and revealing
a secret is its own audited POST (built on ``services.reveal_secret``).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, render_template
from flask_login import login_required

from tracker.accounts.principal import current_principal
from tracker.db import db
from tracker.habilitations import queries
from tracker.habilitations.models import Habilitation
from tracker.vault.keys import VaultSealed
from tracker.vault.models import CredentialStatus
from tracker.vault.services import SECRET_PLACEHOLDER, credentials_of
from tracker.vault.state import open_key_ring
from tracker.web import render_error

logger = logging.getLogger(__name__)

blueprint = Blueprint("vault", __name__)

SEALED_MESSAGE = (
    "Le coffre des accès à l'API est scellé : les identifiants ne peuvent être ni lus ni enregistrés pour le "
    "moment. Le reste du service fonctionne normalement. L'équipe d'exploitation a été prévenue."
)


@blueprint.before_request
def refuse_while_sealed() -> Response | None:
    """503 with a French page, or JSON under /api/; the reason (which key is missing) goes to the logs only."""
    try:
        open_key_ring(db.session)
    except VaultSealed as sealed:
        logger.error("vault route refused: %s", sealed.message)
        return render_error(503, SEALED_MESSAGE)
    return None


@blueprint.route("/habilitations/<int:habilitation_id>/acces")
@login_required
def credentials(habilitation_id: int) -> str:
    principal = current_principal()
    habilitation = db.session.get(Habilitation, habilitation_id)
    if habilitation is None:
        abort(404)
    hab_request = queries.get_visible_request(db.session, principal, habilitation.request_id)
    return render_template(
        "vault/credentials.html",
        hab_request=hab_request,
        habilitation=habilitation,
        credentials=credentials_of(db.session, habilitation.id),
        placeholder=SECRET_PLACEHOLDER,
        statuses=CredentialStatus,
    )
