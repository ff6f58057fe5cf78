"""Connector tokens: the pages that list, create (shown once) and revoke them, and the connector's JSON API.

``GET /api/v1/connector/credentials`` authenticates with ``Authorization: Bearer <token>`` only: no
cookie, no CSRF (it is not a browser form), JSON in every answer, ``Cache-Control: no-store``,
rate-limited per token. Every route answers 503 while the vault is sealed.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException
from wtforms import DateField, StringField
from wtforms.validators import DataRequired, Length, Optional

from tracker.accounts.principal import current_principal
from tracker.db import db, utcnow
from tracker.extensions import csrf, limiter
from tracker.forms import SimpleForm, attach_error
from tracker.habilitations import queries
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import WorkflowError
from tracker.vault import connector
from tracker.vault.connector import ConnectorRefused, RefusalCode
from tracker.vault.crypto import VaultIntegrityError
from tracker.vault.keys import VaultSealed
from tracker.vault.models import ConnectorToken
from tracker.vault.reveal import may_hand_over
from tracker.vault.reveal_views import blueprint as reveal_blueprint
from tracker.vault.state import open_key_ring
from tracker.vault.views import SEALED_MESSAGE, refuse_while_sealed

logger = logging.getLogger(__name__)

blueprint = Blueprint("connector", __name__)
blueprint.before_request(refuse_while_sealed)
api_blueprint = Blueprint("connector_api", __name__, url_prefix="/api/v1/connector")


def register_handover(app: Flask) -> None:
    """The reveal pages, the connector token pages and the connector API; the API takes no CSRF token."""
    app.register_blueprint(reveal_blueprint)
    app.register_blueprint(blueprint)
    csrf.exempt(api_blueprint)
    app.register_blueprint(api_blueprint)
    app.add_template_global(_viewer_may_hand_over, "may_hand_over")


def _viewer_may_hand_over(habilitation: Habilitation) -> bool:
    """For the access page: whether to offer the reveal buttons and the connector tokens."""
    principal = g.get("principal")
    return principal is not None and may_hand_over(principal, habilitation)


# --- pages ----------------------------------------------------------------------------------------------


class ConnectorTokenForm(FlaskForm):
    name = StringField(
        "Nom du jeton",
        description="Pour le reconnaître : le serveur ou l'environnement qui l'utilise.",
        validators=[
            DataRequired("Donnez un nom au jeton."),
            Length(max=connector.MAX_NAME_LENGTH, message=f"{connector.MAX_NAME_LENGTH} caractères au maximum."),
        ],
    )
    expires_on = DateField(
        "Date d'expiration",
        description="Un an par défaut (si vous la laissez vide), deux ans au plus.",
        validators=[Optional()],
    )


def _load_habilitation(habilitation_id: int) -> Habilitation:
    """Load (404 unless visible, same answer as missing) then authorize (403 for the other parties)."""
    principal = current_principal()
    habilitation = db.session.get(Habilitation, habilitation_id)
    if habilitation is None:
        abort(404)
    queries.get_visible_request(db.session, principal, habilitation.request_id)
    if not may_hand_over(principal, habilitation):
        abort(403)
    return habilitation


def _tokens_page(habilitation: Habilitation, form: ConnectorTokenForm, status: int = 200) -> Response:
    page = render_template(
        "vault/connector_tokens.html",
        habilitation=habilitation,
        tokens=connector.tokens_of(db.session, habilitation.id),
        form=form,
        revoke_form=SimpleForm(),
        today=utcnow().date(),
    )
    return make_response(page, status)


@blueprint.route("/habilitations/<int:habilitation_id>/connecteur", methods=["GET", "POST"])
@login_required
def tokens(habilitation_id: int) -> Response:
    habilitation = _load_habilitation(habilitation_id)
    form = ConnectorTokenForm()
    if request.method == "GET":
        form.expires_on.data = connector.default_expiry(utcnow().date())
        return _tokens_page(habilitation, form)
    if not form.validate_on_submit():
        return _tokens_page(habilitation, form, 422)
    expires_on: date | None = form.expires_on.data
    try:
        token, clear = connector.create_token(
            db.session, habilitation, principal=current_principal(), name=form.name.data, expires_on=expires_on
        )
    except connector.InvalidConnectorToken as error:
        db.session.rollback()
        attach_error(form, error.field, error.message)
        return _tokens_page(habilitation, form, 422)
    except WorkflowError as error:
        db.session.rollback()
        abort(error.http_status)
    db.session.commit()
    page = render_template("vault/connector_token_created.html", habilitation=habilitation, token=token, clear=clear)
    response = make_response(page, 201)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@blueprint.route("/habilitations/<int:habilitation_id>/connecteur/<int:token_id>/revoquer", methods=["POST"])
@login_required
def revoke(habilitation_id: int, token_id: int) -> Response:
    habilitation = _load_habilitation(habilitation_id)
    token = db.session.get(ConnectorToken, token_id)
    if token is None or token.habilitation_id != habilitation.id:
        abort(404)
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        connector.revoke_token(db.session, token, principal=current_principal())
    except WorkflowError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(url_for("connector.tokens", habilitation_id=habilitation.id))
    db.session.commit()
    flash(f"Le jeton « {token.name} » est révoqué : le connecteur qui l'utilise n'a plus accès.", "success")
    return redirect(url_for("connector.tokens", habilitation_id=habilitation.id))


# --- the connector API ----------------------------------------------------------------------------------


def _json_error(status: int, code: str, message: str) -> Response:
    response = jsonify(error={"status": status, "code": code, "message": message})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="connector"'
    return response


def _refusal(code: RefusalCode) -> Response:
    return _json_error(code.http_status, code.value, code.message)


def _calls_per_minute() -> str:
    return current_app.config["CONNECTOR_CALLS_PER_MINUTE"]


def _token_key() -> str:
    """One bucket per presented token (its hash: the clear token goes into no store), or per address."""
    authorization = request.headers.get("Authorization", "")
    if authorization:
        return "connector:" + hashlib.sha256(authorization.encode("utf-8")).hexdigest()
    return "connector-address:" + (request.remote_addr or "inconnu")


@api_blueprint.errorhandler(429)
def _rate_limited(error: HTTPException) -> Response:
    # The app's handler would answer the generic JSON error; the connector gets its stable code.
    return _json_error(429, "rate_limited", "Trop d'appels avec ce jeton : patientez une minute avant de réessayer.")


@api_blueprint.before_request
def _refuse_while_sealed() -> Response | None:
    try:
        open_key_ring(db.session)
    except VaultSealed as sealed:
        logger.error("connector API refused: %s", sealed.message)
        return _json_error(503, "vault_sealed", SEALED_MESSAGE)
    return None


@api_blueprint.route("/credentials")
@limiter.limit(_calls_per_minute, key_func=_token_key)
def credentials() -> Response:
    try:
        clear = connector.bearer_token(request.headers.get("Authorization"))
    except ConnectorRefused as refusal:
        return _refusal(refusal.code)
    token = connector.find_token(db.session, clear)
    if token is None:
        logger.warning("connector API: unknown token presented from %s", request.remote_addr)
        return _refusal(RefusalCode.TOKEN_INVALID)
    keys = open_key_ring(db.session)
    try:
        bundle = connector.fetch_bundle(db.session, token, keys=keys)
    except ConnectorRefused as refusal:
        db.session.commit()  # the refusal's audit entry
        return _refusal(refusal.code)
    except VaultIntegrityError:
        db.session.commit()  # the integrity alert, kept though the call fails
        return _json_error(
            500,
            "credentials_unreadable",
            "Les accès conservés sont illisibles ; l'équipe d'exploitation a été prévenue.",
        )
    # Fail closed: the call's audit entry is durable before the bundle leaves the server.
    db.session.commit()
    response = jsonify(bundle)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
