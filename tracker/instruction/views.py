"""DGFiP pages: the instruction list, and taking a request in hand."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import login_required
from sqlalchemy.orm import Session

from tracker.accounts.principal import Principal, current_dgfip_principal, current_principal
from tracker.audit.services import record
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.db import db, utcnow
from tracker.forms import SMALL_NUMBER, SimpleForm
from tracker.habilitations import queries as request_queries
from tracker.habilitations.deadlines import status_of_deadline
from tracker.habilitations.workflow import Stage, State, WorkflowError
from tracker.instruction import exports, queries, services
from tracker.instruction.adhesion import Adhesion, Tally, adhesion_of, is_stalled, tally
from tracker.instruction.filters import (
    ASSIGNED_TO_ME,
    UNASSIGNED,
    DeadlineFilter,
    SortOrder,
    parse_filters,
)
from tracker.instruction.territories import REGION_OF_DEPARTEMENT, REGIONS, departements_of

blueprint = Blueprint("instruction", __name__)


@blueprint.route("/instruction")
@login_required
def requests() -> str:
    principal = current_dgfip_principal()
    use_cases = {u.key: u.label for u in IMPOT_PARTICULIER.use_cases}
    filters = parse_filters(request.args.to_dict(flat=False), use_cases=frozenset(use_cases))
    now = utcnow()
    rows, total = queries.search(db.session, principal, filters, now=now)
    return render_template(
        "instruction/requests.html",
        filters=filters,
        rows=rows,
        total=total,
        page_size=queries.PAGE_SIZE,
        all_states=list(State),
        stages=list(Stage),
        use_cases=use_cases,
        regions=REGIONS,
        instructors=queries.instructors(db.session),
        deadline_filters=list(DeadlineFilter),
        sort_orders=list(SortOrder),
        assigned_to_me=ASSIGNED_TO_ME,
        unassigned=UNASSIGNED,
        now=now,
        counters=queries.counters(db.session, principal, now=now),
        status_of_deadline=status_of_deadline,
        options=lambda members: [(member.value, member.label) for member in members],
    )


@blueprint.route("/demandes/<int:request_id>/prise-en-charge", methods=["POST"])
@login_required
def assignment(request_id: int) -> Response:
    """« Prendre en charge » (also to take over from a colleague) or « Libérer »."""
    principal = current_principal()
    hab_request = request_queries.get_visible_request(db.session, principal, request_id)
    if not SimpleForm().validate_on_submit():
        abort(400)
    try:
        if request.form.get("action") == "liberer":
            services.release(db.session, hab_request, principal=principal)
            message = "La demande n'est plus prise en charge."
        else:
            services.take_over(db.session, hab_request, principal=principal)
            message = "Vous avez pris la demande en charge."
    except WorkflowError as error:
        db.session.rollback()
        abort(error.http_status)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("habilitations.detail", request_id=hab_request.id))


@blueprint.route("/demandes/<int:request_id>/notes", methods=["POST"])
@login_required
def add_note(request_id: int) -> Response:
    """An internal note (DGFiP only). The field is required and capped in the page itself, so a refusal
    here only meets a hand-made request; the message says why."""
    principal = current_principal()
    hab_request = request_queries.get_visible_request(db.session, principal, request_id)
    if not principal.is_dgfip:
        abort(404)  # the parties must not even learn that notes exist
    if not SimpleForm().validate_on_submit():
        abort(400)
    body = request.form.get("note", "")
    try:
        services.add_note(db.session, hab_request, body, principal=principal)
    except WorkflowError as error:
        db.session.rollback()
        if error.http_status == 403:
            abort(403)
        flash(error.message, "error")
        return redirect(url_for("habilitations.detail", request_id=hab_request.id, _anchor="notes"))
    db.session.commit()
    flash("Note interne enregistrée.", "success")
    return redirect(url_for("habilitations.detail", request_id=hab_request.id, _anchor="notes"))


@dataclass(frozen=True)
class AdhesionScope:
    """Which part of France the board shows, read from the URL, and the stalled threshold."""

    region: str
    departement: str
    departements: tuple[str, ...] | None
    days: int

    @classmethod
    def from_request(cls) -> AdhesionScope:
        inactive = request.args.get("inactif_depuis", "")
        days = int(inactive) if SMALL_NUMBER.fullmatch(inactive) else current_app.config["STALLED_DAYS"]
        region = request.args.get("region", "")
        departement = request.args.get("departement", "").upper()
        if departement in REGION_OF_DEPARTEMENT:
            return cls(REGION_OF_DEPARTEMENT[departement], departement, (departement,), days)
        if region in REGIONS:
            return cls(region, "", departements_of(region), days)
        return cls("", "", None, days)

    def args(self) -> dict[str, str | int]:
        chosen = {"region": self.region, "departement": self.departement}
        return {**{key: value for key, value in chosen.items() if value}, "inactif_depuis": self.days}


def _adhesion_statuses(scope: AdhesionScope) -> list[tuple[queries.CollectiviteRow, Adhesion, bool]]:
    now, stalled_after = utcnow(), timedelta(days=scope.days)
    rows = queries.adhesion_rows(db.session, departements=scope.departements)
    return [
        (row, status, is_stalled(status, row.facts.last_move_at, now, stalled_after))
        for row in rows
        for status in (adhesion_of(row.facts),)
    ]


@blueprint.route("/adhesion")
@login_required
def adhesion() -> str:
    """Adhesion board for the DGFiP correspondents: France by région, a région by département, a
    département by collectivité (with its status, last move, and whether it is stalled). France and a
    région are counted by the database; only a département lists its collectivités one by one."""
    current_dgfip_principal()
    scope = AdhesionScope.from_request()
    statuses = []
    if scope.departement:
        statuses = _adhesion_statuses(scope)
        by_departement = {scope.departement: tally([(status, stalled) for _row, status, stalled in statuses])}
    else:
        by_departement = queries.adhesion_tallies(
            db.session, departements=scope.departements, now=utcnow(), stalled_after=timedelta(days=scope.days)
        )
    tallies: dict[str, Tally] = {}
    for code, counted in by_departement.items():
        key = code if scope.region else REGION_OF_DEPARTEMENT.get(code, "")
        tallies[key] = tallies.get(key, Tally.empty()) + counted
    return render_template(
        "instruction/adhesion.html",
        region=scope.region,
        departement=scope.departement,
        days=scope.days,
        export_args=scope.args(),
        statuses=statuses,
        tallies=dict(sorted(tallies.items())),
        total=sum(tallies.values(), Tally.empty()),
        regions=REGIONS,
        adhesions=list(Adhesion),
        all_state_values=[state.value for state in State],
    )


@blueprint.route("/adhesion/export.<extension>")
@login_required
def adhesion_export(extension: str) -> Response:
    """Every collectivité of the board's current scope, one row each."""
    principal = current_dgfip_principal()
    if extension not in ("csv", "xlsx"):
        abort(404)
    scope = AdhesionScope.from_request()
    statuses = _adhesion_statuses(scope)
    _audit_export(principal, "adhesion.exported", extension, scope.args())
    chosen = exports.filled(exports.adhesion_columns(), statuses)
    return _export_response(chosen, lambda _session: statuses, extension, "adhesion")


