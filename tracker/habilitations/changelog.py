"""What changed between two versions of a request's content, field by field, in words a reader of the
timeline understands (« Le champ « Nom du projet » a changé de « … » en « … » »). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from tracker.catalogue.definitions import ApiDefinition, FieldDefinition, FieldKind
from tracker.catalogue.scopes import SCOPES_BY_KEY, labels_of

EMPTY = "(vide)"

# Content as stored on a timeline entry or an habilitation: section data keyed "<stage>/<section key>".
Content = Mapping[str, Mapping[str, Any]]


def display_value(field: FieldDefinition, value: Any) -> str:
    if value in (None, "", [], {}):
        return EMPTY
    if field.kind is FieldKind.CHOICE:
        return dict(field.choices).get(value, str(value))
    if field.kind is FieldKind.MULTI_CHOICE and isinstance(value, list):
        labels = dict(field.choices)
        return ", ".join(labels.get(item, str(item)) for item in value)
    if field.kind is FieldKind.SCOPES and isinstance(value, list):
        return ", ".join(labels_of(value))
    if field.kind is FieldKind.SCOPE_JUSTIFICATIONS and isinstance(value, dict):
        return " ; ".join(
            f"{SCOPES_BY_KEY[k].label if k in SCOPES_BY_KEY else k} : {text}" for k, text in value.items()
        )
    if field.kind is FieldKind.CONFIRMATION:
        return "Oui" if value is True else EMPTY
    if field.kind is FieldKind.DOCUMENTS and isinstance(value, list):
        # The fingerprint tells two versions of a same-named file apart.
        return ", ".join(f"{ref.get('name')} (SHA-256 {str(ref.get('sha256'))[:12]}…)" for ref in value)
    if field.kind is FieldKind.DATE and isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return str(value)


def changes_between(api: ApiDefinition, before: Content, after: Content) -> list[dict[str, str]]:
    """Every field whose value differs, in form order, as plain strings (stored as JSON on the timeline)."""
    changes = []
    for section in api.sections:
        key = f"{section.stage.value}/{section.key}"
        old, new = before.get(key, {}), after.get(key, {})
        for field in section.fields:
            if old.get(field.key) != new.get(field.key):
                changes.append(
                    {
                        "section": section.label,
                        "field": field.label,
                        "before": display_value(field, old.get(field.key)),
                        "after": display_value(field, new.get(field.key)),
                    }
                )
    return changes


def describe(change: Mapping[str, str]) -> str:
    return f"Le champ « {change['field']} » a changé de « {change['before']} » en « {change['after']} »."
