"""DGFiP statistics, read from the timeline: what was submitted, validated and refused each month, how long
decisions took, and how many requests were waiting for the DGFiP at the end of each month.

What counts (the page explains the same in French, under « Comment ces chiffres sont calculés »):

- *submitted*: the submissions that open an instruction, that is the first submission of a stage or of an
  update (« mise à jour »): a ``submit`` from « Brouillon ». A new submission after a request for changes
  (from « À modifier ») continues the same instruction and is not counted again.
- *validated*: every ``approve`` (of a stage or of an update).
- *refused*: every ``refuse``, the refusal of an update included (it restores the last habilitation).
- *time to first decision*: for every decision of the DGFiP (``request_changes``, ``approve``, ``refuse``),
  the time since the submission it answers: how long the applicant waited for an answer. Every round
  counts, so a request that went back and forth twice gives three delays.
- *time to final decision*: for every ``approve`` or ``refuse``, the time since the submission that opened
  the instruction, requests for changes and the applicant's corrections included.
- Delays belong to the month of the decision, in (fractional) days; the median and the 90th percentile are
  interpolated between the closest ranks, as PostgreSQL's ``percentile_cont`` does. The figures « over
  the period » pool every decision of the period (they are not an average of the months).
- *backlog*: the requests in « En cours d'instruction » at the end of the month, counted from every move
  into and out of that state since the first one. The DGFiP's cancellation of an update or of a
  production stage ends the wait without a decision: it lowers the backlog and counts in no delay.

Months are calendar months in Europe/Paris time. The stage filter applies to the stage of each move (for
the backlog, the stage the request was in while it waited); the use-case filter to the request's current
use case.

The page runs two statements whatever the volume: one aggregate per month (counts and backlog moves), and
one that pairs each decision of the period with its submissions through window functions and streams, per
decision, its month and two delays in days; the percentiles are computed here, SQLite having no
``percentile_cont``. Month boundaries are computed here too, in Paris time, and compared in SQL: neither
database needs its own time zone functions. The SQL is the same on both but for the difference of two
timestamps in days.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, Select, and_, case, cast, extract, func, or_, select
from sqlalchemy.orm import Session

from tracker.habilitations.models import HabilitationRequest, TimelineEntry
from tracker.habilitations.workflow import RULES, Event, Stage, State

PARIS = ZoneInfo("Europe/Paris")
DEFAULT_MONTHS = 12
MAX_MONTHS = 60
# The service did not exist before: an earlier year is a typo (« 0202-01 »), not a period to show.
FIRST_YEAR = 2000

MONTH_ABBREVIATIONS = (
    "janv.",
    "févr.",
    "mars",
    "avr.",
    "mai",
    "juin",
    "juil.",
    "août",
    "sept.",
    "oct.",
    "nov.",
    "déc.",
)
MONTH_NAMES = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
MONTH_KEY = re.compile(r"([0-9]{4})-([0-9]{2})")

DECISIONS = (Event.REQUEST_CHANGES, Event.APPROVE, Event.REFUSE)
FINAL_DECISIONS = (Event.APPROVE, Event.REFUSE)
SECONDS_PER_DAY = 86400


# --- months -------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in Paris time."""

    year: int
    number: int

    @classmethod
    def of(cls, moment: datetime) -> Month:
        local = moment.astimezone(PARIS)
        return cls(local.year, local.month)

    @classmethod
    def parse(cls, text: str) -> Month | None:
        """« 2026-01 » (what ``<input type="month">`` sends), or None."""
        match = MONTH_KEY.fullmatch(text.strip())
        if match is None:
            return None
        year, number = int(match.group(1)), int(match.group(2))
        if year < FIRST_YEAR or not 1 <= number <= 12:
            return None
        return cls(year, number)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + self.number - 1 + months
        return Month(index // 12, index % 12 + 1)

    def starts_at(self) -> datetime:
        """The UTC instant of midnight, Paris time, on the first day of the month."""
        return datetime(self.year, self.number, 1, tzinfo=PARIS).astimezone(UTC)

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.number:02d}"

    @property
    def label(self) -> str:
        """« janv. 2026 »: axes and table rows."""
        return f"{MONTH_ABBREVIATIONS[self.number - 1]} {self.year}"

    @property
    def name(self) -> str:
        """« janvier 2026 »: sentences."""
        return f"{MONTH_NAMES[self.number - 1]} {self.year}"


def months_between(first: Month, last: Month) -> tuple[Month, ...]:
    """Every month from ``first`` to ``last``, both included (empty if ``first`` comes after ``last``)."""
    count = (last.year - first.year) * 12 + last.number - first.number + 1
    return tuple(first.plus(offset) for offset in range(max(count, 0)))


