"""Following the dates that make a production habilitation lapse (DOMAIN §9): reminders at 90, 30 and 7
days to the owning party and the collectivité, then, once a date has passed, the habilitation expires.

``run`` is what ``tracker remind`` calls: safe at any frequency (a reminder is sent once per habilitation,
date and threshold, enforced by a unique key), and ``today`` is a parameter so tests move time instead
of sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tracker.accounts.queries import dgfip_instructors, member_emails
from tracker.audit import services as audit
from tracker.db import utcnow
from tracker.habilitations.models import (
    EXPIRED_NOTICE,
    ExpiryReminder,
    Habilitation,
    HabilitationRequest,
    HabilitationState,
    TimelineEntry,
)
from tracker.habilitations.services import habilitation_dates, organization_playing
from tracker.habilitations.workflow import Stage
from tracker.notify.kinds import NotificationKind
from tracker.notify.services import queue_email

if TYPE_CHECKING:
    from tracker.vault.lifecycle import CredentialsReport

REMINDER_DAYS = (90, 30, 7)
EXPIRING_WITHIN = timedelta(days=max(REMINDER_DAYS))


def is_expiring(habilitation: Habilitation, today: date) -> bool:
    """Derived, never stored (DOMAIN §3.3): an active habilitation with 90 days or fewer left."""
    return (
        habilitation.state is HabilitationState.ACTIVE
        and habilitation.expires_on is not None
        and habilitation.expires_on - today <= EXPIRING_WITHIN
    )


def threshold_for(days_left: int) -> int | None:
    """The reminder due with ``days_left`` days to go: the nearest threshold not yet passed, so a first
    run 20 days before a date sends the 30-day reminder, not the 90-day one as well."""
    due = [days for days in REMINDER_DAYS if days_left <= days]
    return min(due) if due and days_left >= 0 else None


@dataclass
class RemindReport:
    expired: list[str] = field(default_factory=list)
    reminders: int = 0
    # The API credentials' expiry, reminders and retried remote revocations (``tracker.vault.lifecycle``).
    credentials: CredentialsReport | None = None


def _candidates(session: Session, states: set[HabilitationState], until: date) -> list[Habilitation]:
    return list(
        session.execute(
            select(Habilitation)
            .options(selectinload(Habilitation.request).selectinload(HabilitationRequest.organization))
            .where(
                Habilitation.stage == Stage.PRODUCTION,
                Habilitation.state.in_(states),
                Habilitation.expires_on.is_not(None),
                Habilitation.expires_on <= until,
            )
            .order_by(Habilitation.expires_on, Habilitation.id)
        ).scalars()
    )


def expire_lapsed(session: Session, today: date) -> list[Habilitation]:
    """Active production habilitations with a date before ``today`` become expired."""
    expired = []
    instructors = None
    for habilitation in _candidates(session, {HabilitationState.ACTIVE}, today - timedelta(days=1)):
        request = habilitation.request
        lapsed = [(expiry, day) for expiry, day in habilitation_dates(habilitation) if day < today]
        reason = " ; ".join(f"{expiry.label} : échéance du {day:%d/%m/%Y} dépassée" for expiry, day in lapsed) + "."
        now = utcnow()
        # Conditional, so that two overlapping runs cannot both expire it (and write and send twice).
        claimed = session.execute(
            update(Habilitation)
            .where(Habilitation.id == habilitation.id, Habilitation.state == HabilitationState.ACTIVE)
            .values(state=HabilitationState.EXPIRED, ended_at=now, end_reason=reason)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            continue
        session.refresh(habilitation)
        session.add(
            TimelineEntry.notice_of(
                request,
                EXPIRED_NOTICE,
                details={"habilitation": habilitation.number},
                at=now,
                stage=Stage.PRODUCTION,
                reason=reason,
                habilitation_id=habilitation.id,
            )
        )
        # Imported here: the vault's models import this package's. Its credentials stop in this transaction.
        from tracker.vault.lifecycle import on_habilitation_expired

        on_habilitation_expired(session, habilitation, reason)
        audit.record(
            session,
            "habilitation.expired",
            object_type="habilitation",
            object_id=habilitation.id,
            details={"request": request.number, "reason": reason},
        )
        if instructors is None:  # read once per run, whatever the number of habilitations expiring
            instructors = dgfip_instructors(session, receiving=NotificationKind.HABILITATION_EXPIRED)
        owners = {request.organization_id, *(organization_playing(request, expiry.owner) for expiry, _day in lapsed)}
        recipients = [
            *((email, None) for email in member_emails(session, owners, kind=NotificationKind.HABILITATION_EXPIRED)),
            # DGFiP agents' emails carry a link (and the RFC 8058 headers) to turn this notification off.
            *((instructor.email, instructor.id) for instructor in instructors),
        ]
        for email, unsubscribe_user_id in recipients:
            queue_email(
                session,
                "habilitation_expired",
                email,
                kind=NotificationKind.HABILITATION_EXPIRED,
                unsubscribe_user_id=unsubscribe_user_id,
                habilitation_request_id=request.id,
                hab_request=request,
                habilitation=habilitation,
                reason=reason,
            )
        expired.append(habilitation)
    session.flush()
    return expired


def send_reminders(session: Session, today: date) -> int:
    """One email per party concerned and per date reaching a threshold, never twice."""
    sent = 0
    for habilitation in _candidates(session, {HabilitationState.ACTIVE}, today + EXPIRING_WITHIN):
        request = habilitation.request
        for expiry, day in habilitation_dates(habilitation):
            days_left = (day - today).days
            threshold = threshold_for(days_left)
            if threshold is None:
                continue
            try:
                with session.begin_nested():
                    session.add(
                        ExpiryReminder(
                            request_id=habilitation.request_id,
                            habilitation_id=habilitation.id,
                            date_key=expiry.key,
                            due_on=day,
                            days_before=threshold,
                            sent_at=utcnow(),
                        )
                    )
            except IntegrityError:
                continue  # already sent by an earlier run (or a concurrent one)
            concerned = {request.organization_id, organization_playing(request, expiry.owner)}
            for email in member_emails(session, concerned, kind=NotificationKind.EXPIRY_REMINDER):
                queue_email(
                    session,
                    "expiry_reminder",
                    email,
                    kind=NotificationKind.EXPIRY_REMINDER,
                    habilitation_request_id=request.id,
                    hab_request=request,
                    habilitation=habilitation,
                    expiry=expiry,
                    due_on=day,
                    days_left=days_left,
                )
                sent += 1
    session.flush()
    return sent


def run(session: Session, today: date) -> RemindReport:
    """Expire first: a lapsed date gets an expiry notice, not one more reminder."""
    report = RemindReport()
    report.expired = [h.number for h in expire_lapsed(session, today)]
    report.reminders = send_reminders(session, today)
    from tracker.vault.lifecycle import run as run_credentials  # see expire_lapsed

    report.credentials = run_credentials(session, today)
    return report
