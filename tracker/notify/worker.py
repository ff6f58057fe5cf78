"""Delivering the outbox: claim due messages under a lease, send them over SMTP, record the outcome.

Several workers may run side by side. A claim is one atomic UPDATE (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the lease condition alone on SQLite), committed before any network I/O, so no transaction
stays open while an SMTP server is slow. Outcomes are written only while this worker still holds the
lease: a worker that stalled past its lease cannot overwrite what the worker that took over recorded.
Delivery is at least once: a worker that crashes after sending but before recording lets the message go
out again once its lease expires (the stable Message-ID lets mail clients spot the duplicate).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy as email_policy
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tracker.db import utcnow
from tracker.notify.models import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=6)
MAX_ERROR_LENGTH = 500
OUTBOX_ID_HEADER = "X-Tracker-Outbox-Id"
# What ``queue_email`` may add (OutboxMessage.details["headers"]): the RFC 8058 one-click unsubscription.
EXTRA_HEADERS = frozenset({"List-Unsubscribe", "List-Unsubscribe-Post"})
SMTP_MAX_LINE = 998


class UrlListHeader(UnstructuredHeader):
    """``List-Unsubscribe: <https://…>`` (RFC 2369) holds a URL longer than a folded line. The default
    policy would cut it into RFC 2047 encoded words, which mail clients do not read as a URL; an ASCII
    value that fits an SMTP line is written as it is instead."""

    def fold(self, *, policy: Any) -> str:
        line = f"{self.name}: {self}"
        if line.isascii() and len(line) <= SMTP_MAX_LINE:
            return line + policy.linesep
        return super().fold(policy=policy)  # type: ignore[misc]


_headers = HeaderRegistry()
_headers.map_to_type("list-unsubscribe", UrlListHeader)
MAIL_POLICY = email_policy.default.clone(header_factory=_headers)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    timeout_seconds: float
    sender: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        return cls(
            host=config["SMTP_HOST"],
            port=int(config["SMTP_PORT"]),
            username=config.get("SMTP_USERNAME") or None,
            password=config.get("SMTP_PASSWORD") or None,
            starttls=bool(config["SMTP_STARTTLS"]),
            timeout_seconds=float(config["SMTP_TIMEOUT_SECONDS"]),
            sender=config["MAIL_FROM"],
        )


@dataclass(frozen=True)
class OutboxSettings:
    smtp: SmtpSettings
    max_attempts: int
    backoff_seconds: int
    lease_seconds: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OutboxSettings:
        return cls(
            smtp=SmtpSettings.from_config(config),
            max_attempts=int(config["OUTBOX_MAX_ATTEMPTS"]),
            backoff_seconds=int(config["OUTBOX_BACKOFF_SECONDS"]),
            lease_seconds=int(config["OUTBOX_LEASE_SECONDS"]),
        )

    def backoff(self, attempts: int) -> timedelta:
        """Wait before the next try after ``attempts`` failed ones: doubling, capped at six hours."""
        exponent = min(max(attempts - 1, 0), 30)  # 2**30 periods already exceed the cap
        return min(timedelta(seconds=self.backoff_seconds * 2**exponent), MAX_BACKOFF)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dossiers: int = 0  # dossiers rendered and signed by the same worker

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed

    def summary(self) -> str:
        summary = (
            f"Boîte d'envoi : {self.sent} envoyé(s), {self.retried} à réessayer, {self.failed} en échec définitif."
        )
        return f"{summary} Dossiers PDF générés : {self.dossiers}."


Clock = Callable[[], datetime]


REDACTED_BODY = "[Contenu confidentiel effacé après l'envoi.]"


def _frozen_clock(moment: datetime) -> Clock:
    return lambda: moment


def claim_due(
    session: Session, settings: OutboxSettings, *, worker_id: str, batch_size: int, now: datetime
) -> list[int]:
    """Lease up to ``batch_size`` due messages to this worker in one statement; the caller commits."""
    is_claimable = or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now)
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.next_attempt_at <= now)
        .where(is_claimable)
        .order_by(OutboxMessage.id)
        .limit(batch_size)
        # Concurrent workers skip each other's rows on PostgreSQL; SQLite ignores it and relies on
        # the repeated lease condition below, which its single writer evaluates atomically.
        .with_for_update(skip_locked=True)
        .cte("due")
        # Evaluated once: as a plain subquery PostgreSQL may rescan it for every outer row (semi-join),
        # and each rescan locks the next unlocked rows, so one worker would claim the whole table.
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    claimed = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(select(due.c.id)))
        .where(OutboxMessage.status == OutboxStatus.PENDING, is_claimable)
        .values(lease_owner=worker_id, lease_until=now + timedelta(seconds=settings.lease_seconds))
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed.scalars())


def deliver_due(
    session: Session,
    settings: OutboxSettings,
    *,
    worker_id: str,
    batch_size: int = 20,
    now: datetime | None = None,
) -> DeliveryReport:
    """One pass: claim, send, record. Commits (this is an entry point, like a CLI command)."""
    clock = utcnow if now is None else _frozen_clock(now)
    ids = claim_due(session, settings, worker_id=worker_id, batch_size=batch_size, now=clock())
    session.commit()
    report = DeliveryReport()
    if not ids:
        return report
    messages = (
        session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .order_by(OutboxMessage.id)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    session.commit()  # end the read transaction before the network I/O
    _send_batch(session, settings, messages, worker_id=worker_id, clock=clock, report=report)
    return report


def _send_batch(
    session: Session,
    settings: OutboxSettings,
    messages: Sequence[OutboxMessage],
    *,
    worker_id: str,
    clock: Clock,
    report: DeliveryReport,
) -> None:
    """Send over one SMTP connection, reopened only after a connection-level error."""

    def fail(message: OutboxMessage, error: Exception, *, permanent: bool = False) -> None:
        gave_up = _record_failure(
            session, settings, message, error, worker_id=worker_id, now=clock(), permanent=permanent
        )
        if gave_up:
            report.failed += 1
        else:
            report.retried += 1

    connection: smtplib.SMTP | None = None
    try:
        for position, message in enumerate(messages):
            if message.lease_until is not None and clock() >= message.lease_until:
                # Another worker may already own the rest: leave it to them rather than send twice.
                logger.warning("outbox lease of %s expired mid-batch, %s left", worker_id, len(messages) - position)
                return
            if connection is None:
                try:
                    connection = _open_connection(settings.smtp)
                except OSError as error:  # smtplib.SMTPException is an OSError
                    # The server is unreachable: every remaining message fails this attempt at once
                    # rather than each waiting out its own connection timeout.
                    for unsent in messages[position:]:
                        fail(unsent, error)
                    return
            try:
                email = build_email(message, settings.smtp.sender, now=clock())
            except ValueError as error:  # e.g. a line break in a header: retrying cannot help
                fail(message, error, permanent=True)
                continue
            try:
                connection.send_message(email)
            except OSError as error:
                fail(message, error, permanent=_is_permanent(error))
                if not isinstance(error, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
                    _close_quietly(connection)  # the connection itself broke; the next message reopens it
                    connection = None
                continue
            _record_sent(session, message, worker_id=worker_id, now=clock())
            report.sent += 1
    finally:
        if connection is not None:
            _close_quietly(connection)


def build_email(message: OutboxMessage, sender: str, *, now: datetime) -> EmailMessage:
    email = EmailMessage(policy=MAIL_POLICY)
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = _message_id(message, sender)
    email[OUTBOX_ID_HEADER] = str(message.id)
    for name, value in message.details.get("headers", {}).items():
        if name not in EXTRA_HEADERS:  # never From, To, Bcc…: a message cannot redirect itself
            raise ValueError(f"header {name!r} is not one a queued message may set")
        email[name] = value
    email.set_content(message.body_text)
    if message.body_html:
        email.add_alternative(message.body_html, subtype="html")
    return email


def _message_id(message: OutboxMessage, sender: str) -> str:
    """Stable across retries, so a message delivered twice (lost lease) is recognisably the same."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "habilitations.invalid"
    return f"<outbox.{message.id}.{message.created_at:%Y%m%d%H%M%S%f}@{domain}>"


