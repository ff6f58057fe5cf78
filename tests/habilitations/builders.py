"""Put a request in a given situation, going through the real services only (no state written by hand).

A ``Cast`` holds one user per workflow actor: a member of the request's collectivité, of its éditeur and
of its hébergeur (attached to the request directly until the invitation screens exist), and a DGFiP
instructeur and rapporteur. ``build(session, cast, situation)`` then plays the events that lead to the
situation, as the parties would: fill and attest their sections, accept the CGU, submit, decide…

Every draft and every « À modifier » situation is left ready to be submitted (sections complete and
attested, CGU accepted, a change made when reopening), so that the submit arrow can be taken from it.
Section content is generated from the catalogue's field definitions; a section that the generator
cannot complete fails loudly, naming the field, so that new catalogue rules are noticed here.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from factories import make_organization, make_user, principal_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import DgfipFunction, OrganizationKind, User
from tracker.accounts.principal import Principal
from tracker.audit.models import AuditEntry
from tracker.catalogue.definitions import FieldDefinition, FieldKind, SectionDefinition, ValidationContext
from tracker.catalogue.rules import content_sha256, is_empty, validate_section
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest, TimelineEntry
from tracker.habilitations.workflow import Actor, Event, SectionStatus, Stage, State

REASON = "Motif de test"
USE_CASE = "cantine_scolaire"

# Values for fields whose meaning a generic value would not satisfy (DOMAIN §5).
KNOWN_VALUES: dict[str, Any] = {
    "intitule": "Dites-le-nous une fois – Cantine scolaire",
    "description": "Calcul du tarif de la cantine scolaire à partir du quotient familial.",
    "use_case": USE_CASE,
    # The use case's advice, so no justification is needed.
    "scopes": ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart"],
    "specific_requirements": False,
    "recette_date": (date.today() - timedelta(days=30)).isoformat(),
}


def document_reference(name: str = "document.pdf", content: bytes = b"%PDF-1.7 test") -> dict[str, Any]:
    """A document as section content names it. Workflow tests need only the reference (what attestations
    hash); the upload tests go through real files and rows."""
    return {"id": 0, "name": name, "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}


# Valid values for the typed text fields, whatever the field.
TYPED_SAMPLES: dict[FieldKind, str] = {
    FieldKind.EMAIL: "contact@exemple.fr",
    FieldKind.PHONE: "01 23 45 67 89",
    FieldKind.URL: "https://www.exemple.fr/deliberation.pdf",
    FieldKind.SIRET: "21330000100012",
}


class Situation(enum.StrEnum):
    """Where a request can stand; each value names a path through the workflow (see ``build``)."""

    FRESH_DRAFT = "fresh_draft"
    SUBMITTED = "submitted"
    CHANGES_REQUESTED = "changes_requested"
    VALIDATED = "validated"
    REFUSED = "refused"
    ARCHIVED = "archived"
    REVOKED = "revoked"
    REOPENING_DRAFT = "reopening_draft"
    REOPENING_CHANGES_REQUESTED = "reopening_changes_requested"
    REOPENING_SUBMITTED = "reopening_submitted"
    PRODUCTION_DRAFT = "production_draft"
    PRODUCTION_CHANGES_REQUESTED = "production_changes_requested"
    PRODUCTION_SUBMITTED = "production_submitted"
    REFUSED_PRODUCTION = "refused_production"
    VALIDATED_PRODUCTION = "validated_production"


@dataclass(frozen=True)
class Cast:
    collectivite: User
    editeur: User
    hebergeur: User
    instructeur: User
    rapporteur: User

    def user(self, actor: Actor) -> User:
        return getattr(self, actor.value)

    def principal(self, actor: Actor) -> Principal:
        return principal_for(self.user(actor))

    def owner_of(self, definition: SectionDefinition) -> Principal:
        return self.principal(definition.owner)


def make_cast(session: Session) -> Cast:
    collectivite = make_organization(session, OrganizationKind.COLLECTIVITE)
    editeur = make_organization(session, OrganizationKind.EDITEUR)
    hebergeur = make_organization(session, OrganizationKind.HEBERGEUR)
    dgfip = make_organization(session, OrganizationKind.DGFIP)
    return Cast(
        collectivite=make_user(session, collectivite),
        editeur=make_user(session, editeur),
        hebergeur=make_user(session, hebergeur),
        instructeur=make_user(session, dgfip, dgfip_function=DgfipFunction.INSTRUCTEUR),
        rapporteur=make_user(session, dgfip, dgfip_function=DgfipFunction.RAPPORTEUR),
    )


# --- section content --------------------------------------------------------------------------------


def _generic_value(field: FieldDefinition, position: int) -> Any:
    if field.key in KNOWN_VALUES:
        return KNOWN_VALUES[field.key]
    if field.kind is FieldKind.CHOICE:
        return field.choices[0][0]
    if field.kind is FieldKind.DATE:
        # Later fields get later dates: « fin » after « début », everything in the future.
        return (date.today() + timedelta(days=400 + 30 * position)).isoformat()
    if field.kind is FieldKind.INTEGER:
        return max(field.min_value or 0, 12)
    if field.kind is FieldKind.MULTI_CHOICE:
        return [field.choices[0][0]]
    if field.kind in TYPED_SAMPLES:
        return TYPED_SAMPLES[field.kind]
    if field.kind is FieldKind.CONFIRMATION:
        return True
    if field.kind is FieldKind.DOCUMENTS:
        return [document_reference(f"{field.key}.pdf")]
    if field.kind is FieldKind.SCOPE_JUSTIFICATIONS:
        return {}
    text = f"{field.label} (donnée de test)"
    return text[: field.max_length] if field.max_length else text


def complete_data(definition: SectionDefinition, *, variant: str = "") -> dict[str, Any]:
    """Content that makes the section complete; ``variant`` changes the free text (for « a change »)."""
    values = {field.key: _generic_value(field, position) for position, field in enumerate(definition.fields)}
    data = {key: value for key, value in values.items() if not is_empty(value)}
    if variant:
        for field in definition.fields:
            if field.kind is FieldKind.TEXTAREA and field.key in data:
                data[field.key] = f"{data[field.key]} {variant}"
                break
        else:
            raise AssertionError(f"no free-text field to vary in section {definition.key}")
    errors = validate_section(definition, data, ValidationContext.on(date.today()).with_use_case(USE_CASE))
    assert not errors, f"builders cannot complete section {definition.key}: {errors}"
    return data


def fill_every_section(
    session: Session,
    request: HabilitationRequest,
    owners: dict[Actor, Principal],
    *,
    except_keys: tuple[str, ...] = (),
) -> None:
    """Complete every open section of the current stage, each by its party's principal, then sign every
    attestation whose sections are all complete (for tests that write their own content in some sections
    and need the others done)."""
    for definition in sections_of_current_stage(request):
        if definition.key in except_keys or not services.section_is_editable(request, definition):
            continue
        # The organization playing the section's party, whichever of ``owners`` that is (an éditeur may host).
        principal = next(p for p in owners.values() if services.owns_section(request, definition, p))
        services.save_section(
            session, request, definition.key, complete_data(definition), principal=principal, expected_version=None
        )
    sign_ready_attestations(session, request, list(owners.values()))


def sign_ready_attestations(session: Session, request: HabilitationRequest, principals: list[Principal]) -> None:
    """Each party signs every attestation it owns whose sections are all complete and not yet attested."""
    for attestation in services.api_definition(request).attestations:
        rows = [request.section(attestation.stage, key) for key in attestation.sections]
        if any(row is None or row.status is not SectionStatus.COMPLETE for row in rows):
            continue
        signer = next((p for p in principals if services.can_sign(request, attestation, p)), None)
        if signer is None:
            continue
        services.sign_attestation(
            session,
            request,
            attestation.key,
            principal=signer,
            signer_name=signer.user.full_name,
            signer_function="Fonction de test",
            statement_version=attestation.statement.version,
            expected_version=None,
        )


def sections_of_current_stage(request: HabilitationRequest) -> tuple[SectionDefinition, ...]:
    return services.definitions_in_form(request)


def sections_to_name(request: HabilitationRequest) -> list[str]:
    """What an instructor names in a request for changes: the first section of the current stage."""
    return [definition.key for definition in sections_of_current_stage(request)[:1]]


# --- steps ------------------------------------------------------------------------------------------


def new_request(session: Session, cast: Cast) -> HabilitationRequest:
    request = services.create_request(session, principal=cast.principal(Actor.COLLECTIVITE), use_case=USE_CASE)
    request.editeur = cast.editeur.memberships[0].organization
    request.hebergeur = cast.hebergeur.memberships[0].organization
    session.flush()
    return request


def fill_and_attest(
    session: Session, request: HabilitationRequest, cast: Cast, definition: SectionDefinition, variant: str = ""
) -> None:
    principal = cast.owner_of(definition)
    services.save_section(
        session,
        request,
        definition.key,
        complete_data(definition, variant=variant),
        principal=principal,
        expected_version=None,
    )
    section = request.section(definition.stage, definition.key)
    assert section is not None and section.status is SectionStatus.COMPLETE, (definition.key, section)
    sign_ready_attestations(session, request, [principal])


def make_submittable(session: Session, request: HabilitationRequest, cast: Cast) -> None:
    """Every open section of the current stage complete and attested by its owner, the CGU accepted."""
    for definition in sections_of_current_stage(request):
        if not services.section_is_editable(request, definition):
            continue
        section = request.section(definition.stage, definition.key)
        if section is None or section.status in (SectionStatus.EMPTY, SectionStatus.IN_PROGRESS):
            fill_and_attest(session, request, cast, definition)
    sign_ready_attestations(session, request, [cast.principal(actor) for actor in PARTIES])
    if request.cgu_accepted_at is None:
        services.accept_cgu(session, request, principal=cast.principal(Actor.COLLECTIVITE), expected_version=None)
    assert not services.facts_for(request).submission_blockers, services.facts_for(request)


def change_something(session: Session, request: HabilitationRequest, cast: Cast) -> None:
    """A reopening may only be submitted with a change: edit and re-attest the first open section."""
    definition = next(d for d in sections_of_current_stage(request) if services.section_is_editable(request, d))
    fill_and_attest(session, request, cast, definition, variant="(mise à jour)")


def address_requested_changes(session: Session, request: HabilitationRequest, cast: Cast) -> None:
    """The owning parties edit and re-attest the sections DGFiP named."""
    for definition in sections_of_current_stage(request):
        section = request.section(definition.stage, definition.key)
        if section is not None and section.is_change_requested:
            services.save_section(
                session,
                request,
                definition.key,
                complete_data(definition, variant="(corrigé)"),
                principal=cast.owner_of(definition),
                expected_version=None,
            )
    make_submittable(session, request, cast)


def take(
    session: Session,
    request: HabilitationRequest,
    cast: Cast,
    event: Event,
    actor: Actor,
    *,
    reason: str | None = REASON,
    sections: list[str] | None = None,
) -> None:
    if event is Event.REQUEST_CHANGES and sections is None:
        sections = sections_to_name(request)
    services.apply_event(
        session, request, event, principal=cast.principal(actor), reason=reason, sections=sections or ()
    )


# --- situations -------------------------------------------------------------------------------------

C, INS = Actor.COLLECTIVITE, Actor.INSTRUCTEUR
PARTIES = (Actor.COLLECTIVITE, Actor.EDITEUR, Actor.HEBERGEUR)


def build(session: Session, cast: Cast, situation: Situation) -> HabilitationRequest:
    """A request of ``cast``'s collectivité in ``situation``, flushed (the caller commits if needed)."""
    request = new_request(session, cast)
    make_submittable(session, request, cast)
    for step in PATHS[situation]:
        step(session, request, cast)
    session.flush()
    return request


