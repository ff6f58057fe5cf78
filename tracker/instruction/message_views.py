"""Pages where DGFiP administrators keep the message templates of the decisions; every DGFiP user reads them."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from tracker.accounts.principal import Principal, current_dgfip_principal
from tracker.db import db
from tracker.forms import SimpleForm, attach_error
from tracker.habilitations.services import InvalidInput
from tracker.habilitations.workflow import RULES, Event, WorkflowError
from tracker.instruction import messages
from tracker.instruction.models import MessageTemplate

blueprint = Blueprint("messages", __name__)


class MessageTemplateForm(FlaskForm):
    event = SelectField(
        "Décision",
        choices=[SelectChoice(event.value, RULES[event].label) for event in messages.DECISIONS],
        validators=[DataRequired("Choisissez une décision.")],
    )
    title = StringField(
        "Titre du modèle",
        description="Ce que l'instructeur lit dans la liste des modèles, par exemple « Pièce manquante ».",
        validators=[
            DataRequired("Indiquez un titre."),
            Length(max=messages.TITLE_MAX_LENGTH, message=f"{messages.TITLE_MAX_LENGTH} caractères au maximum."),
        ],
    )
    body = TextAreaField(
        "Texte du message",
        validators=[
            DataRequired("Indiquez le texte du message."),
            Length(max=messages.BODY_MAX_LENGTH, message=f"{messages.BODY_MAX_LENGTH} caractères au maximum."),
        ],
    )


def _require_manager() -> Principal:
    principal = current_dgfip_principal()
    if not messages.can_manage(principal):
        abort(403)
    return principal


def _template_or_404(template_id: int) -> MessageTemplate:
    template = db.session.get(MessageTemplate, template_id)
    if template is None:
        abort(404)
    return template


@blueprint.route("/instruction/modeles")
@login_required
def index() -> str:
    principal = current_dgfip_principal()
    return render_template(
        "instruction/message_templates.html",
        grouped=messages.templates_by_decision(db.session),
        rules=RULES,
        can_manage=messages.can_manage(principal),
        variables=messages.VARIABLES,
        delete_form=SimpleForm(),
    )


def _render_form(form: MessageTemplateForm, template: MessageTemplate | None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "instruction/message_template_form.html", form=form, template=template, variables=messages.VARIABLES
    ), status


def _save(form: MessageTemplateForm, template: MessageTemplate | None) -> Response | tuple[str, int]:
    principal = _require_manager()
    if not form.validate_on_submit():
        return _render_form(form, template, 422)
    fields = {"event": Event(form.event.data), "title": form.title.data, "body": form.body.data}
    try:
        if template is None:
            messages.create_template(db.session, principal=principal, **fields)
        else:
            messages.update_template(db.session, template, principal=principal, **fields)
    except InvalidInput as error:
        db.session.rollback()
        field = "title" if isinstance(error, messages.DuplicateTitle) else "body"
        attach_error(form, field, error.message)
        return _render_form(form, template, 422)
    db.session.commit()
    flash("Modèle de message enregistré.", "success")
    return redirect(url_for("messages.index", _anchor=f"decision-{fields['event'].value}"))


@blueprint.route("/instruction/modeles/nouveau", methods=["GET", "POST"])
@login_required
def create() -> Response | tuple[str, int]:
    _require_manager()
    form = MessageTemplateForm()
    if request.method == "GET" and request.args.get("decision") in {e.value for e in messages.DECISIONS}:
        form.event.data = request.args["decision"]
    if request.method == "GET":
        return _render_form(form, None)
    return _save(form, None)


@blueprint.route("/instruction/modeles/<int:template_id>", methods=["GET", "POST"])
@login_required
def edit(template_id: int) -> Response | tuple[str, int]:
    _require_manager()
    template = _template_or_404(template_id)
    form = MessageTemplateForm(obj=template)
    if request.method == "GET":
        return _render_form(form, template)
    return _save(form, template)


@blueprint.route("/instruction/modeles/<int:template_id>/suppression", methods=["POST"])
@login_required
def delete(template_id: int) -> Response:
    principal = _require_manager()
    template = _template_or_404(template_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    title = template.title
    try:
        messages.delete_template(db.session, template, principal=principal)
    except WorkflowError as error:
        db.session.rollback()
        abort(error.http_status)
    db.session.commit()
    flash(f"Modèle « {title} » supprimé.", "success")
    return redirect(url_for("messages.index"))
