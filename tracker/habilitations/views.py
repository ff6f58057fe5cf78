"""Request pages. Every view follows one order: load (404 if not visible) → authorize → validate the form →
call one service → commit → redirect.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required

from tracker.accounts.principal import Principal, current_principal
from tracker.attestations.services import current_attestation
from tracker.catalogue import CATALOGUE, IMPOT_PARTICULIER
from tracker.catalogue import scopes as scope_catalogue
from tracker.catalogue.definitions import SectionDefinition
from tracker.db import db, utcnow
from tracker.documents import queries as document_queries
from tracker.documents import services as document_services
from tracker.documents.services import Upload
from tracker.documents.views import current_storage
from tracker.forms import SMALL_NUMBER, attach_error
from tracker.habilitations import queries, services
from tracker.habilitations.changelog import display_value
from tracker.habilitations.forms import (
    WITH_EDITEUR_PATH,
    CguForm,
    CreateRequestForm,
    EventForm,
    PartiesForm,
    choices,
    data_to_form,
    form_to_data,
    section_form_class,
)
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.parties import Hosting, PartyContact, PartyError, designate_parties, hosting_of
from tracker.habilitations.workflow import (
    CONSEQUENCES,
    EDITABLE,
    RULES,
    Actor,
    Event,
    ReasonRequired,
    RequestFacts,
    Stage,
    WorkflowError,
    available_events,
)
from tracker.instruction import messages
from tracker.instruction.decisions import EmailPreview, preview_emails
from tracker.instruction.services import NOTE_MAX_LENGTH, notes_of
from tracker.products import queries as product_queries
from tracker.products.models import SoftwareProduct
from tracker.products.services import ProductError

blueprint = Blueprint("habilitations", __name__)


def _refuse(error: WorkflowError) -> None:
    """Undo what the refused service call touched; a 403 is answered (and audited) by the error handler."""
    db.session.rollback()
    if error.http_status == 403:
        abort(403)


def _event_form(hab_request: HabilitationRequest, event: Event, **kwargs: Any) -> EventForm:
    form = EventForm(prefix=event.value, **kwargs)
    if event is Event.REQUEST_CHANGES:
        form.sections.choices = choices((s.key, s.label) for s in services.definitions_in_form(hab_request))
    return form


def _event_forms(hab_request: HabilitationRequest, principal: Principal, facts: RequestFacts) -> dict[Event, EventForm]:
    return {
        event: _event_form(hab_request, event, formdata=None, version=hab_request.version, request_id=hab_request.id)
        for event in available_events(facts, services.actor_on(hab_request, principal))
    }


def _template_choices(
    hab_request: HabilitationRequest, events: Iterable[Event]
) -> dict[Event, list[messages.TemplateChoice]]:
    """The message templates of the decisions on offer, filled in for this request (none queried otherwise)."""
    if not set(events) & set(messages.DECISIONS):
        return {}
    templates = messages.templates_by_decision(db.session)
    return messages.choices_for(templates, hab_request, current_app.config["BASE_URL"])


def _render_detail(
    hab_request: HabilitationRequest,
    principal: Principal,
    *,
    status: int = 200,
    error: WorkflowError | None = None,
    open_form: tuple[Event, EventForm] | None = None,
    previews: list[EmailPreview] | None = None,
    cgu_form: CguForm | None = None,
) -> tuple[str, int]:
    """``open_form``: the decision dialog to show open again, as submitted (a refused form, or a preview)."""
    definition = services.api_definition(hab_request)
    facts = services.facts_for(hab_request)
    event_forms = _event_forms(hab_request, principal, facts)
    if open_form is not None and open_form[0] in event_forms:
        event_forms[open_form[0]] = open_form[1]
    timeline = queries.timeline(db.session, hab_request.id)
    sections = [
        {
            "definition": section_definition,
            "row": hab_request.section(section_definition.stage, section_definition.key),
            "is_editable": services.can_edit_section(hab_request, section_definition, principal),
        }
        for section_definition in definition.required_sections(hab_request.stage)
    ]
    # Who signed each attested section: its valid attestation says so (no query for user names).
    attesters = {
        key: attestation.signer_name
        for attestation in hab_request.attestations
        if attestation.is_valid
        for key in attestation.sections
    }
    attestation_rows = [
        {
            "definition": attestation,
            "current": current_attestation(hab_request, attestation.key),
            "can_sign": services.can_sign(hab_request, attestation, principal),
            "section_labels": [definition.section(key).label for key in attestation.sections],
        }
        for attestation in definition.attestations
        if attestation.stage is Stage.SANDBOX or hab_request.stage is Stage.PRODUCTION
    ]
    actor = services.actor_on(hab_request, principal)
    can_accept_cgu = actor is Actor.COLLECTIVITE and hab_request.state in EDITABLE
    return render_template(
        "habilitations/detail.html",
        hab_request=hab_request,
        principal=principal,
        actor=actor,
        attestation_rows=attestation_rows,
        definition=definition,
        sections=sections,
        attesters=attesters,
        event_forms=event_forms,
        open_event=open_form[0] if open_form is not None else None,
        previews=previews,
        template_choices=_template_choices(hab_request, event_forms),
        rules=RULES,
        decision_consequences=CONSEQUENCES,
        timeline=timeline,
        blockers=facts.submission_blockers if Event.SUBMIT in event_forms else (),
        error=error,
        cgu=definition.current_cgu[hab_request.stage],
        cgu_form=cgu_form or (CguForm(formdata=None, version=hab_request.version) if can_accept_cgu else None),
        habilitations=hab_request.habilitations,
        # Internal notes: read for DGFiP only, never even queried for a party.
        notes=notes_of(db.session, hab_request) if principal.is_dgfip else None,
        note_max_length=NOTE_MAX_LENGTH,
    ), status


def _product_choices(principal: Principal) -> list[tuple[str, str]]:
    """An éditeur picks one of its products; a collectivité, a product ready for production."""
    if principal.actor is Actor.EDITEUR:
        return [
            (str(row.product.id), row.product.label)
            for row in product_queries.products_of(db.session, principal.organization.id)
        ]
    return [
        (str(product.id), f"{product.label} – {editeur.name} (bac à sable {habilitation.number})")
        for product, editeur, habilitation in product_queries.products_ready_for_production(db.session)
    ]


def _create_from(form: CreateRequestForm, principal: Principal) -> HabilitationRequest:
    """The service call the creation form asks for; a product error is tied to its field."""
    wants_product = principal.actor is Actor.EDITEUR or form.path.data == WITH_EDITEUR_PATH
    if not wants_product:
        return services.create_request(db.session, principal=principal, use_case=form.use_case.data)
    product_id = form.product_id.data or ""
    product = db.session.get(SoftwareProduct, int(product_id)) if SMALL_NUMBER.fullmatch(product_id) else None
    if product is None:
        raise ProductError("Choisissez un logiciel de la liste.", field="product_id")
    if principal.actor is Actor.EDITEUR:
        return services.create_request(db.session, principal=principal, use_case=form.use_case.data, product=product)
    return services.create_request(
        db.session, principal=principal, use_case=form.use_case.data, product=product, direct_production=True
    )


@blueprint.route("/demandes/nouvelle", methods=["GET", "POST"])
@login_required
def create() -> Response | tuple[str, int]:
    principal = current_principal()
    if principal.actor not in (Actor.COLLECTIVITE, Actor.EDITEUR):
        abort(403)
    form = CreateRequestForm(
        use_cases=[(u.key, u.label) for u in IMPOT_PARTICULIER.use_cases], products=_product_choices(principal)
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                hab_request = _create_from(form, principal)
            except ProductError as error:
                db.session.rollback()
                attach_error(form, "product_id", error.message)
            except WorkflowError as error:
                db.session.rollback()
                if error.http_status == 403:
                    abort(403)
                attach_error(form, "product_id", " ".join((error.message, *error.problems)))
                status = error.http_status
            else:
                db.session.commit()
                flash(
                    f"La demande {hab_request.number} est créée. Complétez maintenant la section « Mon projet ».",
                    "success",
                )
                return redirect(url_for("habilitations.section", request_id=hab_request.id, key="projet"))
    return render_template("habilitations/new.html", form=form, api=IMPOT_PARTICULIER), status


@blueprint.route("/demandes/<int:request_id>")
@login_required
def detail(request_id: int) -> tuple[str, int]:
    principal = current_principal()
    return _render_detail(queries.get_visible_request(db.session, principal, request_id), principal)


@blueprint.route("/demandes/aller")
@login_required
def go_to() -> Response:
    """Quick access by number (« D123 » or « 123 »): the same 404 for a foreign or a missing request."""
    principal = current_principal()
    request_id = queries.parse_request_number(request.args.get("numero", ""))
    if request_id is None:
        flash("Saisissez un numéro de demande, par exemple D123.", "error")
        return redirect(url_for("main.dashboard"))
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    return redirect(url_for("habilitations.detail", request_id=hab_request.id))


@blueprint.route("/demandes/<int:request_id>/evenements/<event_name>", methods=["POST"])
@login_required
def take_event(request_id: int, event_name: str) -> Response | tuple[str, int]:
    principal = current_principal()
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    try:
        event = Event(event_name)
    except ValueError:
        abort(404)
    form = _event_form(hab_request, event)
    if form.request_id.data and form.request_id.data != str(hab_request.id):
        abort(404)  # a hidden field naming another request is treated like a foreign URL
    if not form.validate_on_submit():
        db.session.rollback()
        return _render_detail(hab_request, principal, status=422, open_form=(event, form))
    if form.preview.data and not (form.reason.data or "").strip() and form.template.data:
        # Without the page's script, the chosen template reaches the text only through the preview.
        chosen = {str(c.id): c.text for c in _template_choices(hab_request, [event]).get(event, [])}
        form.reason.data = chosen.get(form.template.data, "")
    arguments = {
        "principal": principal,
        "reason": form.reason.data,
        "sections": form.sections.data or (),
        "expected_version": form.expected_version,
    }
    try:
        if form.preview.data:
            previews = preview_emails(db.session, hab_request, event, **arguments)
            return _render_detail(hab_request, principal, open_form=(event, form), previews=previews)
        services.apply_event(db.session, hab_request, event, **arguments)
    except WorkflowError as error:
        _refuse(error)
        hab_request = queries.get_visible_request(db.session, principal, request_id)
        if error.http_status == 422:
            # The reason or the named sections were refused: say so next to that field.
            target = form.reason if isinstance(error, ReasonRequired) else form.sections
            target.errors = [error.message]
            return _render_detail(hab_request, principal, status=422, open_form=(event, form))
        return _render_detail(hab_request, principal, status=error.http_status, error=error)
    db.session.commit()
    flash(f"{RULES[event].label} : c'est fait.", "success")
    return redirect(url_for("habilitations.detail", request_id=hab_request.id))


@blueprint.route("/demandes/<int:request_id>/cgu", methods=["POST"])
@login_required
def accept_cgu(request_id: int) -> Response | tuple[str, int]:
    principal = current_principal()
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    form = CguForm()
    if not form.validate_on_submit():
        return _render_detail(hab_request, principal, status=422, cgu_form=form)
    try:
        services.accept_cgu(db.session, hab_request, principal=principal, expected_version=form.expected_version)
    except WorkflowError as error:
        _refuse(error)
        hab_request = queries.get_visible_request(db.session, principal, request_id)
        return _render_detail(hab_request, principal, status=error.http_status, error=error)
    db.session.commit()
    flash("Conditions générales acceptées et engagements enregistrés.", "success")
    return redirect(url_for("habilitations.detail", request_id=hab_request.id))


def _section_definition(hab_request: HabilitationRequest, key: str) -> Any:
    definition = CATALOGUE[hab_request.api]
    if key not in {s.key for s in definition.sections}:
        abort(404)
    return definition.section(key)


def _uploads(definition: SectionDefinition) -> tuple[dict[str, list[Upload]], dict[str, list[str]]]:
    """Files chosen in each document field, and the documents ticked for removal."""
    uploads = {
        field.key: [Upload(f.filename or "", f.stream) for f in request.files.getlist(field.key) if f.filename]
        for field in definition.document_fields
    }
    removed = {field.key: request.form.getlist(f"{field.key}-retirer") for field in definition.document_fields}
    return uploads, removed


def scopes_page(hab_request: HabilitationRequest, form: Any) -> scope_catalogue.ScopeBoard:
    """The scopes page follows what the form holds now (posted or saved), so the advice matches it."""
    return scope_catalogue.scope_board(hab_request.created_at.date(), hab_request.use_case, form.scopes.data or [])


def _next_step_url(hab_request: HabilitationRequest, principal: Principal, key: str) -> str:
    """« Suivant »: the party's next section, then (for the collectivité) the submission step."""
    steps = services.steps_for(hab_request, principal)
    keys = [step.key for step in steps]
    position = keys.index(key) if key in keys else len(keys)
    if position + 1 < len(keys):
        return url_for("habilitations.section", request_id=hab_request.id, key=keys[position + 1])
    return url_for("habilitations.detail", request_id=hab_request.id, _anchor="soumission")


