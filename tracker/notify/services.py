"""Queueing messages in the outbox, inside the transaction of the change that causes them."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from sqlalchemy.orm import Session

from tracker.notify.models import OutboxMessage, OutboxStatus


def queue_email(
    session: Session,
    template: str,
    recipient: str,
    *,
    habilitation_request_id: int | None = None,
    confidential: bool = False,
    **context: Any,
) -> OutboxMessage:
    """Render ``templates/emails/<template>.txt`` (first line: ``Subject: …``) and its .html twin.

    ``confidential`` messages (holding a link that grants access) lose their body once delivered.
    """
    context.setdefault("base_url", current_app.config["BASE_URL"].rstrip("/"))
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
        details={"confidential": True} if confidential else {},
    )
    session.add(message)
    session.flush()
    return message
