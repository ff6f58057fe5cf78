"""Revealing a secret once: re-enter the password, get a one-time link, post it, see the secret once.

Neither the secret nor the link's token ever travels in a URL: the token sits in a hidden field of the
page that the password POST answers, and the secret only in the answer to that page's own POST, with
``Cache-Control: no-store``. Every route answers 503 while the vault is sealed.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, make_response, render_template
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField
from wtforms.validators import DataRequired

from tracker.accounts.principal import current_principal
from tracker.db import db
from tracker.extensions import limiter
from tracker.habilitations import queries
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import WorkflowError
from tracker.vault import reveal
from tracker.vault.crypto import VaultIntegrityError
from tracker.vault.models import ApiCredential, SecretField
from tracker.vault.reveal import LINK_LIFETIME
from tracker.vault.state import open_key_ring
from tracker.vault.views import refuse_while_sealed
from tracker.web import render_error

logger = logging.getLogger(__name__)

blueprint = Blueprint("vault_reveal", __name__)
blueprint.before_request(refuse_while_sealed)

# URL segment → field, in French for the address bar.
FIELDS_BY_SEGMENT = {"secret-client": SecretField.CLIENT_SECRET, "cle-privee": SecretField.PRIVATE_KEY}
FIELD_LABELS = {SecretField.CLIENT_SECRET: "le secret client", SecretField.PRIVATE_KEY: "la clé privée du certificat"}
INTEGRITY_MESSAGE = (
    "Ce secret ne peut pas être déchiffré : la donnée conservée a été altérée. L'équipe d'exploitation a été "
    "prévenue ; la DGFiP devra délivrer un nouvel accès."
)


class RevealPasswordForm(FlaskForm):
    password = PasswordField(
        "Votre mot de passe",
        description="Pour afficher un secret, confirmez votre identité.",
        validators=[DataRequired("Saisissez votre mot de passe.")],
    )


class RevealLinkForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])


def _failure_limit() -> str:
    return current_app.config["VAULT_REVEAL_FAILURES_PER_USER"]


def _user_key() -> str:
    return f"reveal:{current_user.get_id()}"


def _password_refused(response: Response) -> bool:
    return response.status_code == 401


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _load_credential(habilitation_id: int, credential_id: int) -> tuple[Habilitation, ApiCredential]:
    """Load (404 unless visible, same answer as missing) then authorize (403 for the other parties)."""
    principal = current_principal()
    credential = db.session.get(ApiCredential, credential_id)
    if credential is None or credential.habilitation_id != habilitation_id:
        abort(404)
    habilitation = credential.habilitation
    queries.get_visible_request(db.session, principal, habilitation.request_id)
    if not reveal.may_hand_over(principal, habilitation):
        abort(403)
    return habilitation, credential


@blueprint.route(
    "/habilitations/<int:habilitation_id>/acces/<int:credential_id>/afficher"
    "/<any('secret-client', 'cle-privee'):segment>",
    methods=["GET", "POST"],
)
@limiter.limit(_failure_limit, methods=["POST"], key_func=_user_key, deduct_when=_password_refused)
@login_required
def confirm_password(habilitation_id: int, credential_id: int, segment: str) -> Response:
    habilitation, credential = _load_credential(habilitation_id, credential_id)
    secret_field = FIELDS_BY_SEGMENT[segment]
    if credential.envelope(secret_field) is None:
        abort(404)
    form = RevealPasswordForm()
    context = {
        "habilitation": habilitation,
        "credential": credential,
        "field_label": FIELD_LABELS[secret_field],
        "form": form,
    }
    status = 200
    if form.validate_on_submit():
        open_key_ring(db.session)
        try:
            token = reveal.request_reveal_link(
                db.session,
                credential,
                principal=current_principal(),
                password=form.password.data,
                secret_field=secret_field,
            )
        except reveal.WrongPassword as error:
            db.session.commit()  # the failed attempt's audit entry
            form.password.errors = [error.message]
            status = 401
        except WorkflowError as error:
            db.session.rollback()
            return render_error(error.http_status, error.message)
        else:
            db.session.commit()
            link_form = RevealLinkForm(formdata=None, token=token)
            page = render_template(
                "vault/reveal_link.html",
                **context,
                link_form=link_form,
                lifetime_minutes=int(LINK_LIFETIME.total_seconds() // 60),
            )
            return _no_store(make_response(page))
    elif form.errors:
        status = 422
    return _no_store(make_response(render_template("vault/reveal_password.html", **context), status))


@blueprint.route("/acces/afficher", methods=["POST"])
@login_required
def show_secret() -> Response:
    principal = current_principal()
    form = RevealLinkForm()
    if not form.validate_on_submit():
        abort(400)
    keys = open_key_ring(db.session)
    try:
        revealed = reveal.use_reveal_link(db.session, form.token.data, principal=principal, keys=keys)
    except reveal.RevealLinkNotFound:
        db.session.rollback()
        abort(404)
    except VaultIntegrityError:
        # The link is spent and the alert written: both are kept, though no secret is shown.
        db.session.commit()
        return _no_store(render_error(500, INTEGRITY_MESSAGE))
    except WorkflowError as error:
        db.session.rollback()
        return _no_store(render_error(error.http_status, error.message))
    # Fail closed: the audit entry of this reveal is durable before the secret leaves the server.
    db.session.commit()
    page = render_template(
        "vault/reveal_secret.html",
        habilitation=revealed.credential.habilitation,
        credential=revealed.credential,
        field_label=FIELD_LABELS[revealed.secret_field],
        is_private_key=revealed.secret_field is SecretField.PRIVATE_KEY,
        secret=revealed.plaintext,
    )
    return _no_store(make_response(page))
