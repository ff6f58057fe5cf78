"""Operations that change a request. Each checks permission and guards, records the timeline and the
audit log, and flushes; the caller (a view or a CLI command) commits once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session
from sqlalchemy.orm.exc import StaleDataError

from tracker.accounts.models import User
from tracker.accounts.principal import Principal
from tracker.accounts.queries import dgfip_instructors, member_emails
from tracker.attestations import services as attestations
from tracker.attestations.models import Attestation
from tracker.audit import services as audit
from tracker.catalogue import CATALOGUE
from tracker.catalogue.definitions import (
    ApiDefinition,
    AttestationDefinition,
    ExpiryDate,
    SectionDefinition,
    ValidationContext,
)
from tracker.catalogue.rules import status_after_save, submission_blockers, validate_section
from tracker.db import utcnow
from tracker.habilitations import notifications
from tracker.habilitations.changelog import changes_between
from tracker.habilitations.deadlines import instruction_deadline
from tracker.habilitations.models import (
    Habilitation,
    HabilitationRequest,
    HabilitationState,
    RequestSection,
    TimelineEntry,
)
from tracker.habilitations.workflow import (
    EDITABLE,
    Actor,
    ActorNotAllowed,
    Effect,
    Event,
    Outcome,
    RequestFacts,
    SectionStatus,
    Stage,
    State,
    TransitionNotAllowed,
    WorkflowError,
    decide,
)
from tracker.notify.kinds import NotificationKind
from tracker.notify.services import queue_email
from tracker.products.models import SoftwareProduct
from tracker.products.queries import sandbox_habilitation_of


class StaleRequest(WorkflowError):
    http_status = 409

    def __init__(self) -> None:
        super().__init__("Quelqu'un a modifié cette demande entre-temps : rechargez la page avant de recommencer.")


class InvalidInput(WorkflowError):
    http_status = 422


# The events whose dossier is kept for good (DossierKind values): rendered and signed by the worker.
SNAPSHOTS = {Event.SUBMIT: "submission", Event.APPROVE: "approval"}

# Timeline details too bulky (or too personal) for the audit log.
TIMELINE_ONLY_DETAILS = frozenset({"content", "changes"})


def api_definition(request: HabilitationRequest) -> ApiDefinition:
    return CATALOGUE[request.api]


def _snapshot_key(stage: Stage, key: str) -> str:
    return f"{stage.value}/{key}"


def definitions_in_form(request: HabilitationRequest) -> tuple[SectionDefinition, ...]:
    """The sections of the current form, in order (those open to their owners while the request is
    editable, those DGFiP may name in a request for changes): the current stage's; for a production
    request « avec éditeur » the sandbox ones too (it has no sandbox stage of its own); and when a
    production habilitation is being updated, the sandbox sections holding a date past which it lapses
    (the hébergeur's certificates), so that renewing them does not mean going back to the sandbox."""
    api = api_definition(request)
    stages = frozenset(Stage) if request.is_direct_production else frozenset({request.stage})
    renewable = (
        {expiry.section for expiry in api.expiry_dates}
        if request.stage is Stage.PRODUCTION and request.is_reopening
        else set()
    )
    return tuple(s for s in api.sections if s.stage in stages or s.key in renewable)


def form_keys(request: HabilitationRequest) -> frozenset[str]:
    """Keys of the sections of the current form (section keys are unique across stages)."""
    return frozenset(s.key for s in definitions_in_form(request))


def _statuses(request: HabilitationRequest, stage: Stage) -> dict[str, SectionStatus]:
    """Section keys are unique across stages; the production stage still requires the sandbox ones."""
    return {s.key: s.status for s in request.sections if stage is Stage.PRODUCTION or s.stage is stage}


def _contents(request: HabilitationRequest, keys: frozenset[str] | None = None) -> dict[str, Any]:
    """Section data keyed "<stage>/<key>", for the given section keys (all by default)."""
    return {_snapshot_key(s.stage, s.key): s.data for s in request.sections if keys is None or s.key in keys}


def _approved_contents(habilitation: Habilitation, keys: frozenset[str] | None = None) -> dict[str, Any]:
    """The same shape, as the habilitation froze it."""
    return {
        key: saved["data"]
        for key, saved in habilitation.snapshot["sections"].items()
        if keys is None or key.split("/", 1)[1] in keys
    }


def validation_context(request: HabilitationRequest) -> ValidationContext:
    return ValidationContext(today=utcnow().date(), created_on=request.created_at.date(), use_case=request.use_case)


def actor_on(request: HabilitationRequest, principal: Principal) -> Actor:
    """The part ``principal`` plays on this request. The applicant organization plays the collectivité's
    part, even an éditeur running the sandbox request of its own software product."""
    if principal.is_dgfip:
        return principal.actor
    # In this order: the applicant's part wins over another it also plays (a collectivité hosting itself).
    for organization_id, actor in (
        (request.organization_id, Actor.COLLECTIVITE),
        (request.editeur_id, Actor.EDITEUR),
        (request.hebergeur_id, Actor.HEBERGEUR),
    ):
        if organization_id == principal.organization.id:
            return actor
    return principal.actor


def _product_sandbox_is_active(product: SoftwareProduct | None) -> bool:
    """« Avec éditeur »: the product's current sandbox habilitation (the éditeur may have updated it since
    the request was created) is active."""
    session = object_session(product) if product is not None else None
    if product is None or session is None:
        return False
    habilitation = sandbox_habilitation_of(session, product)
    return habilitation is not None and habilitation.state is HabilitationState.ACTIVE


def latest_habilitation(request: HabilitationRequest, stage: Stage) -> Habilitation | None:
    of_stage = [h for h in request.habilitations if h.stage is stage]
    return of_stage[-1] if of_stage else None


def facts_for(request: HabilitationRequest) -> RequestFacts:
    """Everything the workflow needs to know, read from the request and its loaded relations."""
    active = {h.stage for h in request.habilitations if h.state is HabilitationState.ACTIVE}
    facts = RequestFacts(
        state=request.state,
        stage=request.stage,
        is_reopening=request.is_reopening,
        has_active_sandbox_habilitation=Stage.SANDBOX in active,
        has_active_production_habilitation=Stage.PRODUCTION in active,
        has_had_production_habilitation=any(h.stage is Stage.PRODUCTION for h in request.habilitations),
        has_expired_production_habilitation=(latest := latest_habilitation(request, Stage.PRODUCTION)) is not None
        and latest.state is HabilitationState.EXPIRED,
        organization_is_active=request.organization.is_active,
        is_direct_production=request.is_direct_production,
        is_editeur_sandbox=request.is_editeur_sandbox,
        has_active_editeur_sandbox_habilitation=request.is_direct_production
        and _product_sandbox_is_active(request.software_product),
        submission_blockers=submission_blockers(
            api_definition(request),
            request.stage,
            _statuses(request, request.stage),
            cgu_accepted=request.cgu_accepted_at is not None,
        )
        + tuple(_outdated_sections(request, definitions_in_form(request))),
    )
    if request.is_reopening:
        last = latest_habilitation(request, request.stage)
        keys = form_keys(request)
        approved = _approved_contents(last, keys) if last else {}
        facts = replace(facts, has_changes_since_habilitation=approved != _contents(request, keys))
    return facts


def flush_checking_version(session: Session) -> None:
    """Flush; a concurrent change of the request (its version moved) becomes a 409, not a 500."""
    try:
        session.flush()
    except StaleDataError as error:
        raise StaleRequest() from error


def check_version(request: HabilitationRequest, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != request.version:
        raise StaleRequest()


def require_collectivite_while_editable(
    request: HabilitationRequest, principal: Principal, expected_version: int | None, *, only: str, locked: str
) -> None:
    """What the collectivité alone decides on its request (CGU, parties), and only before submission."""
    if actor_on(request, principal) is not Actor.COLLECTIVITE:
        raise ActorNotAllowed(only)
    if request.state not in EDITABLE:
        raise TransitionNotAllowed(locked)
    check_version(request, expected_version)


def audit_request(
    session: Session, principal: Principal, request: HabilitationRequest, action: str, details: dict[str, Any]
) -> None:
    """One audit entry about ``request``, in the caller's transaction."""
    audit.record(
        session,
        action,
        actor=principal.user,
        organization_id=principal.organization.id,
        object_type="habilitation_request",
        object_id=request.id,
        details=details,
    )


def _timeline(
    session: Session,
    request: HabilitationRequest,
    principal: Principal,
    outcome: Outcome,
    *,
    reason: str | None,
    details: dict[str, Any] | None = None,
    habilitation: Habilitation | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        request_id=request.id,
        event=outcome.event,
        from_state=outcome.source,
        to_state=outcome.target,
        stage=outcome.stage,
        actor_id=principal.user.id,
        actor_name=principal.user.full_name,
        actor_organization_id=principal.organization.id,
        actor_party=principal.actor.value,
        reason=(reason or "").strip() or None,
        details=details or {},
        habilitation_id=habilitation.id if habilitation else None,
        created_at=utcnow(),
    )
    session.add(entry)
    audit_request(
        session,
        principal,
        request,
        f"request.{outcome.event.value}",
        {
            "from": outcome.source and outcome.source.value,
            "to": outcome.target.value,
            "stage": outcome.stage.value,
            # The audit log names what happened; the content itself stays on the timeline.
            **{key: value for key, value in (details or {}).items() if key not in TIMELINE_ONLY_DETAILS},
        },
    )
    return entry


def create_request(
    session: Session,
    *,
    principal: Principal,
    use_case: str | None,
    product: SoftwareProduct | None = None,
    direct_production: bool = False,
    api: str = "api_impot_particulier",
) -> HabilitationRequest:
    """A new request. Three ways in: a collectivité's sandbox request; an éditeur's sandbox request for
    one of its products (it then plays every party itself); a collectivité's production request « avec
    éditeur », standing on the éditeur's sandbox habilitation for the product."""
    definition = CATALOGUE[api]
    applicant = principal.actor
    if principal.actor is Actor.EDITEUR:
        if product is None or product.editeur_id != principal.organization.id:
            raise InvalidInput("Choisissez l'un de vos logiciels.")
        applicant = Actor.COLLECTIVITE  # the éditeur applies for itself
    editeur_sandbox_habilitation = sandbox_habilitation_of(session, product) if direct_production and product else None
    if direct_production and editeur_sandbox_habilitation is None:
        raise InvalidInput("Ce logiciel n'a pas encore d'habilitation bac à sable.")
    is_direct_production = editeur_sandbox_habilitation is not None
    facts = RequestFacts(
        state=None,
        organization_is_active=principal.organization.is_active,
        is_direct_production=is_direct_production,
        has_active_editeur_sandbox_habilitation=is_direct_production
        and editeur_sandbox_habilitation.state is HabilitationState.ACTIVE,  # type: ignore[union-attr]
    )
    outcome = decide(Event.CREATE, facts, applicant)
    chosen = definition.use_case(use_case)
    now = utcnow()
    request = HabilitationRequest(
        api=api,
        organization=principal.organization,
        state=outcome.target,
        stage=outcome.stage,
        is_reopening=False,
        intitule=chosen.intitule if chosen else "",
        use_case=chosen.key if chosen else None,
        departement_code=principal.organization.departement_code,
        software_product=product,
        editeur_sandbox_habilitation=editeur_sandbox_habilitation,
        editeur_id=product.editeur_id if product else None,
        hebergeur_id=principal.organization.id if principal.actor is Actor.EDITEUR else None,
        created_by_id=principal.user.id,
        created_at=now,
        last_event_at=now,
    )
    session.add(request)
    flush_checking_version(session)
    prefill: dict[str, dict[str, Any]] = {
        "projet": {
            "intitule": request.intitule,
            "description": chosen.description if chosen else "",
            "use_case": request.use_case,
        },
        "cadre_juridique": {"cadre_juridique_nature": chosen.cadre_juridique_nature if chosen else ""},
        "donnees_personnelles": {"destinataires": chosen.destinataires if chosen else ""},
        "modalites": {"logiciel_nom": product.name, "logiciel_version": product.version} if product else {},
    }
    if editeur_sandbox_habilitation is not None:
        # The éditeur already described its access modalities; it only checks and attests them again.
        approved = editeur_sandbox_habilitation.snapshot["sections"].get(_snapshot_key(Stage.SANDBOX, "modalites"))
        if approved:
            prefill["modalites"] = approved["data"]
    for key, values in prefill.items():
        if data := {k: v for k, v in values.items() if v}:
            _write_section(session, request, definition.section(key), data, principal)
    details: dict[str, Any] = {"use_case": request.use_case}
    if product is not None:
        details["product"] = product.label
    if editeur_sandbox_habilitation is not None:
        details["editeur_sandbox_habilitation"] = editeur_sandbox_habilitation.number
    _timeline(session, request, principal, outcome, reason=None, details=details)
    flush_checking_version(session)
    return request


def apply_event(
    session: Session,
    request: HabilitationRequest,
    event: Event,
    *,
    principal: Principal,
    reason: str | None = None,
    sections: Iterable[str] = (),
    expected_version: int | None = None,
) -> TimelineEntry:
    """Take ``event`` on ``request`` as ``principal``: the one entry point for every transition."""
    if event is Event.CREATE:
        raise TransitionNotAllowed("La création passe par create_request.")
    outcome = decide(event, facts_for(request), actor_on(request, principal), reason)
    check_version(request, expected_version)
    named_sections = _named_sections(request, sections) if Effect.REOPEN_NAMED_SECTIONS in outcome.effects else []
    now = utcnow()
    request.state = outcome.target
    request.stage = outcome.stage
    request.is_reopening = outcome.is_reopening
    request.last_event_at = now
    flush_checking_version(session)  # the version check happens here, before anything else is written

    details: dict[str, Any] = {}
    habilitation = None
    if Effect.START_DEADLINE in outcome.effects:
        details.update(_submission_changelog(session, request))
        request.deadline_started_at = now
        request.deadline_at = instruction_deadline(now)
        request.first_submitted_at = request.first_submitted_at or now
        for section in request.sections:
            section.is_change_requested = False
    if Effect.STOP_DEADLINE in outcome.effects:
        request.deadline_started_at = request.deadline_at = None
    if named_sections:
        for section in named_sections:
            section.is_change_requested = True
            if section.status is SectionStatus.ATTESTED:
                _invalidate_attestation(
                    session,
                    request,
                    section.key,
                    principal,
                    reason=f"La DGFiP demande des modifications de la section « {_label(request, section.key)} ».",
                    tell=False,  # the request for changes has its own message
                )
        details["sections"] = [s.key for s in named_sections]
        _tell_owners_of_requested_changes(session, request, named_sections, reason or "")
    if Effect.CREATE_HABILITATION in outcome.effects:
        habilitation = _create_habilitation(session, request, principal, now)
        details["habilitation"] = habilitation.number
    if Effect.RESTORE_LAST_HABILITATION in outcome.effects:
        restored = _restore_last_habilitation(request)
        details["habilitation"] = restored.number
    if Effect.REVOKE_HABILITATIONS in outcome.effects:
        details["habilitations"] = _end_active_habilitations(request, HabilitationState.REVOKED, reason, now)
    if Effect.RESET_CGU in outcome.effects:
        request.cgu_version = request.cgu_sha256 = None
        request.cgu_accepted_at = None
        request.cgu_accepted_by_id = None
    entry = _timeline(session, request, principal, outcome, reason=reason, details=details, habilitation=habilitation)
    _notify(session, request, outcome, (reason or "").strip(), habilitation)
    flush_checking_version(session)
    if snapshot := SNAPSHOTS.get(outcome.event):
        # Imported here: the dossiers package renders with the templating module, which imports this one.
        from tracker.dossiers.snapshots import queue_snapshot

        queue_snapshot(session, request, snapshot, requested_by_id=principal.user.id)
    if Effect.REVOKE_HABILITATIONS in outcome.effects:
        # Imported here like the snapshot hook: the vault's models import this package's. SECURITY §F 35.
        from tracker.vault.lifecycle import on_request_revoked

        on_request_revoked(session, request, reason)
    return entry


def _notify(
    session: Session, request: HabilitationRequest, outcome: Outcome, reason: str, habilitation: Habilitation | None
) -> None:
    """The emails of DOMAIN §10 that a transition sends, through the outbox (they leave after the commit).
    Each recipient set is read in one statement, without those who turned that notification off."""
    parties = {request.organization_id, request.editeur_id, request.hebergeur_id}
    if outcome.event is Event.SUBMIT and request.deadline_at is not None:
        kind = NotificationKind.SUBMISSION_RECEIVED
        notice = notifications.submission_received(request, request.deadline_at)
        _send_notice(session, request, kind, member_emails(session, {request.organization_id}, kind=kind), notice)
        kind = NotificationKind.SUBMISSION_TO_INSTRUCT
        notice = notifications.submission_to_instruct(request, request.deadline_at)
        _send_notice_to_agents(session, request, kind, dgfip_instructors(session, receiving=kind), notice)
    elif outcome.event is Event.APPROVE and habilitation is not None:
        kind = NotificationKind.APPROVED
        contacts = notifications.approval_contacts(request)
        recipients = member_emails(session, {request.organization_id}, kind=kind, also_to=contacts)
        _send_notice(session, request, kind, recipients, notifications.approved(request, habilitation, reason or None))
        _send_notice(
            session,
            request,
            NotificationKind.API_MANAGEMENT,
            [current_app.config["API_MANAGEMENT_EMAIL"]],
            notifications.api_management_notice(request, habilitation),
        )
    elif outcome.event is Event.REFUSE:
        kind = NotificationKind.REFUSED
        notice = notifications.refused(request, reason, was_update=outcome.target is State.VALIDATED)
        _send_notice(session, request, kind, member_emails(session, parties, kind=kind), notice)
    elif outcome.event is Event.REVOKE:
        kind = NotificationKind.REVOKED
        notice = notifications.revoked(request, reason)
        _send_notice(session, request, kind, member_emails(session, parties, kind=kind), notice)


def _send_notice(
    session: Session,
    request: HabilitationRequest,
    kind: NotificationKind,
    recipients: Iterable[str],
    notice: notifications.Notice,
) -> None:
    for email in recipients:
        queue_email(
            session, "notice", email, kind=kind, habilitation_request_id=request.id, hab_request=request, notice=notice
        )


def _send_notice_to_agents(
    session: Session,
    request: HabilitationRequest,
    kind: NotificationKind,
    agents: Iterable[User],
    notice: notifications.Notice,
) -> None:
    """DGFiP agents' emails carry a link (and the RFC 8058 headers) to turn that notification off."""
    for agent in agents:
        queue_email(
            session,
            "notice",
            agent.email,
            kind=kind,
            unsubscribe_user_id=agent.id,
            habilitation_request_id=request.id,
            hab_request=request,
            notice=notice,
        )


def _submission_changelog(session: Session, request: HabilitationRequest) -> dict[str, Any]:
    """The content submitted, and what changed since the stage's previous submission (or, for an
    update, since the habilitation being updated)."""
    content = _contents(request)
    if request.is_reopening:
        habilitation = latest_habilitation(request, request.stage)
        previous = _approved_contents(habilitation) if habilitation else None
        compared_with = f"l'habilitation {habilitation.number}" if habilitation else ""
    else:
        compared_with = "la soumission précédente"
        previous = session.execute(
            select(TimelineEntry.details)
            .where(
                TimelineEntry.request_id == request.id,
                TimelineEntry.event == Event.SUBMIT,
                TimelineEntry.stage == request.stage,
            )
            .order_by(TimelineEntry.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        previous = previous.get("content") if previous else None
    if previous is None:
        return {"content": content, "first_submission": True}
    return {
        "content": content,
        "compared_with": compared_with,
        "changes": changes_between(api_definition(request), previous, content),
    }


def _tell_owners_of_requested_changes(
    session: Session, request: HabilitationRequest, sections: list[RequestSection], reason: str
) -> None:
    """Each organization owning a named section hears which of its sections to change, and why; the
    collectivité, which resubmits, hears about every one of them."""
    definition = api_definition(request)
    labels_by_owner: dict[int, list[str]] = {}
    for section in sections:
        section_definition = definition.section(section.key)
        owner_id = organization_playing(request, section_definition.owner)
        if owner_id is not None:
            labels_by_owner.setdefault(owner_id, []).append(section_definition.label)
    labels_by_owner.setdefault(request.organization_id, [])
    all_labels = [definition.section(s.key).label for s in sections]
    for organization_id, own_labels in labels_by_owner.items():
        _tell(
            session,
            request,
            {organization_id},
            NotificationKind.CHANGES_REQUESTED,
            "changes_requested",
            own_sections=own_labels,
            all_sections=all_labels,
            reason=reason.strip(),
        )


def _named_sections(request: HabilitationRequest, keys: Iterable[str]) -> list[RequestSection]:
    wanted = set(keys)
    known = {s.key for s in definitions_in_form(request)}
    if not wanted:
        raise InvalidInput("Indiquez au moins une section à modifier.")
    if unknown := wanted - known:
        raise InvalidInput(f"Section inconnue pour cette étape : {', '.join(sorted(unknown))}.")
    return [s for s in request.sections if s.key in wanted]


def _section_snapshot(section: RequestSection) -> dict[str, Any]:
    return {
        "data": section.data,
        "status": section.status.value,
        "attested_sha256": section.attested_sha256,
        "attested_at": section.attested_at.isoformat() if section.attested_at else None,
        "attested_by_id": section.attested_by_id,
    }


def habilitation_dates(habilitation: Habilitation) -> list[tuple[ExpiryDate, date]]:
    """The dates past which a production habilitation lapses, soonest first (none for the sandbox, whose
    data are fictitious)."""
    if habilitation.stage is not Stage.PRODUCTION:
        return []
    contents = {key.split("/", 1)[1]: data for key, data in _approved_contents(habilitation).items()}
    return api_definition(habilitation.request).followed_dates(contents)


def _create_habilitation(
    session: Session, request: HabilitationRequest, principal: Principal, now: datetime
) -> Habilitation:
    _end_active_habilitations(request, HabilitationState.OBSOLETE, None, now, stage=request.stage)
    habilitation = Habilitation(
        request=request,
        stage=request.stage,
        state=HabilitationState.ACTIVE,
        snapshot={
            "sections": {_snapshot_key(s.stage, s.key): _section_snapshot(s) for s in request.sections},
            "request": {"intitule": request.intitule, "use_case": request.use_case},
            "attestations": [a.id for a in request.attestations if a.is_valid],
            "cgu": {"version": request.cgu_version, "sha256": request.cgu_sha256},
        },
        approved_by_id=principal.user.id,
        created_at=now,
    )
    session.add(habilitation)
    dates = habilitation_dates(habilitation)
    habilitation.expires_on = dates[0][1] if dates else None
    session.flush()
    return habilitation


def _end_active_habilitations(
    request: HabilitationRequest,
    state: HabilitationState,
    reason: str | None,
    now: datetime,
    *,
    stage: Stage | None = None,
) -> list[str]:
    ended = []
    for habilitation in request.habilitations:
        if habilitation.state is HabilitationState.ACTIVE and stage in (None, habilitation.stage):
            habilitation.state = state
            habilitation.ended_at = now
            habilitation.end_reason = reason
            ended.append(habilitation.number)
    return ended


def _restore_last_habilitation(request: HabilitationRequest) -> Habilitation:
    """Put back the current stage's sections as the last habilitation approved them."""
    habilitation = latest_habilitation(request, request.stage)
    assert habilitation is not None, "the workflow only restores when an habilitation exists"
    saved = habilitation.snapshot["sections"]
    keys = form_keys(request)
    for section in [s for s in request.sections if s.key in keys]:
        if _snapshot_key(section.stage, section.key) not in saved:
            request.sections.remove(section)
    for key, content in saved.items():
        stage_value, section_key = key.split("/", 1)
        stage = Stage(stage_value)
        if section_key not in keys:
            continue
        section = request.section(stage, section_key)
        if section is None:
            section = RequestSection(stage=stage, key=section_key)
            request.sections.append(section)
        section.data = content["data"]
        section.status = SectionStatus(content["status"])
        section.attested_sha256 = content["attested_sha256"]
        section.attested_at = datetime.fromisoformat(content["attested_at"]) if content["attested_at"] else None
        section.attested_by_id = content["attested_by_id"]
        section.is_change_requested = False
    request.intitule = habilitation.snapshot["request"]["intitule"]
    request.use_case = habilitation.snapshot["request"]["use_case"]
    request.cgu_version = habilitation.snapshot["cgu"]["version"]
    request.cgu_sha256 = habilitation.snapshot["cgu"]["sha256"]
    kinds = {a.key for a in api_definition(request).attestations if set(a.sections) <= keys}
    attestations.restore(request, habilitation.snapshot.get("attestations", []), kinds, utcnow())
    return habilitation


# --- sections ------------------------------------------------------------------------------------------


def section_is_editable(request: HabilitationRequest, definition: SectionDefinition) -> bool:
    """Open sections: the request's current stage, while draft, or named by DGFiP while « À modifier »."""
    if definition.key not in form_keys(request) or request.state not in EDITABLE:
        return False
    if request.state is State.CHANGES_REQUESTED:
        section = request.section(definition.stage, definition.key)
        return section is not None and section.is_change_requested
    return True


def organization_playing(request: HabilitationRequest, party: Actor) -> int | None:
    """The organization that plays ``party`` on this request (None while not designated)."""
    return {
        Actor.COLLECTIVITE: request.organization_id,
        Actor.EDITEUR: request.editeur_id,
        Actor.HEBERGEUR: request.hebergeur_id,
    }.get(party)


def owns_section(request: HabilitationRequest, definition: SectionDefinition, principal: Principal) -> bool:
    """The owner is the organization playing the section's party on this request, so a collectivité
    hosting itself, or an éditeur that also hosts, fills the hébergement section."""
    owner_id = organization_playing(request, definition.owner)
    return owner_id is not None and owner_id == principal.organization.id


def steps_for(request: HabilitationRequest, principal: Principal) -> tuple[SectionDefinition, ...]:
    """The guided form of one party: the sections of the current form it owns, in order."""
    return tuple(d for d in definitions_in_form(request) if owns_section(request, d, principal))


def section_errors(request: HabilitationRequest, definition: SectionDefinition) -> dict[str, str]:
    row = request.section(definition.stage, definition.key)
    return validate_section(definition, row.data if row else {}, validation_context(request))


def _outdated_sections(request: HabilitationRequest, definitions: Iterable[SectionDefinition]) -> list[str]:
    """Sections stored as complete that today's rules refuse: a date that has since passed (homologation
    end, certificate expiry) must not be signed, submitted or approved on its old status."""
    problems = []
    for definition in definitions:
        row = request.section(definition.stage, definition.key)
        if row is None or row.status not in (SectionStatus.COMPLETE, SectionStatus.ATTESTED):
            continue
        if errors := section_errors(request, definition):
            problems.append(f"La section « {definition.label} » n'est plus valide : {next(iter(errors.values()))}")
    return problems


def can_edit_section(request: HabilitationRequest, definition: SectionDefinition, principal: Principal) -> bool:
    return owns_section(request, definition, principal) and section_is_editable(request, definition)


def authorize_section_edit(request: HabilitationRequest, definition: SectionDefinition, principal: Principal) -> None:
    if not owns_section(request, definition, principal):
        raise ActorNotAllowed(f"La section « {definition.label} » est remplie par : {definition.owner.label}.")
    if not section_is_editable(request, definition):
        raise TransitionNotAllowed(f"La section « {definition.label} » n'est pas modifiable en ce moment.")


def _write_section(
    session: Session,
    request: HabilitationRequest,
    definition: SectionDefinition,
    data: dict[str, Any],
    principal: Principal,
) -> RequestSection:
    section = request.section(definition.stage, definition.key)
    if section is None:
        section = RequestSection(stage=definition.stage, key=definition.key, data={}, status=SectionStatus.EMPTY)
        request.sections.append(section)
    if section.status is SectionStatus.ATTESTED:
        _invalidate_attestation(
            session, request, definition.key, principal, reason=f"La section « {definition.label} » a été modifiée."
        )
    section.data = data
    section.status = status_after_save(definition, data, validation_context(request))
    section.updated_at = utcnow()
    section.updated_by_id = principal.user.id
    if definition.key == "projet":
        request.intitule = data.get("intitule") or ""
        request.use_case = data.get("use_case")
    request.last_event_at = utcnow()
    return section


def prefill_section(
    session: Session, request: HabilitationRequest, key: str, values: dict[str, Any], principal: Principal
) -> None:
    """Fill the fields of a section that are still empty (what another party already knows), keeping
    whatever its owner wrote."""
    definition = api_definition(request).section(key)
    if key not in form_keys(request):
        return  # a section of a past stage stays as approved
    section = request.section(definition.stage, key)
    current = section.data if section else {}
    missing = {k: v for k, v in values.items() if v and not current.get(k)}
    if missing:
        _write_section(session, request, definition, {**current, **missing}, principal)


def save_section(
    session: Session,
    request: HabilitationRequest,
    key: str,
    data: dict[str, Any],
    *,
    principal: Principal,
    expected_version: int | None,
) -> RequestSection:
    definition = api_definition(request).section(key)
    authorize_section_edit(request, definition, principal)
    check_version(request, expected_version)
    previous = request.section(definition.stage, key)
    was_attested = previous is not None and previous.status is SectionStatus.ATTESTED
    if previous is not None and previous.data == data:
        return previous
    section = _write_section(session, request, definition, data, principal)
    flush_checking_version(session)
    audit_request(
        session,
        principal,
        request,
        "section.saved",
        {"section": key, "stage": definition.stage.value, "attestation_dropped": was_attested},
    )
    return section


def _label(request: HabilitationRequest, section_key: str) -> str:
    return api_definition(request).section(section_key).label


def invalidate_attestations_of(
    session: Session, request: HabilitationRequest, party: Actor, principal: Principal, *, reason: str
) -> None:
    """The organization playing ``party`` is replaced: what it signed no longer speaks for the request."""
    for definition in api_definition(request).attestations:
        if definition.owner is party:
            _invalidate_attestation(session, request, definition.sections[0], principal, reason=reason)


def _invalidate_attestation(
    session: Session,
    request: HabilitationRequest,
    section_key: str,
    principal: Principal,
    *,
    reason: str,
    tell: bool = True,
) -> None:
    """A covered section changes: the attestation covering it stops being valid, visibly, and the
    collectivité and the owning party hear about it (DOMAIN §3.4, §8)."""
    definition = api_definition(request).attestation_covering(section_key)
    invalidated = attestations.invalidate(request, definition, reason=reason, now=utcnow())
    # Not audited on its own: the edit or the request for changes that caused it is (one event each).
    if invalidated is not None and tell:
        _tell(
            session,
            request,
            {request.organization_id, organization_playing(request, definition.owner)},
            NotificationKind.ATTESTATION_INVALIDATED,
            "attestation_invalidated",
            attestation=definition,
            reason=reason,
            changed_by=principal,
        )


def _tell(
    session: Session,
    request: HabilitationRequest,
    organization_ids: set[int | None],
    kind: NotificationKind,
    template: str,
    **context: Any,
) -> None:
    """One email per active member of the given organizations who receives ``kind``, through the outbox."""
    for email in member_emails(session, organization_ids, kind=kind):
        queue_email(
            session, template, email, kind=kind, habilitation_request_id=request.id, hab_request=request, **context
        )


def covered(request: HabilitationRequest, definition: AttestationDefinition) -> attestations.CoveredContent:
    api = api_definition(request)
    return attestations.covered_content(request, definition, [api.section(key) for key in definition.sections])


def can_sign(request: HabilitationRequest, definition: AttestationDefinition, principal: Principal) -> bool:
    owner = organization_playing(request, definition.owner)
    return (
        owner is not None
        and owner == principal.organization.id
        and request.state in EDITABLE
        and set(definition.sections) <= form_keys(request)
    )


def sign_attestation(
    session: Session,
    request: HabilitationRequest,
    kind: str,
    *,
    principal: Principal,
    signer_name: str,
    signer_function: str,
    statement_version: str,
    expected_version: int | None,
) -> Attestation:
    """A member of the owning party signs the statement over the current content of its sections."""
    definition = api_definition(request).attestation(kind)
    if organization_playing(request, definition.owner) != principal.organization.id:
        raise ActorNotAllowed(f"« {definition.label} » est signée par : {definition.owner.label}.")
    if not can_sign(request, definition, principal):
        raise TransitionNotAllowed(f"« {definition.label} » ne peut pas être signée en ce moment.")
    check_version(request, expected_version)
    if statement_version != definition.statement.version:
        raise StaleRequest()
    if not signer_name.strip() or not signer_function.strip():
        raise InvalidInput("Indiquez votre nom et votre fonction.")
    statuses = {key: request.section(definition.stage, key) for key in definition.sections}
    if missing := [key for key, row in statuses.items() if row is None or row.status is not SectionStatus.COMPLETE]:
        if all(row is not None and row.status is SectionStatus.ATTESTED for row in statuses.values()):
            raise TransitionNotAllowed(f"« {definition.label} » est déjà signée et correspond au contenu actuel.")
        labels = ", ".join(f"« {_label(request, key)} »" for key in missing)
        raise TransitionNotAllowed(f"Complétez d'abord : {labels}.")
    api = api_definition(request)
    if outdated := _outdated_sections(request, [api.section(key) for key in definition.sections]):
        raise TransitionNotAllowed(f"« {definition.label} » ne peut pas être signée.", tuple(outdated))
    now = utcnow()
    attestation = attestations.record(
        request,
        definition,
        covered(request, definition),
        principal=principal,
        signer_name=" ".join(signer_name.split()),
        signer_function=" ".join(signer_function.split()),
        now=now,
    )
    request.last_event_at = now
    flush_checking_version(session)
    audit_request(
        session,
        principal,
        request,
        "attestation.signed",
        {
            "kind": kind,
            "attestation": attestation.id,
            "statement_version": attestation.statement_version,
            "content_sha256": attestation.content_sha256,
        },
    )
    return attestation


def accept_cgu(
    session: Session, request: HabilitationRequest, *, principal: Principal, expected_version: int | None
) -> None:
    require_collectivite_while_editable(
        request,
        principal,
        expected_version,
        only="Seule la collectivité accepte les conditions générales d'utilisation.",
        locked="Les conditions générales ne peuvent être acceptées qu'avant la soumission.",
    )
    cgu = api_definition(request).current_cgu[request.stage]
    now = utcnow()
    request.cgu_version = cgu.version
    request.cgu_sha256 = cgu.sha256
    request.cgu_accepted_at = now
    request.cgu_accepted_by_id = principal.user.id
    request.last_event_at = now
    flush_checking_version(session)
    audit_request(
        session,
        principal,
        request,
        "request.cgu_accepted",
        {"version": cgu.version, "sha256": cgu.sha256, "stage": request.stage.value},
    )
