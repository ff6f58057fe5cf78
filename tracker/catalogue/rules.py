"""Validation and completeness of section content, shared by the forms, the API and the dossiers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from tracker.catalogue import formats
from tracker.catalogue.definitions import (
    MAX_DOCUMENTS_PER_FIELD,
    ApiDefinition,
    FieldDefinition,
    FieldKind,
    SectionDefinition,
    ValidationContext,
)
from tracker.catalogue.scopes import SCOPES_BY_KEY
from tracker.habilitations.workflow import SectionStatus, Stage

REQUIRED = "Ce champ est obligatoire."
JUSTIFICATION_MAX_LENGTH = 2000


def canonical_json(data: Any) -> bytes:
    """One byte string per content, whatever the key order: what attestations hash."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def content_sha256(data: Any) -> str:
    return hashlib.sha256(canonical_json(data)).hexdigest()


def _text_error(definition: FieldDefinition, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return REQUIRED if definition.is_required else None
    if definition.max_length and len(value) > definition.max_length:
        return f"{definition.max_length} caractères au maximum."
    return None


def _choice_error(definition: FieldDefinition, value: Any) -> str | None:
    return None if value in {key for key, _label in definition.choices} else "Choisissez une valeur de la liste."


def _multi_choice_error(definition: FieldDefinition, value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return "Choisissez parmi les valeurs proposées."
    if not value:
        return "Cochez au moins une case." if definition.is_required else None
    if set(value) - {key for key, _label in definition.choices}:
        return "Choisissez parmi les valeurs proposées."
    return None


def _date_error(_definition: FieldDefinition, value: Any) -> str | None:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return "Saisissez une date valide (JJ/MM/AAAA)."
    return None


def _integer_error(definition: FieldDefinition, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "Saisissez un nombre entier."
    if definition.min_value is not None and value < definition.min_value:
        return f"La valeur doit être supérieure ou égale à {definition.min_value}."
    return None


def _confirmation_error(definition: FieldDefinition, value: Any) -> str | None:
    if value is not True:
        return "Cochez cette case." if definition.is_required else None
    return None


def _documents_error(definition: FieldDefinition, value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(item, dict) and "sha256" in item for item in value):
        return "Déposez les documents à nouveau."
    if len(value) > MAX_DOCUMENTS_PER_FIELD:
        return f"{MAX_DOCUMENTS_PER_FIELD} documents au maximum."
    return None


def _scopes_error(_definition: FieldDefinition, value: Any) -> str | None:
    # The rules between data items need the creation date: the section's checks apply them. Unknown keys
    # are refused here, so also on the « besoin spécifique » path where the rules do not apply.
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return "Choisissez parmi les données proposées."
    if unknown := set(value) - SCOPES_BY_KEY.keys():
        return f"Donnée inconnue : {', '.join(sorted(unknown))}."
    return None


def _justifications_error(_definition: FieldDefinition, value: Any) -> str | None:
    if not isinstance(value, dict) or not all(isinstance(text, str) for text in value.values()):
        return "Justifications illisibles : saisissez-les à nouveau."
    if set(value) - SCOPES_BY_KEY.keys():
        return "Justification d'une donnée inconnue : saisissez-les à nouveau."
    if any(len(text) > JUSTIFICATION_MAX_LENGTH for text in value.values()):
        return f"{JUSTIFICATION_MAX_LENGTH} caractères au maximum par justification."
    return None


def _formatted(check: Callable[[str], str | None]) -> Callable[[FieldDefinition, Any], str | None]:
    def field_error(definition: FieldDefinition, value: Any) -> str | None:
        return _text_error(definition, value) or check(value.strip())

    return field_error


FIELD_CHECKS: dict[FieldKind, Callable[[FieldDefinition, Any], str | None]] = {
    FieldKind.TEXT: _text_error,
    FieldKind.TEXTAREA: _text_error,
    FieldKind.CHOICE: _choice_error,
    FieldKind.MULTI_CHOICE: _multi_choice_error,
    FieldKind.DATE: _date_error,
    FieldKind.INTEGER: _integer_error,
    FieldKind.EMAIL: _formatted(formats.email_error),
    FieldKind.PHONE: _formatted(formats.phone_error),
    FieldKind.URL: _formatted(formats.url_error),
    FieldKind.SIRET: _formatted(formats.siret_error),
    FieldKind.CONFIRMATION: _confirmation_error,
    FieldKind.DOCUMENTS: _documents_error,
    FieldKind.SCOPES: _scopes_error,
    FieldKind.SCOPE_JUSTIFICATIONS: _justifications_error,
}
assert set(FIELD_CHECKS) == set(FieldKind), "every field kind has its check"


def is_empty(value: Any) -> bool:
    # ``is``, not ``in``: the integer 0 is a value, though 0 == False.
    return value is None or value is False or value in ("", [], {})


def _field_error(definition: FieldDefinition, value: Any) -> str | None:
    if is_empty(value):
        if not definition.is_required:
            return None
        return {
            FieldKind.CONFIRMATION: "Cochez cette case.",
            FieldKind.DOCUMENTS: "Déposez au moins un document.",
        }.get(definition.kind, REQUIRED)
    return FIELD_CHECKS[definition.kind](definition, value)


def validate_section(
    definition: SectionDefinition, data: Mapping[str, Any], context: ValidationContext | None = None
) -> dict[str, str]:
    """Errors by field key (several messages of one field joined by line breaks); empty when the section
    is complete."""
    context = context or ValidationContext.on(date.today())
    errors = {}
    for field_definition in definition.fields:
        error = _field_error(field_definition, data.get(field_definition.key))
        if error:
            errors[field_definition.key] = error
    for check in definition.checks:
        for key, message in check(data, context).items():
            errors.setdefault(key, message)
    return errors


def status_after_save(
    definition: SectionDefinition, data: Mapping[str, Any], context: ValidationContext | None = None
) -> SectionStatus:
    """The status of freshly saved content (an attestation never survives an edit)."""
    if all(is_empty(value) for value in data.values()):
        return SectionStatus.EMPTY
    return SectionStatus.IN_PROGRESS if validate_section(definition, data, context) else SectionStatus.COMPLETE


def submission_blockers(
    api: ApiDefinition,
    stage: Stage,
    statuses: Mapping[str, SectionStatus],
    *,
    cgu_accepted: bool,
) -> tuple[str, ...]:
    """Everything still missing before the stage can be submitted, in French, in form order: sections
    to complete, then attestations to sign, then the CGU."""
    required = api.required_sections(stage)
    problems = [
        f"La section « {section.label} » n'est pas complète."
        for section in required
        if statuses.get(section.key, SectionStatus.EMPTY) in (SectionStatus.EMPTY, SectionStatus.IN_PROGRESS)
    ]
    required_keys = {section.key for section in required}
    for attestation in api.attestations:
        covered = [statuses.get(key, SectionStatus.EMPTY) for key in attestation.sections]
        if set(attestation.sections) <= required_keys and SectionStatus.COMPLETE in covered:
            problems.append(f"L'attestation « {attestation.label} » n'est pas signée.")
    if not cgu_accepted:
        problems.append("Les conditions générales d'utilisation n'ont pas été acceptées.")
    return tuple(problems)
