"""What a dossier shows, gathered in a fixed number of statements and already worded in plain French.

``build_content`` returns a frozen tree: the template renders it, ``machine_readable`` serializes it as the
``dossier.json`` embedded in the PDF. Its ``content_sha256`` covers everything the dossier shows except when
it was generated and for which occasion (``kind``): two dossiers with the same hash show the same thing, so a
stored one can be served instead of rendering it again.

No Flask here: the worker builds dossiers outside any request.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import Session, joinedload

from tracker.accounts.models import Organization, OrganizationKind
from tracker.attestations.models import Attestation
from tracker.catalogue import CATALOGUE
from tracker.catalogue.definitions import ApiDefinition, FieldDefinition, FieldKind, SectionDefinition
from tracker.catalogue.rules import content_sha256, is_empty
from tracker.catalogue.scopes import SCOPES, SCOPES_BY_KEY
from tracker.documents.inspection import DocumentKind, download_name
from tracker.documents.models import Document
from tracker.documents.queries import documents_by_id
from tracker.dossiers import DOSSIER_JSON_NAME
from tracker.habilitations.changelog import EMPTY, describe, display_value
from tracker.habilitations.models import (
    DOSSIER_NOTICE,
    NOTICE_LABELS,
    Habilitation,
    HabilitationRequest,
    RequestSection,
    TimelineEntry,
)
from tracker.habilitations.parties import hosting_of
from tracker.habilitations.workflow import Actor, Event, Stage, State

# Bumped whenever dossier.json changes shape; stored dossiers of an older format are rendered again.
FORMAT_VERSION = 1

PARIS = ZoneInfo("Europe/Paris")


class DossierKind(enum.StrEnum):
    """Why the dossier is generated: the snapshots of a submission and of an approval, or on demand."""

    SUBMISSION = "submission"
    APPROVAL = "approval"
    CURRENT = "current"

    @property
    def title(self) -> str:
        return {
            DossierKind.SUBMISSION: "Dossier de soumission",
            DossierKind.APPROVAL: "Dossier d'habilitation",
            DossierKind.CURRENT: "Dossier de la demande",
        }[self]


# The timeline reads as a record of what happened, so its entries are worded in the past tense.
EVENT_TITLES = {
    Event.CREATE: "Demande créée",
    Event.SUBMIT: "Demande soumise à la DGFiP",
    Event.REQUEST_CHANGES: "Modifications demandées par la DGFiP",
    Event.APPROVE: "Demande validée",
    Event.REFUSE: "Demande refusée",
    Event.ARCHIVE: "Demande supprimée",
    Event.REOPEN: "Mise à jour de l'habilitation engagée",
    Event.CANCEL_REOPENING: "Mise à jour annulée",
    Event.START_PRODUCTION: "Étape de production engagée",
    Event.CANCEL_PRODUCTION: "Étape de production annulée",
    Event.REVOKE: "Habilitations révoquées",
}
assert set(EVENT_TITLES) == set(Event), "every event has its past-tense title"

# The state a dossier states on its cover, with the event whose date it gives.
STATE_DATED_BY = {
    State.SUBMITTED: ("Soumis le", Event.SUBMIT),
    State.VALIDATED: ("Validé le", Event.APPROVE),
    State.REFUSED: ("Refusé le", Event.REFUSE),
    State.ARCHIVED: ("Supprimé le", Event.ARCHIVE),
    State.REVOKED: ("Révoqué le", Event.REVOKE),
}
# Who acted, as the timeline records it: a workflow actor, or the tracker's own scheduled jobs.
PARTY_LABELS = {**{actor.value: actor.label for actor in Actor}, "systeme": "Traitement automatique"}
NOT_SUBMITTED = frozenset({State.DRAFT, State.CHANGES_REQUESTED})
DRAFT_LABEL = "Brouillon"
NOT_DESIGNATED = "Non désigné"


def format_datetime(moment: datetime | None) -> str:
    """« 03/02/2026 à 10:12 », Paris time: how the pages of the tracker write an instant."""
    return "—" if moment is None else moment.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M")


def format_date(day: date | None) -> str:
    return "—" if day is None else day.strftime("%d/%m/%Y")


def _dossier_only() -> dict[str, bool]:
    """Metadata of a field that describes the dossier rather than the request: left out of the hash."""
    return {"dossier_only": True}


def _internal() -> dict[str, bool]:
    """Metadata of a field the code needs but the dossier never shows (e.g. a storage key)."""
    return {"internal": True}


@dataclass(frozen=True)
class PartyEntry:
    role: str
    name: str | None
    siret: str | None
    detail: str = ""


@dataclass(frozen=True)
class KeyDate:
    label: str
    at: datetime | None
    note: str = ""


@dataclass(frozen=True)
class HabilitationEntry:
    number: str
    stage: str
    state: str
    delivered_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    expires_on: date | None


@dataclass(frozen=True)
class DocumentEntry:
    """One document version named by a section, as it travels with the dossier (a PDF attachment)."""

    document_id: int
    name: str
    # The attachment's name inside the PDF: the uploaded name, made unique; None when the tracker holds
    # no stored file for the reference (it cannot travel with the dossier).
    annex_name: str | None
    size: int
    sha256: str
    section: str
    field: str
    kind: str
    page_count: int | None
    uploaded_at: datetime | None
    storage_key: str | None = field(default=None, metadata=_internal())

    @property
    def description(self) -> str:
        return f"{self.section} – {self.field}"


@dataclass(frozen=True)
class ScopeGroupEntry:
    label: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class FieldEntry:
    """A field as the dossier shows it. ``kind`` says which of the value attributes holds it."""

    key: str
    label: str
    kind: str  # "text", "list", "scopes", "justifications", "documents"
    text: str = ""
    items: tuple[str, ...] = ()
    groups: tuple[ScopeGroupEntry, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    documents: tuple[DocumentEntry, ...] = ()


@dataclass(frozen=True)
class SectionEntry:
    key: str
    label: str
    stage: str
    owner: str
    status: str
    description: str
    fields: tuple[FieldEntry, ...]
    attested_at: datetime | None
    attested_by: str | None
    attested_sha256: str | None
    is_change_requested: bool
    # The content as stored (keys and values of the catalogue), for the machines reading dossier.json.
    data: Mapping[str, Any]

    @property
    def anchor(self) -> str:
        return f"section-{self.key}"


@dataclass(frozen=True)
class AttestationEntry:
    kind: str
    label: str
    owner: str
    sections: tuple[str, ...]
    status: str  # « Valide », « Invalidée », « Non signée »
    signer_name: str | None = None
    signer_function: str | None = None
    organization_name: str | None = None
    signed_at: datetime | None = None
    invalidated_at: datetime | None = None
    invalidation_reason: str | None = None
    content_sha256: str | None = None
    statement_version: str | None = None
    statement_sha256: str | None = None
    statement: str | None = None

    @property
    def is_valid(self) -> bool:
        return self.signed_at is not None and self.invalidated_at is None


@dataclass(frozen=True)
class CguEntry:
    stage: str
    version: str | None
    sha256: str | None
    accepted_at: datetime | None


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    title: str
    actor_name: str
    actor_role: str
    actor_organization: str | None
    transition: str
    sections: tuple[str, ...] = ()
    habilitations: tuple[str, ...] = ()
    compared_with: str | None = None
    changes: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class DossierContent:
    """Everything one dossier shows. Fields marked ``dossier_only`` describe this rendering of it."""

    request_id: int
    request_number: str
    title: str
    api_label: str
    use_case: str | None
    state: str
    stage: str
    is_reopening: bool
    dossier_state: str
    is_draft: bool
    parties: tuple[PartyEntry, ...]
    software_product: str | None
    editeur_sandbox_habilitation: str | None
    key_dates: tuple[KeyDate, ...]
    habilitations: tuple[HabilitationEntry, ...]
    sections: tuple[SectionEntry, ...]
    attestations: tuple[AttestationEntry, ...]
    cgu: CguEntry
    documents: tuple[DocumentEntry, ...]
    timeline: tuple[TimelineItem, ...]
    verification_url: str
    kind: DossierKind = field(metadata=_dossier_only())
    generated_at: datetime = field(metadata=_dossier_only())
    request_version: int = field(metadata=_dossier_only())

    @property
    def heading(self) -> str:
        """« Dossier de soumission » and the like."""
        return self.kind.title

    @property
    def document_title(self) -> str:
        """The PDF's title: « Dossier D12 – <intitulé> »."""
        return f"Dossier {self.request_number} – {self.title}"

    @property
    def attached_documents(self) -> tuple[DocumentEntry, ...]:
        return tuple(document for document in self.documents if document.annex_name is not None)

    def request_data(self) -> dict[str, Any]:
        """The request as this dossier shows it: what ``content_sha256`` covers."""
        return {
            item.name: _plain(getattr(self, item.name))
            for item in dataclasses.fields(self)
            if not item.metadata.get("dossier_only")
        }

    @cached_property
    def content_sha256(self) -> str:
        return content_sha256(self.request_data())

    def machine_readable(self) -> dict[str, Any]:
        """The content of ``dossier.json``: the dossier's identity, then the request's data. Anyone can
        check ``content_sha256`` by hashing the canonical JSON (sorted keys, no whitespace, UTF-8) of
        ``request``."""
        return {
            "dossier": {
                "format_version": FORMAT_VERSION,
                "kind": self.kind.value,
                "generated_at": self.generated_at.isoformat(),
                "request_id": self.request_id,
                "request_number": self.request_number,
                "request_version": self.request_version,
                "content_sha256": self.content_sha256,
            },
            "request": self.request_data(),
        }

    def json_bytes(self) -> bytes:
        """``dossier.json`` as attached to the PDF: indented for a human opening it, keys sorted."""
        return json.dumps(self.machine_readable(), ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses as objects (internal fields left out), instants in ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            item.name: _plain(getattr(value, item.name))
            for item in dataclasses.fields(value)
            if not item.metadata.get("internal")
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


# --- loading ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Loaded:
    request: HabilitationRequest
    sections: list[RequestSection]
    habilitations: list[Habilitation]
    attestations: list[Attestation]
    timeline: list[TimelineEntry]
    documents: dict[int, Document]
    dgfip: Organization | None


def _load(session: Session, request_id: int) -> _Loaded:
    """Seven statements, whatever the size of the request's history; relationships of the request are
    never touched afterwards (each would be a lazy load)."""
    request = session.execute(
        select(HabilitationRequest)
        .options(
            joinedload(HabilitationRequest.organization),
            joinedload(HabilitationRequest.editeur),
            joinedload(HabilitationRequest.hebergeur),
            joinedload(HabilitationRequest.software_product),
        )
        .where(HabilitationRequest.id == request_id)
    ).scalar_one()
    sections = list(
        session.execute(
            select(RequestSection).where(RequestSection.request_id == request_id).order_by(RequestSection.id)
        ).scalars()
    )
    habilitations = list(
        session.execute(
            select(Habilitation).where(Habilitation.request_id == request_id).order_by(Habilitation.id)
        ).scalars()
    )
    attestations = list(
        session.execute(
            select(Attestation).where(Attestation.request_id == request_id).order_by(Attestation.id)
        ).scalars()
    )
    timeline = list(
        session.execute(
            select(TimelineEntry)
            .options(joinedload(TimelineEntry.actor_organization))
            .where(TimelineEntry.request_id == request_id)
            # A dossier cannot hold its own signature: the entries recording dossiers stay out of every
            # dossier, so that recording one does not change the content of the next.
            .where(or_(TimelineEntry.notice.is_(None), TimelineEntry.notice != DOSSIER_NOTICE))
            .order_by(TimelineEntry.created_at, TimelineEntry.id)
        ).scalars()
    )
    documents = documents_by_id(session, request_id)
    # The DGFiP that decided on the request names itself on the timeline; before any decision, the first
    # DGFiP organization of the tracker stands for it (there is one in practice).
    dgfip = session.execute(
        select(Organization)
        .where(Organization.kind == OrganizationKind.DGFIP, Organization.is_active.is_(True))
        .order_by(Organization.id)
        .limit(1)
    ).scalar_one_or_none()
    deciders = [
        entry.actor_organization
        for entry in timeline
        if entry.actor_organization is not None and entry.actor_organization.kind is OrganizationKind.DGFIP
    ]
    return _Loaded(
        request, sections, habilitations, attestations, timeline, documents, deciders[-1] if deciders else dgfip
    )


# --- building -----------------------------------------------------------------------------------------


def build_content(
    session: Session,
    request: HabilitationRequest,
    *,
    kind: DossierKind | str,
    generated_at: datetime,
    verification_url: str,
) -> DossierContent:
    """Everything the dossier of ``request`` shows, read in seven statements (pending changes are flushed
    first by the session's autoflush)."""
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be timezone-aware")
    kind = DossierKind(kind)
    # The identity survives expiry: reading ``request.id`` after a commit would cost a statement.
    identity = inspect(request).identity
    if identity is None:
        raise ValueError("the request must be flushed before its dossier is built")
    loaded = _load(session, identity[0])
    request = loaded.request
    api = CATALOGUE[request.api]
    documents = _DocumentCatalogue(loaded.documents)
    sections = tuple(
        _section_entry(definition, loaded, documents) for definition in api.required_sections(request.stage)
    )
    last_event_at = _last_dates(loaded.timeline)
    return DossierContent(
        request_id=request.id,
        request_number=request.number,
        title=request.intitule or "Projet sans titre",
        api_label=api.label,
        use_case=use_case.label if (use_case := api.use_case(request.use_case)) else None,
        state=request.state.label,
        stage=request.stage.label,
        is_reopening=request.is_reopening,
        dossier_state=_dossier_state(request.state, last_event_at),
        is_draft=request.state in NOT_SUBMITTED,
        parties=_parties(loaded),
        software_product=request.software_product.label if request.software_product else None,
        editeur_sandbox_habilitation=(
            f"H{request.editeur_sandbox_habilitation_id}" if request.editeur_sandbox_habilitation_id else None
        ),
        key_dates=_key_dates(request, last_event_at),
        habilitations=tuple(
            HabilitationEntry(
                number=habilitation.number,
                stage=habilitation.stage.label,
                state=habilitation.state.label,
                delivered_at=habilitation.created_at,
                ended_at=habilitation.ended_at,
                end_reason=habilitation.end_reason,
                expires_on=habilitation.expires_on,
            )
            for habilitation in loaded.habilitations
        ),
        sections=sections,
        attestations=_attestations(api, request, loaded.attestations),
        cgu=CguEntry(
            stage=request.stage.label,
            version=request.cgu_version,
            sha256=request.cgu_sha256,
            accepted_at=request.cgu_accepted_at,
        ),
        documents=documents.in_order_of_appearance(),
        timeline=tuple(_timeline_item(api, entry) for entry in loaded.timeline),
        verification_url=verification_url,
        kind=kind,
        generated_at=generated_at,
        request_version=request.version,
    )


def _last_dates(timeline: Iterable[TimelineEntry]) -> dict[Event, datetime]:
    """When each event last happened (the timeline is read oldest first)."""
    return {entry.event: entry.created_at for entry in timeline if entry.event is not None}


def _dossier_state(state: State, last_event_at: Mapping[Event, datetime]) -> str:
    """« Brouillon », « Soumis le … », « Validé le … ». Read from the request's state, not from the kind of
    dossier: a snapshot taken at submission and a dossier asked for later, before anything changed, say
    the same thing (and have the same content hash)."""
    if state in NOT_SUBMITTED:
        return DRAFT_LABEL
    words, event = STATE_DATED_BY[state]
    return f"{words} {format_datetime(last_event_at.get(event))}"


def _parties(loaded: _Loaded) -> tuple[PartyEntry, ...]:
    request = loaded.request
    hosting = hosting_of(request)
    return (
        PartyEntry(
            "Demandeur (éditeur, pour son logiciel)" if request.is_editeur_sandbox else "Collectivité",
            request.organization.name,
            request.organization.siret,
        ),
        PartyEntry(
            "Éditeur",
            request.editeur.name if request.editeur else None,
            request.editeur.siret if request.editeur else None,
        ),
        PartyEntry(
            "Hébergeur",
            request.hebergeur.name if request.hebergeur else None,
            request.hebergeur.siret if request.hebergeur else None,
            hosting.label if hosting else "",
        ),
        PartyEntry(
            "DGFiP",
            loaded.dgfip.name if loaded.dgfip else "Direction générale des Finances publiques",
            loaded.dgfip.siret if loaded.dgfip else None,
            "Instruction de la demande",
        ),
    )


def _key_dates(request: HabilitationRequest, last_event_at: Mapping[Event, datetime]) -> tuple[KeyDate, ...]:
    return (
        KeyDate("Création de la demande", request.created_at),
        KeyDate("Première soumission", request.first_submitted_at),
        KeyDate("Dernière soumission", last_event_at.get(Event.SUBMIT)),
        KeyDate("Dernière validation", last_event_at.get(Event.APPROVE)),
        KeyDate(
            "Date limite d'instruction",
            request.deadline_at,
            "deux mois après la soumission ; au-delà, le silence vaut rejet" if request.deadline_at else "",
        ),
    )


class _DocumentCatalogue:
    """The documents the sections name, each once, with an attachment name unique in the PDF."""

    def __init__(self, rows: Mapping[int, Document]) -> None:
        self.rows = rows
        self.entries: dict[tuple[int, str], DocumentEntry] = {}
        self.taken_names = {DOSSIER_JSON_NAME}

    def entry(self, reference: Mapping[str, Any], section: SectionDefinition, field: FieldDefinition) -> DocumentEntry:
        key = (int(reference.get("id") or 0), str(reference.get("sha256") or ""))
        if key not in self.entries:
            row = self.rows.get(key[0])
            # A row only counts when it is the very version the section names.
            if row is not None and row.sha256 != key[1]:
                row = None
            self.entries[key] = DocumentEntry(
                document_id=key[0],
                name=str(reference.get("name") or ""),
                annex_name=self._unique_name(row) if row is not None else None,
                size=int(reference.get("size") or (row.size if row else 0)),
                sha256=key[1],
                section=section.label,
                field=field.label,
                kind=DocumentKind(row.kind).label if row is not None else "",
                page_count=row.page_count if row is not None else None,
                uploaded_at=row.created_at if row is not None else None,
                storage_key=row.storage_key if row is not None else None,
            )
        return self.entries[key]

    def _unique_name(self, row: Document) -> str:
        name = download_name(row.filename, DocumentKind(row.kind))
        stem, dot, extension = name.rpartition(".")
        if not dot:
            stem, extension = name, ""
        candidate, number = name, 1
        while candidate.casefold() in self.taken_names:
            number += 1
            candidate = f"{stem} ({number}){dot}{extension}"
        self.taken_names.add(candidate.casefold())
        return candidate

    def in_order_of_appearance(self) -> tuple[DocumentEntry, ...]:
        return tuple(self.entries.values())


def _section_entry(definition: SectionDefinition, loaded: _Loaded, documents: _DocumentCatalogue) -> SectionEntry:
    row = next((s for s in loaded.sections if s.stage is definition.stage and s.key == definition.key), None)
    data = row.data if row is not None else {}
    attestation = next(
        (
            a
            for a in loaded.attestations
            if a.is_valid and a.stage is definition.stage and definition.key in (a.sections or {})
        ),
        None,
    )
    return SectionEntry(
        key=definition.key,
        label=definition.label,
        stage=definition.stage.label,
        owner=definition.owner.label,
        status=row.status.label if row is not None else "Non commencée",
        description=definition.description,
        fields=tuple(
            _field_entry(definition, field, data.get(field.key), documents)
            for field in definition.fields
            # Optional fields left empty (a certification not held…) would only add rows of « (vide) ».
            if field.is_required or not is_empty(data.get(field.key))
        ),
        attested_at=row.attested_at if row is not None else None,
        attested_by=attestation.signer_name if attestation is not None and row and row.attested_at else None,
        attested_sha256=row.attested_sha256 if row is not None else None,
        is_change_requested=bool(row and row.is_change_requested and loaded.request.state is State.CHANGES_REQUESTED),
        data=copy.deepcopy(dict(data)),
    )


def _field_entry(
    section: SectionDefinition, field: FieldDefinition, value: Any, documents: _DocumentCatalogue
) -> FieldEntry:
    if is_empty(value):
        return FieldEntry(field.key, field.label, "text", text=EMPTY)
    if field.kind is FieldKind.SCOPES and isinstance(value, list):
        return FieldEntry(field.key, field.label, "scopes", groups=_scope_groups(value))
    if field.kind is FieldKind.SCOPE_JUSTIFICATIONS and isinstance(value, dict):
        ordered = [scope for scope in SCOPES if scope.key in value]
        unknown = [key for key in value if key not in SCOPES_BY_KEY]
        return FieldEntry(
            field.key,
            field.label,
            "justifications",
            pairs=(
                *((scope.label, str(value[scope.key])) for scope in ordered),
                *((f"Donnée inconnue du catalogue ({key})", str(value[key])) for key in unknown),
            ),
        )
    if field.kind is FieldKind.MULTI_CHOICE and isinstance(value, list):
        labels = dict(field.choices)
        return FieldEntry(field.key, field.label, "list", items=tuple(labels.get(item, str(item)) for item in value))
    if field.kind is FieldKind.DOCUMENTS and isinstance(value, list):
        return FieldEntry(
            field.key,
            field.label,
            "documents",
            documents=tuple(documents.entry(reference, section, field) for reference in value),
        )
    return FieldEntry(field.key, field.label, "text", text=display_value(field, value))


def _scope_groups(keys: list[str]) -> tuple[ScopeGroupEntry, ...]:
    """The chosen data items under their group's label, in the catalogue's order."""
    groups: dict[str, list[str]] = {}
    for scope in SCOPES:
        if scope.key in keys:
            label = scope.label
            if scope.deprecated_on is not None:
                label += f" (retirée du catalogue le {format_date(scope.deprecated_on)})"
            groups.setdefault(scope.group.label, []).append(label)
    if unknown := [key for key in keys if key not in SCOPES_BY_KEY]:
        groups["Données inconnues du catalogue"] = unknown
    return tuple(ScopeGroupEntry(label, tuple(scopes)) for label, scopes in groups.items())


def _attestations(
    api: ApiDefinition, request: HabilitationRequest, rows: list[Attestation]
) -> tuple[AttestationEntry, ...]:
    """Each attestation of the stages the request went through: the valid one, else the latest one."""
    entries = []
    for definition in api.attestations:
        if definition.stage is Stage.PRODUCTION and request.stage is not Stage.PRODUCTION:
            continue
        of_kind = [a for a in rows if a.kind == definition.key]
        current = ([a for a in of_kind if a.is_valid] or of_kind or [None])[-1]
        base = {
            "kind": definition.key,
            "label": definition.label,
            "owner": definition.owner.label,
            "sections": tuple(api.section(key).label for key in definition.sections),
        }
        if current is None:
            entries.append(AttestationEntry(**base, status="Non signée"))
            continue
        statement = definition.statement
        entries.append(
            AttestationEntry(
                **base,
                status="Valide" if current.is_valid else "Invalidée",
                signer_name=current.signer_name,
                signer_function=current.signer_function,
                organization_name=current.organization_name,
                signed_at=current.signed_at,
                invalidated_at=current.invalidated_at,
                invalidation_reason=current.invalidation_reason,
                content_sha256=current.content_sha256,
                statement_version=current.statement_version,
                statement_sha256=current.statement_sha256,
                # The words signed, when the catalogue still holds that exact version of them.
                statement=statement.text if statement.sha256 == current.statement_sha256 else None,
            )
        )
    return tuple(entries)


def _timeline_item(api: ApiDefinition, entry: TimelineEntry) -> TimelineItem:
    details = entry.details or {}
    if entry.event is None:
        title = NOTICE_LABELS.get(entry.notice or "", entry.notice or "Information")
        transition = f"{entry.to_state.label} ({entry.stage.label.lower()})"
    else:
        title = EVENT_TITLES[entry.event]
        source = f"{entry.from_state.label} → " if entry.from_state else ""
        transition = f"{source}{entry.to_state.label} ({entry.stage.label.lower()})"
    section_labels = {section.key: section.label for section in api.sections}
    changes: tuple[str, ...] = ()
    compared_with = None
    if entry.event is Event.SUBMIT and not details.get("first_submission") and "changes" in details:
        compared_with = details.get("compared_with") or None
        changes = tuple(f"{describe(change)} ({change['section']})" for change in details["changes"])
    habilitations = details.get("habilitations") or ([details["habilitation"]] if details.get("habilitation") else [])
    return TimelineItem(
        at=entry.created_at,
        title=title,
        actor_name=entry.actor_name,
        actor_role=PARTY_LABELS.get(entry.actor_party, entry.actor_party),
        actor_organization=entry.actor_organization.name if entry.actor_organization else None,
        transition=transition,
        sections=tuple(section_labels.get(key, key) for key in details.get("sections") or ()),
        habilitations=tuple(str(number) for number in habilitations),
        compared_with=compared_with,
        changes=changes,
        reason=entry.reason,
    )


__all__ = [
    "FORMAT_VERSION",
    "AttestationEntry",
    "CguEntry",
    "DocumentEntry",
    "DossierContent",
    "DossierKind",
    "FieldEntry",
    "HabilitationEntry",
    "KeyDate",
    "PartyEntry",
    "ScopeGroupEntry",
    "SectionEntry",
    "TimelineItem",
    "build_content",
    "format_date",
    "format_datetime",
]