def _open_connection(smtp: SmtpSettings) -> smtplib.SMTP:
    connection = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)
    try:
        if smtp.starttls:
            connection.starttls(context=ssl.create_default_context())
        if smtp.username:
            connection.login(smtp.username, smtp.password or "")
    except BaseException:
        connection.close()
        raise
    return connection


def _close_quietly(connection: smtplib.SMTP) -> None:
    try:
        connection.quit()
    except OSError:
        connection.close()


def _is_permanent(error: OSError) -> bool:
    """A 5xx answer (unknown mailbox, rejected content) will not change by retrying."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def _describe(error: BaseException, smtp: SmtpSettings) -> str:
    text = f"{type(error).__name__}: {error}"
    if smtp.password:  # defence in depth: no library should echo it, but never store it if one does
        text = text.replace(smtp.password, "***")
    return text[:MAX_ERROR_LENGTH]


def _record_sent(session: Session, message: OutboxMessage, *, worker_id: str, now: datetime) -> None:
    # A delivered message that carried a secret (an invitation link) keeps no copy of it.
    redacted = {"body_text": REDACTED_BODY, "body_html": None} if message.details.get("confidential") else {}
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.lease_owner == worker_id)
        .values(
            status=OutboxStatus.SENT,
            sent_at=now,
            attempts=OutboxMessage.attempts + 1,
            last_error=None,
            lease_owner=None,
            lease_until=None,
            **redacted,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if result.rowcount == 0:  # type: ignore[attr-defined]
        logger.warning("outbox message %s sent after its lease passed to another worker", message.id)


def _record_failure(
    session: Session,
    settings: OutboxSettings,
    message: OutboxMessage,
    error: BaseException,
    *,
    worker_id: str,
    now: datetime,
    permanent: bool = False,
) -> bool:
    """Count the attempt and schedule the next one; returns whether the message is given up."""
    attempts = message.attempts + 1
    gives_up = permanent or attempts >= settings.max_attempts
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.lease_owner == worker_id)
        .values(
            status=OutboxStatus.FAILED if gives_up else OutboxStatus.PENDING,
            attempts=attempts,
            last_error=_describe(error, settings.smtp),
            next_attempt_at=now if gives_up else now + settings.backoff(attempts),
            lease_owner=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    logger.warning(
        "outbox message %s: attempt %s failed (%s)%s",
        message.id,
        attempts,
        type(error).__name__,
        ", giving up" if gives_up else "",
    )
    return gives_up
