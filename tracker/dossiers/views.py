"""Dossier pages: a request's dossiers (snapshots and current), each one's progress and download, and the
public page where anyone checks a dossier's signature."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from tracker.accounts.principal import current_principal
from tracker.db import db
from tracker.documents.views import current_storage
from tracker.dossiers import snapshots
from tracker.dossiers.models import Dossier, DossierStatus
from tracker.dossiers.signing import (
    MAX_VERIFIED_PDF_BYTES,
    SigningNotConfigured,
    configured_trusted_certificates,
    verify_pdf,
)
from tracker.extensions import limiter
from tracker.forms import SimpleForm
from tracker.habilitations import queries
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.services import audit_request

blueprint = Blueprint("dossiers", __name__)

# While a dossier renders, its page reloads itself every few seconds (no script needed).
REFRESH_SECONDS = 2


class VerificationForm(FlaskForm):
    pdf = FileField(
        "Dossier PDF à vérifier",
        description=f"Le fichier reçu, tel quel ; {MAX_VERIFIED_PDF_BYTES // (1024 * 1024)} Mo au maximum.",
        validators=[FileRequired("Choisissez le fichier PDF du dossier.")],
    )


def _visible_dossier(request_id: int, dossier_id: int) -> tuple[HabilitationRequest, Dossier]:
    hab_request = queries.get_visible_request(db.session, current_principal(), request_id)
    dossier = db.session.get(Dossier, dossier_id)
    if dossier is None or dossier.request_id != hab_request.id:
        abort(404)
    return hab_request, dossier


def _kick() -> None:
    snapshots.kick(current_app._get_current_object(), current_storage())  # type: ignore[attr-defined]


@blueprint.route("/demandes/<int:request_id>/dossiers")
@login_required
def index(request_id: int) -> str:
    hab_request = queries.get_visible_request(db.session, current_principal(), request_id)
    dossiers = snapshots.dossiers_of(db.session, hab_request.id)
    if any(dossier.status is DossierStatus.PENDING for dossier in dossiers):
        _kick()
    return render_template(
        "dossiers/index.html", hab_request=hab_request, dossiers=dossiers, form=SimpleForm(), statuses=DossierStatus
    )


@blueprint.route("/demandes/<int:request_id>/dossiers", methods=["POST"])
@login_required
def generate(request_id: int) -> Response:
    """The dossier of the request as it is now: served from storage when its content has not changed."""
    principal = current_principal()
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    dossier = snapshots.current_dossier(db.session, hab_request, requested_by_id=principal.user.id)
    db.session.commit()
    if dossier.status is DossierStatus.PENDING:
        _kick()
    return redirect(url_for("dossiers.show", request_id=request_id, dossier_id=dossier.id))


@blueprint.route("/demandes/<int:request_id>/dossiers/<int:dossier_id>")
@login_required
def show(request_id: int, dossier_id: int) -> Response | str:
    hab_request, dossier = _visible_dossier(request_id, dossier_id)
    if dossier.status is DossierStatus.PENDING:
        _kick()
    response = Response(
        render_template(
            "dossiers/show.html",
            hab_request=hab_request,
            dossier=dossier,
            statuses=DossierStatus,
            refresh_seconds=REFRESH_SECONDS,
            form=SimpleForm(),
        )
    )
    if dossier.status is DossierStatus.PENDING:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@blueprint.route("/demandes/<int:request_id>/dossiers/<int:dossier_id>/pdf")
@login_required
def download(request_id: int, dossier_id: int) -> Response:
    """The stored bytes, as signed: byte for byte the same at every download."""
    principal = current_principal()
    hab_request, dossier = _visible_dossier(request_id, dossier_id)
    if not dossier.is_ready:
        return redirect(url_for("dossiers.show", request_id=request_id, dossier_id=dossier_id))  # type: ignore[return-value]
    audit_request(
        db.session, principal, hab_request, "dossier.downloaded", {"dossier": dossier.id, "sha256": dossier.pdf_sha256}
    )
    db.session.commit()
    stamp = dossier.created_at.strftime("%Y-%m-%d")
    response = Response(snapshots.stored_pdf(dossier), mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="dossier-{hab_request.number}-{dossier.kind.value}-{stamp}.pdf"'
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["ETag"] = f'"{dossier.pdf_sha256}"'
    return response


@blueprint.route("/verification", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def verification() -> tuple[str, int]:
    """Anyone may check a dossier: is the signature the tracker's, is the file intact, is it current?
    The file is read, checked and forgotten: nothing of it is stored."""
    form = VerificationForm()
    if not form.validate_on_submit():
        status = 422 if request.method == "POST" else 200
        return render_template("dossiers/verification.html", form=form, result=None), status
    data = form.pdf.data.stream.read(MAX_VERIFIED_PDF_BYTES + 1)
    try:
        trusted = configured_trusted_certificates(current_app.config)
    except SigningNotConfigured as error:
        return render_template("dossiers/verification.html", form=form, result=None, unavailable=error.message), 503
    result = verify_pdf(data, trusted)
    currentness = snapshots.currentness(db.session, result.dossier) if result.dossier and result.is_valid else None
    return render_template("dossiers/verification.html", form=form, result=result, currentness=currentness), 200