@blueprint.route("/demandes/<int:request_id>/sections/<key>", methods=["GET", "POST"])
@login_required
def section(request_id: int, key: str) -> Response | tuple[str, int]:
    principal = current_principal()
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    definition = _section_definition(hab_request, key)
    row = hab_request.section(definition.stage, key)
    form_class = section_form_class(definition)
    status = 200
    if request.method == "POST":
        form = form_class()
        if form.validate_on_submit():
            uploads, removed = _uploads(definition)
            try:
                row, refused = document_services.save_section_with_documents(
                    db.session,
                    current_storage(),
                    hab_request,
                    key,
                    form_to_data(form, definition),
                    uploads=uploads,
                    removed=removed,
                    principal=principal,
                    expected_version=form.expected_version,
                )
            except WorkflowError as error:
                _refuse(error)
                form.form_errors.append(error.message)
                status = error.http_status
            else:
                db.session.commit()
                wants_next = request.form.get("action") == "next"
                errors = {field_key: list(messages) for field_key, messages in refused.items()}
                if wants_next:
                    for field_key, message in services.section_errors(hab_request, definition).items():
                        errors.setdefault(field_key, []).append(message)
                if not errors:
                    flash(f"Section « {definition.label} » enregistrée.", "success")
                    if wants_next:
                        return redirect(_next_step_url(hab_request, principal, key))
                    return redirect(url_for("habilitations.section", request_id=hab_request.id, key=key))
                if refused:
                    form.form_errors.append(
                        "Votre saisie est enregistrée, mais des fichiers ont été refusés : voyez les messages "
                        "sous les champs concernés."
                    )
                for field_key, messages in errors.items():
                    form[field_key].errors = [*form[field_key].errors, *messages]
                form.version.data = str(hab_request.version)
                status = 422
        else:
            status = 422
    else:
        form = form_class(
            formdata=None,
            data={**data_to_form(row.data if row else {}, definition), "version": hab_request.version},
        )
    return render_template(
        "habilitations/section.html",
        hab_request=hab_request,
        definition=definition,
        row=row,
        form=form,
        is_editable=services.can_edit_section(hab_request, definition, principal),
        steps=services.steps_for(hab_request, principal),
        principal_plays_collectivite=services.actor_on(hab_request, principal) is Actor.COLLECTIVITE,
        documents=document_queries.documents_by_id(db.session, hab_request.id),
        scopes_page=scopes_page(hab_request, form) if key == "donnees" else None,
    ), status


