"""Signing an attestation: the full statement, exactly what it covers, then name, function and consent."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_login import login_required

from tracker.accounts.principal import current_principal
from tracker.attestations.forms import SignatureForm
from tracker.attestations.services import current_attestation
from tracker.db import db
from tracker.forms import attach_error
from tracker.habilitations import queries, services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import WorkflowError

blueprint = Blueprint("attestations", __name__)


def _render(hab_request: HabilitationRequest, kind: str, form: SignatureForm, status: int) -> tuple[str, int]:
    definition = services.api_definition(hab_request).attestation(kind)
    api = services.api_definition(hab_request)
    return render_template(
        "attestations/sign.html",
        hab_request=hab_request,
        definition=definition,
        sections=[(api.section(key), hab_request.section(definition.stage, key)) for key in definition.sections],
        content=services.covered(hab_request, definition),
        current=current_attestation(hab_request, kind),
        can_sign=services.can_sign(hab_request, definition, current_principal()),
        form=form,
    ), status


@blueprint.route("/demandes/<int:request_id>/attestations/<kind>", methods=["GET", "POST"])
@login_required
def sign(request_id: int, kind: str) -> Response | tuple[str, int]:
    principal = current_principal()
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    if kind not in {a.key for a in services.api_definition(hab_request).attestations}:
        abort(404)
    definition = services.api_definition(hab_request).attestation(kind)
    form = SignatureForm()
    if not form.is_submitted():
        form = SignatureForm(
            formdata=None,
            data={
                "version": hab_request.version,
                "statement_version": definition.statement.version,
                "signer_name": principal.user.full_name,
                "signer_function": principal.user.job_title or "",
            },
        )
        return _render(hab_request, kind, form, 200)
    if not form.validate():
        return _render(hab_request, kind, form, 422)
    try:
        attestation = services.sign_attestation(
            db.session,
            hab_request,
            kind,
            principal=principal,
            signer_name=form.signer_name.data,
            signer_function=form.signer_function.data,
            statement_version=form.statement_version.data or "",
            expected_version=form.expected_version,
        )
    except WorkflowError as error:
        db.session.rollback()
        if error.http_status == 403:
            abort(403)
        hab_request = queries.get_visible_request(db.session, principal, request_id)
        attach_error(form, None, " ".join((error.message, *error.problems)))
        form.version.data = str(hab_request.version)
        return _render(hab_request, kind, form, error.http_status)
    db.session.commit()
    flash(
        f"« {definition.label} » signée (empreinte SHA-256 du contenu {attestation.content_sha256[:12]}…).",
        "success",
    )
    return redirect(url_for("habilitations.detail", request_id=hab_request.id, _anchor="attestations"))
