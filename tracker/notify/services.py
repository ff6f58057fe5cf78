"""Queueing messages in the outbox, inside the transaction of the change that causes them, and recording
which notifications a user turned off. Flush; the caller commits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.accounts.models import User
from tracker.audit import services as audit
from tracker.db import utcnow
from tracker.notify.kinds import NotificationKind
from tracker.notify.models import NotificationPreference, OutboxMessage, OutboxStatus
from tracker.notify.unsubscribe import unsubscribe_url

# RFC 8058: a mail client offers its own « unsubscribe » button, which POSTs this body to the URL.
ONE_CLICK = "List-Unsubscribe=One-Click"


def queue_email(
    session: Session,
    template: str,
    recipient: str,
    *,
    kind: NotificationKind | None = None,
    unsubscribe_user_id: int | None = None,
    habilitation_request_id: int | None = None,
    confidential: bool = False,
    **context: Any,
) -> OutboxMessage:
    """Render ``templates/emails/<template>.txt`` (first line: ``Subject: …``) and its .html twin.

    ``kind`` names the notification of DOMAIN §10 this is. With ``unsubscribe_user_id`` (the DGFiP agent it
    is addressed to), both bodies carry a link to turn that kind off and the message carries the RFC 8058
    headers that let a mail client do it in one click.
    ``confidential`` messages (holding a link that grants access) lose their body once delivered.
    """
    context.setdefault("base_url", current_app.config["BASE_URL"].rstrip("/"))
    details: dict[str, Any] = {}
    if kind is not None:
        details["notification"] = kind.value
    if unsubscribe_user_id is not None:
        if kind is None:
            raise ValueError("an unsubscribe link needs the kind of notification it turns off")
        url = unsubscribe_url(unsubscribe_user_id, kind)
        context["unsubscribe_url"] = url
        details["headers"] = {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK}
    if confidential:
        details["confidential"] = True
    rendered = render_template(f"emails/{template}.txt", **context)
    subject_line, _, body_text = rendered.partition("\n")
    if not subject_line.startswith("Subject: "):
        raise ValueError(f"emails/{template}.txt must start with a 'Subject: ' line")
    message = OutboxMessage(
        kind="email",
        template=template,
        recipient=recipient,
        subject=subject_line.removeprefix("Subject: ").strip(),
        body_text=body_text.lstrip("\n"),
        body_html=render_template(f"emails/{template}.html", **context),
        habilitation_request_id=habilitation_request_id,
        status=OutboxStatus.PENDING,
        details=details,
    )
    session.add(message)
    session.flush()
    return message


def _new_preference_row(session: Session, user_id: int, kind: NotificationKind) -> NotificationPreference:
    """A row for a kind the user had never chosen (received, the default), for the caller to set."""
    try:
        with session.begin_nested():
            row = NotificationPreference(user_id=user_id, kind=kind, is_enabled=True, updated_at=utcnow())
            session.add(row)
    except IntegrityError:
        # Saved at the same moment elsewhere (a mail client's one-click POST and the person's own click):
        # the other transaction's row is the one to update.
        row = session.execute(
            select(NotificationPreference).where(
                NotificationPreference.user_id == user_id, NotificationPreference.kind == kind
            )
        ).scalar_one()
    return row


def choose_notifications(
    session: Session,
    user: User,
    choices: Mapping[NotificationKind, bool],
    *,
    organization_id: int | None,
    via: str,
) -> dict[str, list[str]]:
    """Record ``user``'s choices (kind → received?) and audit what changed; returns the changes."""
    if refused := [kind for kind in choices if not kind.is_preference]:
        raise ValueError(f"not notifications a user can turn off: {refused}")
    rows = {
        row.kind: row
        for row in session.execute(
            select(NotificationPreference).where(NotificationPreference.user_id == user.id)
        ).scalars()
    }
    changes: dict[str, list[str]] = {"turned_off": [], "turned_on": []}
    now = utcnow()
    for kind, enabled in choices.items():
        row = rows.get(kind)
        if (row.is_enabled if row is not None else True) == enabled:
            continue
        if row is None:
            row = _new_preference_row(session, user.id, kind)
        row.is_enabled = enabled
        row.updated_at = now
        changes["turned_on" if enabled else "turned_off"].append(kind.value)
    if changes["turned_off"] or changes["turned_on"]:
        audit.record(
            session,
            "notification_preferences_changed",
            actor=user,
            organization_id=organization_id,
            object_type="user",
            object_id=user.id,
            details={**changes, "via": via},
        )
    session.flush()
    return changes


def turn_off(session: Session, user: User, kind: NotificationKind, *, via: str) -> bool:
    """``user`` no longer receives ``kind`` (from an unsubscribe link); returns whether anything changed."""
    changes = choose_notifications(session, user, {kind: False}, organization_id=None, via=via)
    return bool(changes["turned_off"])