def _event(event: Event, actor: Actor):  # type: ignore[no-untyped-def]
    def step(session: Session, request: HabilitationRequest, cast: Cast) -> None:
        take(session, request, cast, event, actor)

    step.__name__ = f"{event.value}_by_{actor.value}"
    return step


submit = _event(Event.SUBMIT, C)
request_changes = _event(Event.REQUEST_CHANGES, INS)
approve = _event(Event.APPROVE, INS)
refuse = _event(Event.REFUSE, INS)
archive = _event(Event.ARCHIVE, C)
reopen = _event(Event.REOPEN, C)
start_production = _event(Event.START_PRODUCTION, C)
revoke = _event(Event.REVOKE, INS)

VALIDATED_PATH = (submit, approve)
REOPENING_DRAFT_PATH = (*VALIDATED_PATH, reopen, change_something)
PRODUCTION_DRAFT_PATH = (*VALIDATED_PATH, start_production, make_submittable)

PATHS = {
    Situation.FRESH_DRAFT: (),
    Situation.SUBMITTED: (submit,),
    Situation.CHANGES_REQUESTED: (submit, request_changes, address_requested_changes),
    Situation.VALIDATED: VALIDATED_PATH,
    Situation.REFUSED: (submit, refuse),
    Situation.ARCHIVED: (submit, refuse, archive),
    Situation.REVOKED: (*VALIDATED_PATH, revoke),
    Situation.REOPENING_DRAFT: REOPENING_DRAFT_PATH,
    Situation.REOPENING_CHANGES_REQUESTED: (
        *REOPENING_DRAFT_PATH,
        submit,
        request_changes,
        address_requested_changes,
    ),
    Situation.REOPENING_SUBMITTED: (*REOPENING_DRAFT_PATH, submit),
    Situation.PRODUCTION_DRAFT: PRODUCTION_DRAFT_PATH,
    Situation.PRODUCTION_CHANGES_REQUESTED: (
        *PRODUCTION_DRAFT_PATH,
        submit,
        request_changes,
        address_requested_changes,
    ),
    Situation.PRODUCTION_SUBMITTED: (*PRODUCTION_DRAFT_PATH, submit),
    Situation.REFUSED_PRODUCTION: (*PRODUCTION_DRAFT_PATH, submit, refuse),
    Situation.VALIDATED_PRODUCTION: (*PRODUCTION_DRAFT_PATH, submit, approve),
}

