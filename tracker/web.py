"""Cross-cutting web behaviour: request ids, security headers, error pages, template helpers."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, abort, g, jsonify, render_template, request
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from tracker.audit.services import record_access_refusal
from tracker.db import db

logger = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9-]{8,64}$")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

ERROR_TITLES = {
    400: "Requête invalide",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Méthode non autorisée",
    409: "Conflit",
    413: "Fichier trop volumineux",
    422: "Données invalides",
    429: "Trop de tentatives",
    500: "Erreur inattendue",
    503: "Service momentanément indisponible",
}

ERROR_MESSAGES = {
    400: "La requête n'a pas pu être traitée. Rechargez la page et recommencez.",
    403: "Vous n'avez pas les droits nécessaires pour effectuer cette action.",
    404: "La page que vous cherchez n'existe pas ou vous n'y avez pas accès.",
    405: "Cette action n'est pas possible de cette façon.",
    409: "L'action n'est pas possible dans l'état actuel. Rechargez la page.",
    413: "Le contenu envoyé dépasse la taille maximale autorisée.",
    422: "Les données envoyées sont invalides.",
    429: "Trop de tentatives en peu de temps. Patientez quelques minutes avant de réessayer.",
    500: "Une erreur inattendue s'est produite. L'équipe technique a été prévenue.",
    503: "Le service est momentanément indisponible. Réessayez dans quelques instants.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def render_error(status: int, message: str | None = None, problems: tuple[str, ...] = ()) -> Response:
    text = message or ERROR_MESSAGES.get(status, ERROR_MESSAGES[500])
    if wants_json():
        response = jsonify(error={"status": status, "message": text, "problems": list(problems)})
    else:
        title = ERROR_TITLES.get(status, "Erreur")
        response = Response(
            render_template("errors/error.html", status=status, title=title, message=text, problems=problems)
        )
    response.status_code = status
    return response


def register_web(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex

    @app.before_request
    def _refuse_nul_characters() -> None:
        # No text field has a use for NUL, and PostgreSQL cannot store it: refuse it at the door
        # rather than let it reach a query as a 500.
        fields = (*request.args.listvalues(), *request.form.listvalues())  # every value, not the first per name
        if any("\x00" in value for values in fields for value in values):
            abort(400)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if current_user.is_authenticated:
            # Authenticated pages hold personal and request data: never in a shared or back-button cache.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 500:
            return render_error(500)
        principal = g.get("principal")
        if status == 403 and principal is not None:
            # Every refusal of access is a security event, kept even though the request fails.
            record_access_refusal(db.session, principal.user, principal.organization.id, "route", request.path)
        return render_error(status)

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Response:
        logger.exception("database unavailable", exc_info=error)
        db.session.rollback()
        return render_error(503)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error (request %s)", g.get("request_id"), exc_info=error)
        db.session.rollback()
        return render_error(500)

    @app.template_filter("datetime_fr")
    def _datetime_fr(value: Any) -> str:
        if value is None:
            return "—"
        local = value.astimezone(PARIS)
        return local.strftime("%d/%m/%Y à %H:%M")

    @app.template_filter("date_fr")
    def _date_fr(value: Any) -> str:
        return "—" if value is None else value.strftime("%d/%m/%Y")