@blueprint.route("/demandes/<int:request_id>/recapitulatif")
@login_required
def summary(request_id: int) -> str:
    """The whole request on one page, read-only, for every party and the DGFiP."""
    principal = current_principal()
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    definition = services.api_definition(hab_request)
    sections = [
        (section_definition, hab_request.section(section_definition.stage, section_definition.key))
        for section_definition in definition.required_sections(hab_request.stage)
    ]
    return render_template(
        "habilitations/summary.html",
        hab_request=hab_request,
        sections=sections,
        hosting=hosting_of(hab_request),
        display_value=display_value,
    )


@blueprint.route("/demandes/<int:request_id>/parties", methods=["GET", "POST"])
@login_required
def parties(request_id: int) -> Response | tuple[str, int]:
    principal = current_principal()
    hab_request = queries.get_visible_request(db.session, principal, request_id)
    if services.actor_on(hab_request, principal) is not Actor.COLLECTIVITE:
        abort(403)
    if request.method == "GET":
        current = {
            "version": hab_request.version,
            "hosting": (hosting_of(hab_request) or Hosting.SAME_AS_EDITEUR).value,
        }
        if hab_request.editeur:
            current["editeur_siret"] = hab_request.editeur.siret
        if hab_request.software_product:
            current["product_name"] = hab_request.software_product.name
            current["product_version"] = hab_request.software_product.version
        if hosting_of(hab_request) is Hosting.THIRD_PARTY:
            current["hebergeur_siret"] = hab_request.hebergeur.siret  # type: ignore[union-attr]
        form = PartiesForm(formdata=None, data=current, names_product=not hab_request.has_fixed_product)
        return render_template("habilitations/parties.html", hab_request=hab_request, form=form), 200
    form = PartiesForm(names_product=not hab_request.has_fixed_product)
    if form.validate_on_submit():
        hosting = Hosting(form.hosting.data)
        try:
            designate_parties(
                db.session,
                hab_request,
                principal=principal,
                editeur=PartyContact(
                    form.editeur_siret.data, form.editeur_name.data or "", form.editeur_email.data or ""
                ),
                hosting=hosting,
                hebergeur=PartyContact(
                    form.hebergeur_siret.data or "", form.hebergeur_name.data or "", form.hebergeur_email.data or ""
                )
                if hosting is Hosting.THIRD_PARTY
                else None,
                product_name=form.product_name.data or "",
                product_version=form.product_version.data or "",
                expected_version=form.expected_version,
            )
        except PartyError as error:
            db.session.rollback()
            attach_error(form, f"{error.party}_{error.field}", error.message)
        except WorkflowError as error:
            _refuse(error)
            form.form_errors.append(error.message)
            return render_template("habilitations/parties.html", hab_request=hab_request, form=form), 409
        else:
            db.session.commit()
            flash(
                "Éditeur et hébergeur enregistrés. Les organisations qui n'utilisaient pas encore ce service "
                "reçoivent une invitation par courriel.",
                "success",
            )
            return redirect(url_for("habilitations.detail", request_id=hab_request.id))
    return render_template("habilitations/parties.html", hab_request=hab_request, form=form), 422


@blueprint.route("/echeances")
@login_required
def expiries() -> str:
    """« Expire bientôt / expirées »: every production habilitation for DGFiP, the party's own otherwise."""
    principal = current_principal()
    expiring, expired = queries.expiry_rows(db.session, principal, today=utcnow().date())
    return render_template("habilitations/expiries.html", expiring=expiring, expired=expired)
