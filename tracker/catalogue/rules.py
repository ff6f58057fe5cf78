"""Validation and completeness of section content, shared by the forms, the API and the dossiers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from tracker.catalogue.definitions import ApiDefinition, FieldDefinition, FieldKind, SectionDefinition
from tracker.habilitations.workflow import SectionStatus, Stage

REQUIRED = "Ce champ est obligatoire."


def canonical_json(data: Any) -> bytes:
    """One byte string per content, whatever the key order: what attestations hash."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_sha256(data: Any) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


def _field_error(definition: FieldDefinition, value: Any) -> str | None:
    if value in (None, ""):
        return REQUIRED if definition.is_required else None
    if definition.kind in (FieldKind.TEXT, FieldKind.TEXTAREA):
        if not isinstance(value, str) or not value.strip():
            return REQUIRED if definition.is_required else None
        if definition.max_length and len(value) > definition.max_length:
            return f"{definition.max_length} caractères au maximum."
    elif definition.kind is FieldKind.CHOICE:
        if value not in {key for key, _label in definition.choices}:
            return "Choisissez une valeur de la liste."
    elif definition.kind is FieldKind.DATE:
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            return "Saisissez une date valide (JJ/MM/AAAA)."
    elif definition.kind is FieldKind.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            return "Saisissez un nombre entier."
        if definition.min_value is not None and value < definition.min_value:
            return f"La valeur doit être supérieure ou égale à {definition.min_value}."
    return None


def validate_section(definition: SectionDefinition, data: Mapping[str, Any]) -> dict[str, str]:
    """Errors by field key; empty when the section is complete."""
    errors = {}
    for field_definition in definition.fields:
        error = _field_error(field_definition, data.get(field_definition.key))
        if error:
            errors[field_definition.key] = error
    for check in definition.checks:
        for key, message in check(data).items():
            errors.setdefault(key, message)
    return errors


def status_after_save(definition: SectionDefinition, data: Mapping[str, Any]) -> SectionStatus:
    """The status of freshly saved content (an attestation never survives an edit)."""
    if not any(value not in (None, "", [], {}) for value in data.values()):
        return SectionStatus.EMPTY
    return SectionStatus.IN_PROGRESS if validate_section(definition, data) else SectionStatus.COMPLETE


def submission_blockers(
    api: ApiDefinition,
    stage: Stage,
    statuses: Mapping[str, SectionStatus],
    *,
    cgu_accepted: bool,
) -> tuple[str, ...]:
    """Everything still missing before the stage can be submitted, in French, in form order."""
    problems = []
    for section in api.required_sections(stage):
        status = statuses.get(section.key, SectionStatus.EMPTY)
        if status in (SectionStatus.EMPTY, SectionStatus.IN_PROGRESS):
            problems.append(f"La section « {section.label} » n'est pas complète.")
        elif status is SectionStatus.COMPLETE:
            problems.append(f"La section « {section.label} » n'est pas attestée.")
    if not cgu_accepted:
        problems.append("Les conditions générales d'utilisation n'ont pas été acceptées.")
    return tuple(problems)
