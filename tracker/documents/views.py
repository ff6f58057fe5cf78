"""Document downloads: to the parties of the request and the DGFiP only, always as an attachment."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, send_file
from flask_login import login_required

from tracker.accounts.principal import current_principal
from tracker.db import db
from tracker.documents.inspection import DocumentKind, download_name
from tracker.documents.models import Document
from tracker.documents.storage import Storage
from tracker.habilitations import queries
from tracker.habilitations.services import audit_request

blueprint = Blueprint("documents", __name__)


def current_storage() -> Storage:
    return current_app.extensions["tracker_storage"]


@blueprint.route("/demandes/<int:request_id>/documents/<int:document_id>")
@login_required
def download(request_id: int, document_id: int) -> Response:
    principal = current_principal()
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    document = db.session.get(Document, document_id)
    if document is None or document.request_id != hab_request.id:
        abort(404)
    audit_request(
        db.session, principal, hab_request, "document.downloaded", {"document": document.id, "sha256": document.sha256}
    )
    db.session.commit()
    response = send_file(
        current_storage().open(document.storage_key),
        mimetype=document.content_type,
        as_attachment=True,
        # The extension follows the checked content, whatever name the file came with.
        download_name=download_name(document.filename, DocumentKind(document.kind)),
        max_age=0,
    )
    # Never rendered by the browser, whatever the file really holds.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
