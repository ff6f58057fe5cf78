"""Instruction deadline: two calendar months after the submission, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracker.habilitations.deadlines import add_months, deadline_status, instruction_deadline


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (datetime(2026, 1, 15, 9, 30, tzinfo=UTC), datetime(2026, 3, 15, 9, 30, tzinfo=UTC)),
        (datetime(2025, 12, 31, 23, 0, tzinfo=UTC), datetime(2026, 2, 28, 23, 0, tzinfo=UTC)),
        (datetime(2027, 12, 31, 23, 0, tzinfo=UTC), datetime(2028, 2, 29, 23, 0, tzinfo=UTC)),
        (datetime(2026, 11, 30, 0, 0, tzinfo=UTC), datetime(2027, 1, 30, 0, 0, tzinfo=UTC)),
    ],
)
def test_deadline_is_two_calendar_months_later(start: datetime, expected: datetime) -> None:
    assert instruction_deadline(start) == expected
    assert add_months(start, 2) == expected


def test_no_deadline_while_the_clock_is_stopped() -> None:
    assert instruction_deadline(None) is None
    assert deadline_status(None, datetime.now(UTC)) is None


def test_status_across_a_daylight_saving_change_stays_in_utc() -> None:
    # Submitted just before the end of summer time in Paris: the deadline does not move by an hour.
    submitted = datetime(2026, 8, 25, 0, 30, tzinfo=UTC)
    deadline = instruction_deadline(submitted)
    assert deadline == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert deadline_status(submitted, deadline - timedelta(days=20)) == "running"
    assert deadline_status(submitted, deadline - timedelta(days=14, hours=23)) == "due_soon"
    assert deadline_status(submitted, deadline - timedelta(seconds=1)) == "due_soon"
    assert deadline_status(submitted, deadline) == "overdue"
