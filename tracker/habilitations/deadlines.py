"""Instruction deadline (DOMAIN §9): silence for two months after a complete submission is an implicit
rejection (CRPA L.231-1, L.231-4). Calendar months, computed on UTC instants."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

DEADLINE_MONTHS = 2
DUE_SOON_DAYS = 15


def add_months(moment: datetime, months: int) -> datetime:
    """Same day ``months`` later, or the month's last day when it has no such day (31/12 → 28/02)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def instruction_deadline(started_at: datetime | None) -> datetime | None:
    return None if started_at is None else add_months(started_at, DEADLINE_MONTHS)


def deadline_status(started_at: datetime | None, now: datetime) -> str | None:
    """``overdue``, ``due_soon`` (within 15 days) or ``running``; None while the clock is stopped."""
    return status_of_deadline(instruction_deadline(started_at), now)


def status_of_deadline(deadline: datetime | None, now: datetime) -> str | None:
    """The same from the deadline itself (as stored on the request); the list's filters agree with it."""
    if deadline is None:
        return None
    if now >= deadline:
        return "overdue"
    return "due_soon" if deadline - now <= timedelta(days=DUE_SOON_DAYS) else "running"