def month_boundaries(months: Sequence[Month]) -> tuple[datetime, ...]:
    """The start of each month, then the end of the last one: ``len(months) + 1`` instants."""
    return (*(month.starts_at() for month in months), months[-1].plus(1).starts_at())


# --- filters ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatisticsFilters:
    first: Month
    last: Month
    stage: Stage | None = None
    use_case: str | None = None

    @property
    def months(self) -> tuple[Month, ...]:
        return months_between(self.first, self.last)

    def query_args(self) -> dict[str, str]:
        args = {"du": self.first.key, "au": self.last.key}
        if self.stage is not None:
            args["etape"] = self.stage.value
        if self.use_case is not None:
            args["cas"] = self.use_case
        return args


def _one(args: Mapping[str, Sequence[str]], name: str) -> str:
    values = args.get(name) or []
    return values[0].strip() if values else ""


def parse_filters(
    args: Mapping[str, Sequence[str]], *, use_cases: frozenset[str], current: Month
) -> tuple[StatisticsFilters, tuple[str, ...]]:
    """The filters from the query string (``request.args.to_dict(flat=False)``), and what was corrected.

    Nothing is refused: a month that cannot be read falls back to the default period, months to come are
    brought back to ``current``, an inverted period is put the right way round, and a period longer than
    ``MAX_MONTHS`` keeps its last ``MAX_MONTHS`` months. Each correction is told to the user.
    """
    corrections: list[str] = []
    texts = {name: _one(args, name) for name in ("du", "au")}
    parsed = {name: Month.parse(text) if text else None for name, text in texts.items()}
    if any(texts[name] and parsed[name] is None for name in texts):
        corrections.append("Un mois de la période n'a pas pu être lu (format attendu : AAAA-MM) : il est ignoré.")
    first, last = parsed["du"], parsed["au"]
    if first is not None and last is not None and first > last:
        first, last = last, first
        corrections.append("Le début et la fin de la période étaient inversés : ils ont été remis dans l'ordre.")
    if any(month is not None and month > current for month in (first, last)):
        first, last = (None if month is None else min(month, current) for month in (first, last))
        corrections.append(f"La période ne peut pas dépasser le mois en cours : elle s'arrête en {current.name}.")
    last = last or current
    first = first or last.plus(1 - DEFAULT_MONTHS)
    if len(months_between(first, last)) > MAX_MONTHS:
        first = last.plus(1 - MAX_MONTHS)
        corrections.append(
            f"La période est limitée à {MAX_MONTHS} mois : elle commence en {first.name}, {MAX_MONTHS} mois "
            f"avant la fin choisie."
        )
    stage_value = _one(args, "etape")
    use_case = _one(args, "cas")
    filters = StatisticsFilters(
        first=first,
        last=last,
        stage=next((stage for stage in Stage if stage.value == stage_value), None),
        use_case=use_case if use_case in use_cases else None,
    )
    return filters, tuple(corrections)


