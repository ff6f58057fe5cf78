"""What an attestation covers and how its hashes are computed, recorded and invalidated.

The permission checks, the version check and the audit log are the caller's (``habilitations.services``):
this module only knows the request's sections and the attestation rows, so both sides stay acyclic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.accounts.principal import Principal
from tracker.attestations.models import Attestation
from tracker.catalogue.definitions import AttestationDefinition, FieldKind, SectionDefinition
from tracker.catalogue.rules import content_sha256
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import SectionStatus


@dataclass(frozen=True)
class CoveredContent:
    """Exactly what a signer binds themselves to: each covered section's content, and each document
    version the sections reference."""

    sections: dict[str, Any]
    documents: list[dict[str, Any]]

    @property
    def sha256(self) -> str:
        return content_sha256(self.sections)

    @property
    def section_hashes(self) -> dict[str, str]:
        return {key: content_sha256(data) for key, data in self.sections.items()}


def covered_content(
    request: HabilitationRequest, definition: AttestationDefinition, sections: Iterable[SectionDefinition]
) -> CoveredContent:
    """``sections``: the catalogue definitions of the covered sections (to find their document fields)."""
    contents: dict[str, Any] = {}
    documents: list[dict[str, Any]] = []
    for section_definition in sections:
        row = request.section(definition.stage, section_definition.key)
        data = row.data if row else {}
        contents[section_definition.key] = data
        for field in section_definition.fields:
            if field.kind is FieldKind.DOCUMENTS:
                documents.extend(
                    {
                        "section": section_definition.key,
                        "field": field.key,
                        "id": ref["id"],
                        "name": ref["name"],
                        "sha256": ref["sha256"],
                    }
                    for ref in data.get(field.key, [])
                )
    return CoveredContent(contents, documents)


def current_attestation(request: HabilitationRequest, kind: str) -> Attestation | None:
    """The valid attestation of this kind (after a cancelled update it may be older than an invalidated
    one), else the latest one."""
    of_kind = [a for a in request.attestations if a.kind == kind]
    valid = [a for a in of_kind if a.is_valid]
    return (valid or of_kind or [None])[-1]


def record(
    request: HabilitationRequest,
    definition: AttestationDefinition,
    content: CoveredContent,
    *,
    principal: Principal,
    signer_name: str,
    signer_function: str,
    now: datetime,
) -> Attestation:
    """Add the signed attestation and mark its sections attested."""
    attestation = Attestation(
        stage=definition.stage,
        kind=definition.key,
        statement_version=definition.statement.version,
        statement_sha256=definition.statement.sha256,
        content_sha256=content.sha256,
        sections=content.section_hashes,
        documents=content.documents,
        signer_id=principal.user.id,
        signer_name=signer_name,
        signer_function=signer_function,
        organization_id=principal.organization.id,
        organization_name=principal.organization.name,
        signed_at=now,
    )
    request.attestations.append(attestation)
    for key, section_hash in content.section_hashes.items():
        section = request.section(definition.stage, key)
        assert section is not None, "only complete sections are attested"
        section.status = SectionStatus.ATTESTED
        section.attested_sha256 = section_hash
        section.attested_at = now
        section.attested_by_id = principal.user.id
    return attestation


def invalidate(
    request: HabilitationRequest, definition: AttestationDefinition, *, reason: str, now: datetime
) -> Attestation | None:
    """The content moved away from what was signed: the attestation says so, and every section it
    covered is back to « complete » (to be attested again). Returns the attestation if it was valid."""
    for key in definition.sections:
        section = request.section(definition.stage, key)
        if section is not None and section.status is SectionStatus.ATTESTED:
            section.status = SectionStatus.COMPLETE
            section.attested_sha256 = section.attested_at = section.attested_by_id = None
    invalidated = None
    for attestation in request.attestations:
        if attestation.kind == definition.key and attestation.is_valid:
            attestation.invalidated_at = now
            attestation.invalidation_reason = reason
            invalidated = attestation
    return invalidated


def restore(request: HabilitationRequest, valid_ids: Iterable[int], kinds: set[str], now: datetime) -> None:
    """Back to an habilitation's content: of the given kinds, the attestations it held are valid again,
    later ones not."""
    kept = set(valid_ids)
    for attestation in request.attestations:
        if attestation.kind not in kinds:
            continue
        if attestation.id in kept:
            attestation.invalidated_at = None
            attestation.invalidation_reason = None
        elif attestation.is_valid:
            attestation.invalidated_at = now
            attestation.invalidation_reason = "Mise à jour annulée : retour au contenu de l'habilitation."