# Where each situation stands (state, stage, is_reopening): checked by the tests of the builders
# themselves, so a wrong path is not mistaken for a wrong transition.
WHERE = {
    Situation.FRESH_DRAFT: (State.DRAFT, Stage.SANDBOX, False),
    Situation.SUBMITTED: (State.SUBMITTED, Stage.SANDBOX, False),
    Situation.CHANGES_REQUESTED: (State.CHANGES_REQUESTED, Stage.SANDBOX, False),
    Situation.VALIDATED: (State.VALIDATED, Stage.SANDBOX, False),
    Situation.REFUSED: (State.REFUSED, Stage.SANDBOX, False),
    Situation.ARCHIVED: (State.ARCHIVED, Stage.SANDBOX, False),
    Situation.REVOKED: (State.REVOKED, Stage.SANDBOX, False),
    Situation.REOPENING_DRAFT: (State.DRAFT, Stage.SANDBOX, True),
    Situation.REOPENING_CHANGES_REQUESTED: (State.CHANGES_REQUESTED, Stage.SANDBOX, True),
    Situation.REOPENING_SUBMITTED: (State.SUBMITTED, Stage.SANDBOX, True),
    Situation.PRODUCTION_DRAFT: (State.DRAFT, Stage.PRODUCTION, False),
    Situation.PRODUCTION_CHANGES_REQUESTED: (State.CHANGES_REQUESTED, Stage.PRODUCTION, False),
    Situation.PRODUCTION_SUBMITTED: (State.SUBMITTED, Stage.PRODUCTION, False),
    Situation.REFUSED_PRODUCTION: (State.REFUSED, Stage.PRODUCTION, False),
    Situation.VALIDATED_PRODUCTION: (State.VALIDATED, Stage.PRODUCTION, False),
}