# --- pure computations --------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ascending values, interpolated between the closest ranks (PostgreSQL's
    ``percentile_cont``, numpy's default): the median of 1, 2, 3, 10 is 2.5, its 90th percentile 7.9."""
    if not sorted_values:
        raise ValueError("no value to take a percentile of")
    position = (len(sorted_values) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


@dataclass(frozen=True)
class DelaySummary:
    """Delays in days: how many, their median and 90th percentile (None when there is none)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, delays: Iterable[float]) -> DelaySummary:
        ordered = sorted(delays)
        if not ordered:
            return cls()
        return cls(len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9))


def backlog_at_month_ends(opening: int, changes: Iterable[int]) -> list[int]:
    """Requests waiting at the end of each month: the count before the first month, plus each month's
    moves into « En cours d'instruction », minus its moves out of it."""
    return list(itertools.accumulate(changes, initial=opening))[1:]


@dataclass(frozen=True)
class DecisionDelays:
    """One DGFiP decision of the period: the index of its month, the days since the submission it answers,
    and for a final decision (approve, refuse) the days since the submission that opened the instruction
    (None when the timeline does not hold that submission)."""

    month_index: int
    since_submission: float | None
    since_opening: float | None = None


@dataclass(frozen=True)
class Counts:
    """Requests submitted, validated and refused (what counts: see the module's docstring)."""

    submitted: int = 0
    validated: int = 0
    refused: int = 0


@dataclass(frozen=True)
class MonthStatistics:
    month: Month
    submitted: int
    validated: int
    refused: int
    backlog: int
    first_decision: DelaySummary
    final_decision: DelaySummary


@dataclass(frozen=True)
class Statistics:
    months: tuple[MonthStatistics, ...]
    first_decision: DelaySummary
    final_decision: DelaySummary
    totals: Counts

    @property
    def has_counts(self) -> bool:
        return any(astuple(self.totals))

    @property
    def has_backlog(self) -> bool:
        return any(month.backlog for month in self.months)

    @property
    def final_backlog(self) -> int:
        return self.months[-1].backlog


@dataclass(frozen=True)
class MonthlyMoves:
    """One month's counts as the aggregate gives them; ``backlog_change`` is the moves into « En cours
    d'instruction » minus the moves out of it."""

    submitted: int = 0
    validated: int = 0
    refused: int = 0
    backlog_change: int = 0


def assemble(
    months: Sequence[Month],
    moves: Mapping[int, MonthlyMoves],
    decisions: Iterable[DecisionDelays],
) -> Statistics:
    """Put the two queries' results together. ``moves`` is keyed by month index, -1 holding everything
    before the first month (only its backlog moves matter); ``decisions`` are those of the period."""
    first_delays: list[list[float]] = [[] for _ in months]
    final_delays: list[list[float]] = [[] for _ in months]
    for decision in decisions:
        if not 0 <= decision.month_index < len(months):
            continue
        if decision.since_submission is not None:
            first_delays[decision.month_index].append(decision.since_submission)
        if decision.since_opening is not None:
            final_delays[decision.month_index].append(decision.since_opening)
    empty = MonthlyMoves()
    monthly = [moves.get(index, empty) for index in range(len(months))]
    backlog = backlog_at_month_ends(moves.get(-1, empty).backlog_change, (m.backlog_change for m in monthly))
    rows = tuple(
        MonthStatistics(
            month=month,
            submitted=counts.submitted,
            validated=counts.validated,
            refused=counts.refused,
            backlog=waiting,
            first_decision=DelaySummary.of(first),
            final_decision=DelaySummary.of(final),
        )
        for month, counts, waiting, first, final in zip(
            months, monthly, backlog, first_delays, final_delays, strict=True
        )
    )
    return Statistics(
        months=rows,
        first_decision=DelaySummary.of(itertools.chain.from_iterable(first_delays)),
        final_decision=DelaySummary.of(itertools.chain.from_iterable(final_delays)),
        totals=Counts(
            submitted=sum(m.submitted for m in monthly),
            validated=sum(m.validated for m in monthly),
            refused=sum(m.refused for m in monthly),
        ),
    )


# --- queries ------------------------------------------------------------------------------------------


def _stage_left_by_event() -> dict[Event, Stage]:
    """Events that move a request to another stage, with the stage they leave: the timeline records the
    stage after the move, and the backlog must count a request in the stage it waited in."""
    left: dict[Event, Stage] = {}
    for event, rule in RULES.items():
        for branch in rule.branches:
            # A creation (from nothing) has no stage to leave.
            if branch.stage is not None and branch.sources != {None}:
                left[event] = next(stage for stage in Stage if stage is not branch.stage)
    return left


STAGE_LEFT_BY_EVENT = _stage_left_by_event()


def _moved_in_stage(stage: Stage) -> ColumnElement[bool]:
    """The entry's move happened while the request was in ``stage``."""
    keeps_stage = or_(TimelineEntry.event.is_(None), TimelineEntry.event.not_in(list(STAGE_LEFT_BY_EVENT)))
    leaves_it = [event for event, left in STAGE_LEFT_BY_EVENT.items() if left is stage]
    return or_(and_(keeps_stage, TimelineEntry.stage == stage), TimelineEntry.event.in_(leaves_it))


def _filtered(statement: Select[Any], filters: StatisticsFilters) -> Select[Any]:
    if filters.stage is not None:
        statement = statement.where(_moved_in_stage(filters.stage))
    if filters.use_case is not None:
        statement = statement.join(HabilitationRequest, HabilitationRequest.id == TimelineEntry.request_id).where(
            HabilitationRequest.use_case == filters.use_case
        )
    return statement


def _month_index_column(created_at: ColumnElement[datetime], boundaries: Sequence[datetime]) -> ColumnElement[int]:
    """The index of the month of ``created_at`` in SQL (-1 before the first month), from boundaries computed
    in Paris time: the same CASE on every database. Later entries are filtered out by the caller."""
    return case(
        (created_at < boundaries[0], -1),
        *((created_at < end, index) for index, end in enumerate(boundaries[1:])),
        else_=len(boundaries) - 1,
    )


def monthly_moves(session: Session, filters: StatisticsFilters) -> dict[int, MonthlyMoves]:
    """Counts and backlog moves per month, and the backlog moves before the first month (index -1)."""
    boundaries = month_boundaries(filters.months)
    submitted = State.SUBMITTED
    entering = and_(
        TimelineEntry.to_state == submitted,
        or_(TimelineEntry.from_state.is_(None), TimelineEntry.from_state != submitted),
    )
    leaving = and_(TimelineEntry.from_state == submitted, TimelineEntry.to_state != submitted)
    per_entry = _filtered(
        select(
            _month_index_column(TimelineEntry.created_at, boundaries).label("month_index"),
            case(
                (and_(TimelineEntry.event == Event.SUBMIT, TimelineEntry.from_state == State.DRAFT), 1), else_=0
            ).label("submitted"),
            case((TimelineEntry.event == Event.APPROVE, 1), else_=0).label("validated"),
            case((TimelineEntry.event == Event.REFUSE, 1), else_=0).label("refused"),
            case((entering, 1), (leaving, -1), else_=0).label("backlog_change"),
        ).where(
            TimelineEntry.created_at < boundaries[-1],
            # Every move counted here goes into or out of « En cours d'instruction ».
            or_(TimelineEntry.to_state == submitted, TimelineEntry.from_state == submitted),
        ),
        filters,
    ).subquery()
    # Grouped outside: PostgreSQL would not recognise a CASE with bound parameters repeated in GROUP BY.
    rows = session.execute(
        select(
            per_entry.c.month_index,
            func.sum(per_entry.c.submitted),
            func.sum(per_entry.c.validated),
            func.sum(per_entry.c.refused),
            func.sum(per_entry.c.backlog_change),
        ).group_by(per_entry.c.month_index)
    )
    return {
        index: MonthlyMoves(int(submitted or 0), int(validated or 0), int(refused or 0), int(change or 0))
        for index, submitted, validated, refused, change in rows
    }


def _days_between(session: Session, later: ColumnElement[Any], earlier: ColumnElement[Any]) -> ColumnElement[float]:
    """Elapsed days between two timestamps, computed by the database so that only numbers travel: the one
    dialect switch of the page (SQLite has no interval type; it stores UTC text that ``julianday`` reads)."""
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(later) - func.julianday(earlier)
    return cast(extract("epoch", later - earlier), Float) / SECONDS_PER_DAY


def decisions(session: Session, filters: StatisticsFilters) -> Iterator[DecisionDelays]:
    """Each decision of the period, with its month and the days since the submissions it follows.

    A running maximum over each request's submissions and decisions, in timeline order, finds both: the
    latest submission before a decision is the one it answers (a decision leaves « En cours
    d'instruction », which only a submission enters), and the latest submission from « Brouillon » opened
    its instruction. Only the requests with a decision in the period are read, and only up to its end.
    """
    boundaries = month_boundaries(filters.months)
    start, end = boundaries[0], boundaries[-1]
    decided = _filtered(
        select(TimelineEntry.request_id).where(
            TimelineEntry.event.in_(DECISIONS), TimelineEntry.created_at >= start, TimelineEntry.created_at < end
        ),
        filters,
    )
    is_submission = TimelineEntry.event == Event.SUBMIT
    opens = and_(is_submission, TimelineEntry.from_state == State.DRAFT)
    so_far = {
        "partition_by": TimelineEntry.request_id,
        "order_by": (TimelineEntry.created_at, TimelineEntry.id),
        "rows": (None, 0),
    }
    moves = (
        select(
            TimelineEntry.event,
            TimelineEntry.stage,
            TimelineEntry.created_at,
            func.max(case((is_submission, TimelineEntry.created_at))).over(**so_far).label("submitted_at"),
            func.max(case((opens, TimelineEntry.created_at))).over(**so_far).label("opened_at"),
        )
        .where(
            TimelineEntry.event.in_((Event.SUBMIT, *DECISIONS)),
            TimelineEntry.created_at < end,
            TimelineEntry.request_id.in_(decided),
        )
        .subquery()
    )
    statement = select(
        _month_index_column(moves.c.created_at, boundaries),
        _days_between(session, moves.c.created_at, moves.c.submitted_at),
        case(
            (moves.c.event.in_(FINAL_DECISIONS), _days_between(session, moves.c.created_at, moves.c.opened_at)),
        ),
    ).where(moves.c.event.in_(DECISIONS), moves.c.created_at >= start)
    if filters.stage is not None:
        # Decisions keep the stage, so the stage they record is the one they were taken in.
        statement = statement.where(moves.c.stage == filters.stage)
    for index, since_submission, since_opening in session.execute(statement):
        yield DecisionDelays(index, _to_the_second(since_submission), _to_the_second(since_opening))


def _to_the_second(days: float | None) -> float | None:
    """Delays to the second: drops the float noise of ``julianday``, so that both databases agree."""
    return None if days is None else round(days * SECONDS_PER_DAY) / SECONDS_PER_DAY


def compute(session: Session, filters: StatisticsFilters) -> Statistics:
    """Everything the page shows, in two statements."""
    moves = monthly_moves(session, filters)
    return assemble(filters.months, moves, decisions(session, filters))