def _audit_export(principal: Principal, action: str, extension: str, args: dict) -> None:  # type: ignore[type-arg]
    record(
        db.session,
        action,
        actor=principal.user,
        organization_id=principal.organization.id,
        details={"format": extension, "filters": args},
    )
    db.session.commit()


def _export_response(
    chosen: tuple[exports.Column, ...], rows_from: Callable[[Session], Iterable[Any]], extension: str, name: str
) -> Response:
    """``rows_from(session)`` gives the rows. The CSV is streamed after the view has returned, outside its
    context: it reads through a session of its own."""
    filename = f"{name}-{utcnow():%Y-%m-%d}.{extension}"
    if extension == "csv":

        def lines() -> Iterator[str]:
            session = db.session_factory()
            try:
                yield from exports.csv_lines(chosen, rows_from(session))
            finally:
                session.close()

        response = Response(lines(), mimetype="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    else:
        response = send_file(
            exports.xlsx_file(chosen, rows_from(db.session), name.capitalize()),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            as_attachment=True,
            download_name=filename,
        )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blueprint.route("/instruction/export.<extension>")
@login_required
def export(extension: str) -> Response:
    """The list as it is filtered, in CSV or XLSX (every page, not only the one shown)."""
    principal = current_dgfip_principal()
    if extension not in ("csv", "xlsx"):
        abort(404)
    use_cases = {u.key: u.label for u in IMPOT_PARTICULIER.use_cases}
    filters = parse_filters(request.args.to_dict(flat=False), use_cases=frozenset(use_cases))
    now = utcnow()

    def rows_from(session: Session) -> Iterator[queries.InstructionRow]:
        return queries.all_rows(session, principal, filters, now=now)

    chosen = exports.filled(exports.request_columns(use_cases), rows_from(db.session))
    _audit_export(principal, "requests.exported", extension, filters.query_args())
    return _export_response(chosen, rows_from, extension, "demandes")
