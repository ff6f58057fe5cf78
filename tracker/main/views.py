"""Home dashboard per party, health check, and the help pages."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import text

from tracker.accounts.principal import current_principal
from tracker.db import db, utcnow
from tracker.habilitations import diagram
from tracker.habilitations.queries import dashboard_requests, expiry_rows
from tracker.habilitations.workflow import RULES, Actor

blueprint = Blueprint("main", __name__)


@blueprint.route("/")
def dashboard() -> Response | str:
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    principal = current_principal()
    if principal.is_dgfip:
        return redirect(url_for("instruction.requests"))
    requests = dashboard_requests(db.session, principal)
    expiring, expired = expiry_rows(db.session, principal, today=utcnow().date(), limit=20)
    return render_template(
        "main/dashboard.html", principal=principal, requests=requests, expiring=expiring, expired=expired
    )


@blueprint.route("/healthz")
def healthz() -> tuple[Response, int]:
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # any failure means "not ready"; the detail goes to the logs, not the probe
        db.session.rollback()
        database = "indisponible"
    status = 200 if database == "ok" else 503
    return jsonify(status="ok" if status == 200 else "degraded", database=database), status


@blueprint.route("/aide/cycle-de-vie")
def lifecycle_help() -> str:
    return render_template(
        "main/lifecycle.html",
        rules=RULES.values(),
        actors=list(Actor),
        numbers=diagram.event_numbers(),
        diagram_svg=diagram.render_svg(),
    )