def where(request: HabilitationRequest) -> tuple[State, Stage, bool]:
    return (request.state, request.stage, request.is_reopening)


# --- over HTTP --------------------------------------------------------------------------------------


def event_url(request_id: int, event: Event | str) -> str:
    return f"/demandes/{request_id}/evenements/{Event(event).value if isinstance(event, Event) else event}"


def event_form(
    request: HabilitationRequest,
    event: Event,
    *,
    reason: str | None = REASON,
    sections: list[str] | None = None,
    version: int | None = None,
    request_id: int | None = None,
) -> dict[str, Any]:
    """The fields the detail page's form for ``event`` posts (EventForm, prefixed by the event)."""
    if sections is None:
        sections = sections_to_name(request) or ["projet"]
    form: dict[str, Any] = {
        f"{event.value}-version": str(request.version if version is None else version),
        f"{event.value}-request_id": str(request.id if request_id is None else request_id),
        f"{event.value}-sections": sections,
    }
    if reason is not None:
        form[f"{event.value}-reason"] = reason
    return form


# --- « nothing changed » ----------------------------------------------------------------------------


def fingerprint(session: Session, request_id: int) -> dict[str, Any]:
    """Everything an event or a section edit could change, read afresh from the database."""
    session.expire_all()
    request = session.get(HabilitationRequest, request_id)
    assert request is not None
    return {
        "request": {
            column: getattr(request, column)
            for column in (
                "state",
                "stage",
                "is_reopening",
                "version",
                "intitule",
                "use_case",
                "last_event_at",
                "first_submitted_at",
                "deadline_started_at",
                "cgu_version",
                "cgu_accepted_at",
            )
        },
        "sections": sorted(
            (s.stage.value, s.key, s.status.value, content_sha256(s.data), s.attested_sha256, s.is_change_requested)
            for s in request.sections
        ),
        "habilitations": [(h.id, h.stage, h.state, h.end_reason) for h in request.habilitations],
        "timeline": timeline_count(session, request_id),
    }


def timeline_count(session: Session, request_id: int) -> int:
    return session.scalar(select(func.count()).select_from(TimelineEntry).where(TimelineEntry.request_id == request_id))


def audit_mark(session: Session) -> int:
    return session.scalar(select(func.coalesce(func.max(AuditEntry.id), 0)))


def audit_actions_since(session: Session, mark: int) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).where(AuditEntry.id > mark).order_by(AuditEntry.id)))
