"""Issuing and lifecycle actions on a habilitation's access page: record credentials issued by hand,
« Générer les accès » at the API manager, « Renouveler le secret », « Tester la connexion ».

Like every vault route, these answer 503 while the vault is sealed. Secrets never travel back through
HTML (ARCHITECTURE habit 10): the secret and private key inputs are never filled in again, even after a
validation error, and what comes from the API manager goes straight into the vault.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from tracker.accounts.principal import Principal, current_principal
from tracker.db import db
from tracker.forms import SimpleForm
from tracker.habilitations import queries
from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor, ActorNotAllowed, WorkflowError
from tracker.vault import lifecycle, provisioning
from tracker.vault.crypto import VaultIntegrityError
from tracker.vault.models import ApiCredential
from tracker.vault.provisioning import ProvisioningError
from tracker.vault.services import MAX_QUOTA_PER_MINUTE, InvalidCredentials
from tracker.vault.views import refuse_while_sealed

logger = logging.getLogger(__name__)

blueprint = Blueprint("vault_issuing", __name__)
blueprint.before_request(refuse_while_sealed)

RETYPE_SECRET = "Pour votre sécurité, le secret n'est jamais réaffiché : ressaisissez le secret."
RETYPE_PRIVATE_KEY = "Pour votre sécurité, la clé privée n'est jamais réaffichée : ressaisissez-la."
TOO_LONG = "Trop long : %(max)d caractères au maximum."
INTEGRITY_MESSAGE = (
    "Le secret de cet accès ne peut pas être déchiffré (il a été altéré ou déplacé). L'incident est consigné ; "
    "l'équipe d'exploitation doit vérifier le coffre."
)


@blueprint.app_template_global("may_test_connection")
def may_test_connection(credential: ApiCredential) -> bool:
    principal = g.get("principal")
    return principal is not None and lifecycle.can_test(principal, credential)


@blueprint.app_template_global("provisioning_configured")
def provisioning_configured() -> bool:
    return provisioning.is_configured()


class RecordCredentialsForm(FlaskForm):
    client_id = StringField(
        "Identifiant client (client_id)",
        validators=[DataRequired("Saisissez l'identifiant client."), Length(max=255, message=TOO_LONG)],
    )
    client_secret = PasswordField(
        "Secret client (client_secret)",
        validators=[DataRequired("Saisissez le secret client."), Length(max=4096, message=TOO_LONG)],
        description="Conservé chiffré ; il ne s'affichera plus jamais sur cette page.",
    )
    id_teleservice = StringField(
        "ID_Teleservice", validators=[DataRequired("Saisissez l'ID_Teleservice."), Length(max=64, message=TOO_LONG)]
    )
    oauth_scopes = StringField(
        "Scopes OAuth",
        validators=[DataRequired("Indiquez au moins un scope OAuth."), Length(max=500, message=TOO_LONG)],
        description="Ressources séparées par des espaces, par exemple « RessourceIR RessourceIRDerniere2 ».",
    )
    token_url = StringField(
        "Adresse du jeton (token URL)",
        validators=[DataRequired("Saisissez l'adresse du jeton."), Length(max=500, message=TOO_LONG)],
        description="En https://.",
    )
    api_base_url = StringField(
        "Adresse de base de l'API",
        validators=[DataRequired("Saisissez l'adresse de l'API."), Length(max=500, message=TOO_LONG)],
        description="En https://.",
    )
    granted_scopes = StringField(
        "Données accordées",
        validators=[DataRequired("Indiquez les données accordées."), Length(max=4000, message=TOO_LONG)],
        description="Scopes DataPass séparés par des espaces, préremplis d'après l'habilitation.",
    )
    quota_per_minute = IntegerField(
        "Quota (appels par minute)",
        validators=[
            Optional(),
            NumberRange(
                1,
                MAX_QUOTA_PER_MINUTE,
                f"Le quota est un nombre d'appels par minute entre 1 et {MAX_QUOTA_PER_MINUTE}.",
            ),
        ],
        invalid_value_message="Saisissez un nombre entier.",
    )
    expires_on = DateField(
        "Date d'expiration",
        validators=[Optional()],
        description="Facultatif.",
        invalid_value_message="Saisissez une date valide.",
    )
    client_certificate_pem = TextAreaField(
        "Certificat client (PEM)",
        validators=[Optional(), Length(max=65536, message=TOO_LONG)],
        description="Facultatif.",
    )
    private_key_pem = TextAreaField(
        "Clé privée du certificat (PEM, non chiffrée)",
        validators=[Optional(), Length(max=65536, message=TOO_LONG)],
        description="Facultatif ; conservée chiffrée, jamais réaffichée.",
    )

    def forget_secrets(self) -> None:
        """Empty the secret inputs before the form is shown again, and say why they are empty."""
        if self.client_secret.data:
            self.client_secret.errors = [*self.client_secret.errors, RETYPE_SECRET]
        if self.private_key_pem.data:
            self.private_key_pem.errors = [*self.private_key_pem.errors, RETYPE_PRIVATE_KEY]
        self.client_secret.data = self.client_secret.raw_data = None
        self.private_key_pem.data = None
        self.private_key_pem.raw_data = None


def _load(habilitation_id: int) -> tuple[Principal, Habilitation]:
    """404 for a habilitation the user may not see, exactly as for a missing one."""
    principal = current_principal()
    habilitation = db.session.get(Habilitation, habilitation_id)
    if habilitation is None:
        abort(404)
    queries.get_visible_request(db.session, principal, habilitation.request_id)
    return principal, habilitation


def _load_credential(credential_id: int) -> tuple[Principal, ApiCredential]:
    credential = db.session.get(ApiCredential, credential_id)
    if credential is None:
        abort(404)
    principal, _habilitation = _load(credential.habilitation_id)
    return principal, credential


def _require_instructeur(principal: Principal) -> None:
    if principal.actor is not Actor.INSTRUCTEUR:
        abort(403)


def _back_to(habilitation_id: int) -> Response:
    return redirect(url_for("vault.credentials", habilitation_id=habilitation_id))


def _render_record(habilitation: Habilitation, form: RecordCredentialsForm, status: int = 200) -> tuple[str, int]:
    return render_template(
        "vault/issuing_record.html",
        habilitation=habilitation,
        hab_request=habilitation.request,
        form=form,
    ), status


@blueprint.route("/habilitations/<int:habilitation_id>/acces/enregistrer", methods=["GET", "POST"])
@login_required
def record(habilitation_id: int) -> Response | tuple[str, int]:
    principal, habilitation = _load(habilitation_id)
    _require_instructeur(principal)
    form = RecordCredentialsForm()
    if not form.is_submitted():
        granted = provisioning.granted_scopes_of(habilitation)
        form.granted_scopes.data = " ".join(granted)
        form.oauth_scopes.data = " ".join(provisioning.oauth_resources_for(granted))
        form.quota_per_minute.data = provisioning.quota_of(habilitation, 0) or None
        form.expires_on.data = habilitation.expires_on
        return _render_record(habilitation, form)
    if not form.validate():
        form.forget_secrets()
        return _render_record(habilitation, form, 422)
    try:
        lifecycle.record_replacing(
            db.session,
            habilitation,
            principal=principal,
            client_id=form.client_id.data or "",
            client_secret=form.client_secret.data or "",
            id_teleservice=form.id_teleservice.data or "",
            oauth_scopes=(form.oauth_scopes.data or "").split(),
            token_url=form.token_url.data or "",
            api_base_url=form.api_base_url.data or "",
            granted_scopes=(form.granted_scopes.data or "").split(),
            quota_per_minute=form.quota_per_minute.data,
            expires_on=form.expires_on.data,
            client_certificate_pem=form.client_certificate_pem.data,
            private_key_pem=form.private_key_pem.data,
        )
    except InvalidCredentials as error:
        db.session.rollback()
        form.form_errors.append(error.message)
        form.forget_secrets()
        return _render_record(habilitation, form, 422)
    except ActorNotAllowed:
        db.session.rollback()
        abort(403)
    except WorkflowError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back_to(habilitation.id)
    db.session.commit()
    flash("Les accès sont enregistrés ; le secret est conservé chiffré.", "success")
    return _back_to(habilitation.id)


@blueprint.route("/habilitations/<int:habilitation_id>/acces/generer", methods=["POST"])
@login_required
def generate(habilitation_id: int) -> Response:
    principal, habilitation = _load(habilitation_id)
    _require_instructeur(principal)
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        credential = lifecycle.issue_from_api_manager(db.session, habilitation, principal=principal)
    except (ProvisioningError, WorkflowError) as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back_to(habilitation.id)
    db.session.commit()
    flash(
        f"Accès générés auprès du gestionnaire d'API (client {credential.client_id}) ; le secret est conservé "
        "chiffré dans le coffre.",
        "success",
    )
    return _back_to(habilitation.id)


@blueprint.route("/acces/<int:credential_id>/renouveler", methods=["POST"])
@login_required
def rotate(credential_id: int) -> Response:
    principal, credential = _load_credential(credential_id)
    _require_instructeur(principal)
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        lifecycle.rotate(db.session, credential, principal=principal)
    except VaultIntegrityError:
        db.session.commit()  # the integrity alert; nothing else was written before the decryption failed
        flash(INTEGRITY_MESSAGE, "error")
        return _back_to(credential.habilitation_id)
    except (ProvisioningError, WorkflowError) as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back_to(credential.habilitation_id)
    hours = lifecycle.rotation_overlap().total_seconds() / 3600
    db.session.commit()
    flash(
        f"Nouveau secret enregistré ; l'ancien reste accepté pendant {hours:g} heure{'s' if hours > 1 else ''}.",
        "success",
    )
    return _back_to(credential.habilitation_id)


@blueprint.route("/acces/<int:credential_id>/tester", methods=["POST"])
@login_required
def test_connection(credential_id: int) -> Response:
    principal, credential = _load_credential(credential_id)
    if not lifecycle.can_test(principal, credential):
        abort(403)
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        report = lifecycle.check_connection(db.session, credential, principal=principal)
    except VaultIntegrityError:
        db.session.commit()
        flash(INTEGRITY_MESSAGE, "error")
        return _back_to(credential.habilitation_id)
    except WorkflowError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _back_to(credential.habilitation_id)
    db.session.commit()
    flash(report.message, "success" if report.is_ok else "error")
    return _back_to(credential.habilitation_id)
