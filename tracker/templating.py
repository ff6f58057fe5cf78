"""Template globals: enums with their display metadata, deadline helpers, the acting principal."""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from tracker.catalogue.definitions import FieldKind
from tracker.catalogue.scopes import labels_of
from tracker.db import utcnow
from tracker.habilitations.changelog import describe as describe_change
from tracker.habilitations.deadlines import deadline_status, instruction_deadline
from tracker.habilitations.expiry import is_expiring
from tracker.habilitations.models import NOTICE_LABELS, HabilitationState
from tracker.habilitations.workflow import Actor, Event, SectionStatus, Stage, State


def file_size(size: int) -> str:
    """« 12 ko », « 3,4 Mo »: French units and decimal comma."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} ko"
    return f"{size / (1024 * 1024):.1f} Mo".replace(".", ",")


def register_templating(app: Flask) -> None:
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters["file_size"] = file_size

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "principal": g.get("principal"),
            "State": State,
            "Stage": Stage,
            "Event": Event,
            "Actor": Actor,
            "SectionStatus": SectionStatus,
            "FieldKind": FieldKind,
            "HabilitationState": HabilitationState,
            "notice_labels": NOTICE_LABELS,
            "expiring": lambda habilitation: is_expiring(habilitation, utcnow().date()),
            "scope_labels": labels_of,
            "instruction_deadline": instruction_deadline,
            "describe_change": describe_change,
            "deadline_status": lambda started_at: deadline_status(started_at, utcnow()),
        }
