"""DGFiP pages: the instruction list, and taking a request in hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

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

from tracker.accounts.principal import Principal, current_principal
from tracker.audit.services import record
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.db import db, utcnow
from tracker.forms import SMALL_NUMBER, SimpleForm
from tracker.habilitations import queries as request_queries
from tracker.habilitations.deadlines import status_of_deadline
from tracker.habilitations.workflow import Stage, State, WorkflowError
from tracker.instruction import exports, queries, services
from tracker.instruction.adhesion import Adhesion, adhesion_of, is_stalled, tally
from tracker.instruction.filters import (
    ASSIGNED_TO_ME,
    UNASSIGNED,
    DeadlineFilter,
    InstructionFilters,
    SortOrder,
    parse_filters,
)
from tracker.instruction.territories import REGION_OF_DEPARTEMENT, REGIONS, departements_of

blueprint = Blueprint("instruction", __name__)


@blueprint.route("/instruction")
@login_required
def requests() -> str:
    principal = current_principal()
    if not principal.is_dgfip:
        abort(403)
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


@blueprint.route("/adhesion")
@login_required
def adhesion() -> str:
    """Adhesion board for the DGFiP correspondents: France by région, a région by département, a
    département by collectivité (with its status, last move, and whether it is stalled)."""
    principal = current_principal()
    if not principal.is_dgfip:
        abort(403)
    now = utcnow()
    inactive_days = request.args.get("inactif_depuis", "")
    days = int(inactive_days) if SMALL_NUMBER.fullmatch(inactive_days) else current_app.config["STALLED_DAYS"]
    stalled_after = timedelta(days=days)
    region = request.args.get("region", "")
    departement = request.args.get("departement", "").upper()
    if departement in REGION_OF_DEPARTEMENT:
        region, scope = REGION_OF_DEPARTEMENT[departement], (departement,)
    elif region in REGIONS:
        departement, scope = "", departements_of(region)
    else:
        region = departement = ""
        scope = None
    rows = queries.adhesion_rows(db.session, departements=scope)
    statuses = [(row, adhesion_of(row.facts)) for row in rows]
    stalled = {row.id: is_stalled(status, row.facts.last_move_at, now, stalled_after) for row, status in statuses}
    groups: dict[str, list[tuple[Adhesion, bool]]] = {}
    for row, status in statuses:
        code = row.departement_code or ""
        key = code if region else REGION_OF_DEPARTEMENT.get(code, "")
        groups.setdefault(key, []).append((status, stalled[row.id]))
    return render_template(
        "instruction/adhesion.html",
        region=region,
        departement=departement,
        days=days,
        statuses=statuses,
        stalled=stalled,
        tallies={key: tally(values) for key, values in sorted(groups.items())},
        total=tally([value for values in groups.values() for value in values]),
        regions=REGIONS,
        adhesions=list(Adhesion),
        all_state_values=[state.value for state in State],
    )


@blueprint.route("/instruction/export.<extension>")
@login_required
def export(extension: str) -> Response:
    """The list as it is filtered, in CSV or XLSX (every page, not only the one shown)."""
    principal = current_principal()
    if not principal.is_dgfip:
        abort(403)
    if extension not in ("csv", "xlsx"):
        abort(404)
    use_cases = {u.key: u.label for u in IMPOT_PARTICULIER.use_cases}
    filters = parse_filters(request.args.to_dict(flat=False), use_cases=frozenset(use_cases))
    now = utcnow()
    chosen = exports.filled(exports.columns(use_cases), queries.all_rows(db.session, principal, filters, now=now))
    record(
        db.session,
        "requests.exported",
        actor=principal.user,
        organization_id=principal.organization.id,
        details={"format": extension, "filters": filters.query_args()},
    )
    db.session.commit()
    name = f"demandes-{now:%Y-%m-%d}.{extension}"
    if extension == "csv":
        response = Response(_streamed_csv(chosen, principal, filters, now), mimetype="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    else:
        response = send_file(
            exports.xlsx_file(chosen, queries.all_rows(db.session, principal, filters, now=now)),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            as_attachment=True,
            download_name=name,
        )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _streamed_csv(
    chosen: tuple[exports.Column, ...], principal: Principal, filters: InstructionFilters, now: datetime
) -> Iterator[str]:
    """Runs after the view has returned, outside its context: it reads through a session of its own."""
    session = db.session_factory()
    try:
        yield from exports.csv_lines(chosen, queries.all_rows(session, principal, filters, now=now))
    finally:
        session.close()
