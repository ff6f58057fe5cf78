"""DGFiP statistics (issue « DGFiP instruction and adhesion tracking », Statistics): months in Paris time,
percentiles, the backlog, what counts as submitted, validated and refused, the delays to the first and to
the final decision; the page's filters, its SVG charts and their data tables, who may see it, and its fixed
number of statements."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from factories import login
from flask.testing import FlaskClient
from habilitations.builders import Cast, Situation, build, make_cast, new_request
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tracker.db import utcnow
from tracker.habilitations.models import HabilitationRequest, TimelineEntry
from tracker.habilitations.workflow import Event, Stage, State
from tracker.instruction import charts
from tracker.instruction.statistics import (
    MAX_MONTHS,
    STAGE_LEFT_BY_EVENT,
    Counts,
    DecisionDelays,
    DelaySummary,
    Month,
    MonthlyMoves,
    StatisticsFilters,
    assemble,
    backlog_at_month_ends,
    compute,
    month_boundaries,
    months_between,
    parse_filters,
    percentile,
)

USE_CASES = frozenset({"cantine_scolaire", "place_creche"})
NOW = Month(2026, 11)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- months -------------------------------------------------------------------------------------------


def test_months_are_calendar_months_in_paris_time() -> None:
    # 23:30 UTC on the last day of a month is already the next month in Paris, winter (+1) and summer (+2).
    assert Month.of(utc(2026, 1, 31, 23, 30)) == Month(2026, 2)
    assert Month.of(utc(2026, 1, 31, 22, 59)) == Month(2026, 1)
    assert Month.of(utc(2026, 6, 30, 22, 0)) == Month(2026, 7)
    assert Month.of(utc(2026, 6, 30, 21, 59)) == Month(2026, 6)
    assert Month(2026, 1).starts_at() == utc(2025, 12, 31, 23)
    assert Month(2026, 7).starts_at() == utc(2026, 6, 30, 22)
    assert month_boundaries([Month(2026, 3)]) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))


def test_month_names_keys_and_arithmetic() -> None:
    assert [Month(2026, n).label for n in (1, 2, 8, 12)] == ["janv. 2026", "févr. 2026", "août 2026", "déc. 2026"]
    assert Month(2026, 2).name == "février 2026"
    assert Month(2026, 3).key == "2026-03"
    assert Month(2026, 1).plus(-1) == Month(2025, 12) and Month(2025, 12).plus(14) == Month(2027, 2)
    assert len(months_between(Month(2025, 12), Month(2026, 11))) == 12
    assert months_between(Month(2026, 2), Month(2026, 1)) == ()
    assert Month.parse(" 2026-03 ") == Month(2026, 3)
    for text in ("2026-13", "2026-00", "1999-12", "2026-3", "mars 2026", "2026-03-01", "２０２６-03"):
        assert Month.parse(text) is None, text


# --- filters ------------------------------------------------------------------------------------------


def _parse(**args: str) -> tuple[StatisticsFilters, tuple[str, ...]]:
    return parse_filters({name: [value] for name, value in args.items()}, use_cases=USE_CASES, current=NOW)


def test_the_default_period_is_the_last_twelve_months_including_the_current_one() -> None:
    filters, corrections = _parse()
    assert (filters.first, filters.last, filters.stage, filters.use_case) == (Month(2025, 12), NOW, None, None)
    assert corrections == ()
    assert _parse(au="2026-03")[0].first == Month(2025, 4)
    assert _parse(du="2026-09")[0].months == (Month(2026, 9), Month(2026, 10), Month(2026, 11))


def test_filters_read_from_the_url_and_written_back() -> None:
    filters, corrections = _parse(du="2024-01", au="2024-04", etape="production", cas="place_creche")
    assert filters == StatisticsFilters(Month(2024, 1), Month(2024, 4), Stage.PRODUCTION, "place_creche")
    assert corrections == ()
    args = filters.query_args()
    assert args == {"du": "2024-01", "au": "2024-04", "etape": "production", "cas": "place_creche"}
    assert _parse(**args)[0] == filters
    # Unknown stages and use cases are ignored.
    assert _parse(etape="lune", cas="piscine")[0] == StatisticsFilters(Month(2025, 12), NOW)


@pytest.mark.parametrize(
    ("args", "first", "last", "told"),
    [
        ({"du": "2024-06", "au": "2024-01"}, Month(2024, 1), Month(2024, 6), "inversés"),
        ({"du": "2026-10", "au": "2031-01"}, Month(2026, 10), NOW, "mois en cours"),
        ({"du": "2030-01", "au": "2030-06"}, NOW, NOW, "mois en cours"),
        ({"du": "2000-01", "au": "2024-12"}, Month(2020, 1), Month(2024, 12), f"limitée à {MAX_MONTHS} mois"),
        ({"du": "n'importe quoi"}, Month(2025, 12), NOW, "AAAA-MM"),
        ({"du": "0001-01", "au": "9999-12"}, Month(2025, 12), NOW, "AAAA-MM"),
    ],
)
def test_absurd_periods_are_corrected_and_told(args: dict[str, str], first: Month, last: Month, told: str) -> None:
    filters, corrections = _parse(**args)
    assert (filters.first, filters.last) == (first, last)
    assert any(told in correction for correction in corrections), corrections
    assert 1 <= len(filters.months) <= MAX_MONTHS


# --- pure computations --------------------------------------------------------------------------------


def test_percentiles_interpolate_between_the_closest_ranks() -> None:
    assert percentile([1, 2, 3, 10], 0.5) == 2.5
    assert percentile([1, 2, 3, 10], 0.9) == pytest.approx(7.9)
    assert percentile(list(range(1, 11)), 0.9) == pytest.approx(9.1)
    assert percentile([4.5], 0.9) == 4.5
    assert DelaySummary.of([10, 4, 16]) == DelaySummary(3, 10, pytest.approx(14.8))
    assert DelaySummary.of([]) == DelaySummary(0, None, None)
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_the_backlog_accumulates_each_months_moves_from_the_opening_count() -> None:
    assert backlog_at_month_ends(2, [1, -1, 0, -2]) == [3, 2, 2, 0]
    assert backlog_at_month_ends(0, []) == []


def test_assemble_gathers_the_delays_of_each_month_and_of_the_period() -> None:
    months = (Month(2026, 1), Month(2026, 2))
    decisions = [
        DecisionDelays(0, 6.0),  # a request for changes: no final delay
        DecisionDelays(0, 1.5, None),  # a final decision whose opening submission the timeline lacks
        DecisionDelays(1, 2.0, 12.0),
        DecisionDelays(2, 99.0, 99.0),  # outside the months: ignored
    ]
    moves = {-1: MonthlyMoves(backlog_change=3), 0: MonthlyMoves(1, 2, 0, -1), 1: MonthlyMoves(0, 1, 1, -2)}
    figures = assemble(months, moves, decisions)
    january, february = figures.months
    assert (january.submitted, january.validated, january.refused, january.backlog) == (1, 2, 0, 2)
    assert (february.submitted, february.validated, february.refused, february.backlog) == (0, 1, 1, 0)
    assert january.first_decision == DelaySummary(2, 3.75, pytest.approx(5.55))
    assert january.final_decision == DelaySummary()
    assert february.first_decision == DelaySummary(1, 2.0, 2.0)
    assert february.final_decision == DelaySummary(1, 12.0, 12.0)
    assert figures.first_decision == DelaySummary(3, 2.0, pytest.approx(5.2))
    assert figures.final_decision == DelaySummary(1, 12.0, 12.0)
    assert figures.totals == Counts(submitted=1, validated=3, refused=1)
    assert figures.final_backlog == 0 and figures.has_backlog and figures.has_counts


def test_the_stage_a_move_leaves_comes_from_the_workflow_table() -> None:
    # The timeline records the stage after the move: these are the moves that change it.
    assert STAGE_LEFT_BY_EVENT == {Event.START_PRODUCTION: Stage.SANDBOX, Event.CANCEL_PRODUCTION: Stage.PRODUCTION}


# --- charts -------------------------------------------------------------------------------------------


def test_numbers_are_written_the_french_way() -> None:
    assert charts.format_integer(1234567) == "1\u202f234\u202f567"
    assert charts.format_integer(12) == "12"
    assert charts.format_decimal(1234.56) == "1\u202f234,6"
    assert charts.format_days(12.5) == "12,5\u00a0j"
    assert charts.format_days(None) == "—"


def test_ticks_are_round_numbers_covering_the_maximum() -> None:
    assert charts.nice_ticks(7, integer=True) == [0, 2, 4, 6, 8]
    assert charts.nice_ticks(1, integer=True) == [0, 1]
    assert charts.nice_ticks(0) == [0, 1]
    assert charts.nice_ticks(33.3) == [0, 10, 20, 30, 40]
    assert charts.nice_ticks(1234, integer=True) == [0, 500, 1000, 1500]


def _chart(**changes: object) -> charts.Chart:
    values: dict[str, object] = {
        "chart_id": "chart-test",
        "title": "Titre <script>alert(1)</script>",
        "description": "Description & détails",
        "categories": ("janv. 2026", "févr. 2026", "mars 2026"),
        "series": (
            charts.Series("median", "Médiane", (1.5, None, 3.0), charts.BLUE_FRANCE),
            charts.Series("p90", "90e centile <b>", (2.0, None, 4.0), charts.WARNING, dash="8 5", marker="square"),
        ),
        "y_label": "Délai en jours",
        "x_label": "Mois",
        "format_value": charts.format_days,
    }
    return charts.Chart(**{**values, **changes})  # type: ignore[arg-type]


def test_a_line_chart_is_a_named_image_with_escaped_texts_and_gaps() -> None:
    svg = str(charts.line_chart(_chart()))
    assert svg.startswith("<svg") and 'role="img"' in svg and 'viewBox="0 0 960 400"' in svg
    assert 'aria-labelledby="chart-test-title chart-test-desc"' in svg
    assert '<title id="chart-test-title">Titre &lt;script&gt;alert(1)&lt;/script&gt;</title>' in svg
    assert '<desc id="chart-test-desc">Description &amp; détails</desc>' in svg
    assert "<script" not in svg and "<b>" not in svg and "90e centile &lt;b&gt;" in svg
    # The missing February breaks each line into two single points: no path, two markers per series.
    assert svg.count('class="stat-chart__line"') == 0
    assert svg.count("<circle") == 2 + 1 and svg.count('<rect class="stat-chart__marker"') == 2 + 1  # + legend
    assert "<title>mars 2026 – Médiane : 3,0\u00a0j</title>" in svg
    assert ">janv. 2026<" in svg and ">Délai en jours<" in svg


def test_a_bar_chart_draws_one_bar_per_non_zero_value() -> None:
    chart = _chart(
        series=(
            charts.Series("submitted", "Soumises", (3, 0, 1), charts.BLUE_FRANCE),
            charts.Series("refused", "Refusées", (1, 0, 0), charts.ERROR),
        ),
        format_value=charts.format_integer,
        integer_ticks=True,
    )
    svg = str(charts.bar_chart(chart))
    assert svg.count("<title>") == 3  # one tooltip per bar (the chart's own title has an id)
    assert "<title>janv. 2026 – Soumises : 3</title>" in svg and "<title>janv. 2026 – Refusées : 1</title>" in svg
    with pytest.raises(ValueError):
        _chart(categories=("janv. 2026",))
    with pytest.raises(ValueError):
        charts.Series('x" onload="alert(1)', "X", (1,), charts.ERROR)
    with pytest.raises(ValueError):
        charts.Series("x", "X", (1,), 'red" onload="alert(1)')
    with pytest.raises(ValueError):
        charts.line_chart(_chart(), area=True)  # an area cannot have gaps


# --- hand-built timelines -----------------------------------------------------------------------------


def _entry(
    session: Session,
    request: HabilitationRequest,
    event: Event | None,
    source: State | None,
    target: State,
    at: datetime,
    stage: Stage = Stage.SANDBOX,
) -> None:
    session.add(
        TimelineEntry(
            request_id=request.id,
            event=event,
            notice=None if event else "test",
            from_state=source,
            to_state=target,
            stage=stage,
            actor_name="Test",
            actor_party="instructeur",
            created_at=at,
        )
    )


D, S, C, V, R = State.DRAFT, State.SUBMITTED, State.CHANGES_REQUESTED, State.VALIDATED, State.REFUSED
P = Stage.PRODUCTION


def _history(session: Session, cast: Cast) -> dict[str, HabilitationRequest]:
    """Three requests whose moves from December 2023 to April 2024 exercise every rule (times in UTC)."""
    first, second, third = (new_request(session, cast) for _ in range(3))
    second.use_case = "place_creche"
    # The first: changes requested once, approved; then production, submitted on the night of 29 February
    # (1 March in Paris), and refused on the night of 31 March (1 April in Paris, in summer time).
    _entry(session, first, Event.SUBMIT, D, S, utc(2024, 1, 10, 9))
    _entry(session, first, Event.REQUEST_CHANGES, S, C, utc(2024, 1, 20, 9))
    _entry(session, first, Event.SUBMIT, C, S, utc(2024, 2, 1, 9))
    _entry(session, first, Event.APPROVE, S, V, utc(2024, 2, 5, 21))
    _entry(session, first, Event.START_PRODUCTION, V, D, utc(2024, 2, 10), P)
    _entry(session, first, Event.SUBMIT, D, S, utc(2024, 2, 29, 23, 30), P)
    _entry(session, first, Event.REFUSE, S, R, utc(2024, 3, 31, 23, 30), P)
    # The second: submitted before the period, approved in January; its update is cancelled by the DGFiP.
    _entry(session, second, Event.SUBMIT, D, S, utc(2023, 12, 20, 10))
    _entry(session, second, Event.APPROVE, S, V, utc(2024, 1, 5, 10))
    _entry(session, second, Event.REOPEN, V, D, utc(2024, 3, 10))
    _entry(session, second, Event.SUBMIT, D, S, utc(2024, 3, 15, 10))
    _entry(session, second, Event.CANCEL_REOPENING, S, V, utc(2024, 3, 25, 10))
    # The third: submitted in February, still waiting; a notice while it waits moves nothing.
    _entry(session, third, Event.SUBMIT, D, S, utc(2024, 2, 15, 8))
    _entry(session, third, None, S, S, utc(2024, 3, 2, 8))
    session.flush()
    return {"first": first, "second": second, "third": third}


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def history(session: Session, cast: Cast) -> dict[str, HabilitationRequest]:
    requests = _history(session, cast)
    session.commit()
    return requests


PERIOD = StatisticsFilters(Month(2024, 1), Month(2024, 4))


def _column(figures, name: str) -> list:  # type: ignore[no-untyped-def]
    return [getattr(month, name) for month in figures.months]


def test_counts_per_month(session: Session, history: dict) -> None:
    figures = compute(session, PERIOD)
    # Resubmissions after a request for changes are not counted again; the submission of an update is.
    assert _column(figures, "submitted") == [1, 1, 2, 0]
    assert _column(figures, "validated") == [1, 1, 0, 0]
    assert _column(figures, "refused") == [0, 0, 0, 1]
    assert figures.totals == Counts(submitted=4, validated=2, refused=1)


def test_backlog_at_the_end_of_each_month(session: Session, history: dict) -> None:
    assert _column(compute(session, PERIOD), "backlog") == [0, 1, 2, 1]
    # Before the period, the second request was already waiting: the backlog starts from there.
    assert _column(compute(session, StatisticsFilters(Month(2023, 12), Month(2023, 12))), "backlog") == [1]
    sandbox = compute(session, StatisticsFilters(PERIOD.first, PERIOD.last, Stage.SANDBOX))
    production = compute(session, StatisticsFilters(PERIOD.first, PERIOD.last, Stage.PRODUCTION))
    assert _column(sandbox, "backlog") == [0, 1, 1, 1]
    assert _column(production, "backlog") == [0, 0, 1, 0]


def test_a_cancelled_production_stage_leaves_the_production_backlog(session: Session, history: dict) -> None:
    request = history["third"]
    _entry(session, request, Event.APPROVE, S, V, utc(2024, 5, 2, 8))
    _entry(session, request, Event.START_PRODUCTION, V, D, utc(2024, 5, 3, 8), P)
    _entry(session, request, Event.SUBMIT, D, S, utc(2024, 5, 4, 8), P)
    # Recorded in the stage it leads to: the sandbox.
    _entry(session, request, Event.CANCEL_PRODUCTION, S, V, utc(2024, 6, 4, 8), Stage.SANDBOX)
    session.commit()
    may_june = (Month(2024, 5), Month(2024, 6))
    production = compute(session, StatisticsFilters(*may_june, Stage.PRODUCTION))
    sandbox = compute(session, StatisticsFilters(*may_june, Stage.SANDBOX))
    assert _column(production, "backlog") == [1, 0]
    assert _column(sandbox, "backlog") == [0, 0]


def test_delays_to_the_first_and_the_final_decision(session: Session, history: dict) -> None:
    figures = compute(session, PERIOD)
    first = _column(figures, "first_decision")
    # January: changes requested after 10 days, approval after 16; February: approved 4.5 days after the
    # resubmission; April in Paris (still March in UTC): the production stage refused 31 days after its
    # submission.
    assert first == [
        DelaySummary(2, 13.0, pytest.approx(15.4)),
        DelaySummary(1, 4.5, 4.5),
        DelaySummary(),
        DelaySummary(1, 31.0, 31.0),
    ]
    assert figures.first_decision == DelaySummary(4, 13.0, pytest.approx(26.5))
    # From the submission that opened the instruction: 16 days, then 26.5 days (10 January to 5 February,
    # changes requested on the way), then 31 days.
    assert _column(figures, "final_decision") == [
        DelaySummary(1, 16.0, 16.0),
        DelaySummary(1, 26.5, 26.5),
        DelaySummary(),
        DelaySummary(1, 31.0, 31.0),
    ]
    assert figures.final_decision == DelaySummary(3, 26.5, pytest.approx(30.1))


def test_filters_by_stage_and_use_case(session: Session, history: dict) -> None:
    production = compute(session, StatisticsFilters(PERIOD.first, PERIOD.last, Stage.PRODUCTION))
    assert _column(production, "submitted") == [0, 0, 1, 0] and _column(production, "refused") == [0, 0, 0, 1]
    assert production.first_decision == DelaySummary(1, 31.0, 31.0)
    creche = compute(session, StatisticsFilters(PERIOD.first, PERIOD.last, use_case="place_creche"))
    assert _column(creche, "submitted") == [0, 0, 1, 0] and _column(creche, "validated") == [1, 0, 0, 0]
    assert _column(creche, "backlog") == [0, 0, 0, 0]
    assert creche.final_decision == DelaySummary(1, 16.0, 16.0)
    nothing = compute(session, StatisticsFilters(Month(2022, 1), Month(2022, 12)))
    assert not nothing.has_counts and not nothing.has_backlog and nothing.first_decision == DelaySummary()


def test_a_decision_is_paired_with_its_submissions_even_long_before_the_period(session: Session, history: dict) -> None:
    request = history["third"]  # submitted on 15 February 2024, decided two years later
    _entry(session, request, Event.APPROVE, S, V, utc(2026, 2, 15, 8))
    session.commit()
    figures = compute(session, StatisticsFilters(Month(2026, 2), Month(2026, 2)))
    days = (utc(2026, 2, 15, 8) - utc(2024, 2, 15, 8)).days
    assert figures.first_decision == DelaySummary(1, days, days) == figures.final_decision
    assert _column(figures, "backlog") == [0]


def test_the_services_timeline_gives_the_same_figures_as_the_requests_states(session: Session, cast: Cast) -> None:
    """Built through the real services: what the timeline says agrees with the requests' states."""
    requests = [
        build(session, cast, situation)
        for situation in (
            Situation.SUBMITTED,
            Situation.CHANGES_REQUESTED,  # its resubmission is not counted again
            Situation.VALIDATED,
            Situation.REFUSED,
            Situation.REOPENING_SUBMITTED,  # the sandbox, then the update: two submissions
            Situation.PRODUCTION_SUBMITTED,  # the sandbox, then the production stage: two submissions
        )
    ]
    session.commit()
    # Two months, so that a run at midnight on the last day of a month still sees everything.
    current = Month.of(utcnow())
    figures = compute(session, StatisticsFilters(current.plus(-1), current))
    assert figures.totals == Counts(submitted=8, validated=3, refused=1)
    waiting = [request for request in requests if request.state is State.SUBMITTED]
    assert figures.final_backlog == len(waiting) == 3
    production = compute(session, StatisticsFilters(current.plus(-1), current, Stage.PRODUCTION))
    assert production.final_backlog == 1 and production.totals == Counts(submitted=1)
    assert figures.first_decision.count == 5 and figures.final_decision.count == 4


# --- the page -----------------------------------------------------------------------------------------


ROLES = ("instructeur", "rapporteur", "collectivite", "editeur", "hebergeur", "anonyme")


@pytest.mark.parametrize("role", ROLES)
def test_the_page_is_for_the_dgfip(client: FlaskClient, session: Session, cast: Cast, role: str) -> None:
    session.commit()
    if role != "anonyme":
        login(client, session, getattr(cast, role))
    response = client.get("/statistiques")
    expected = {"instructeur": 200, "rapporteur": 200, "anonyme": 302}.get(role, 403)
    assert response.status_code == expected
    if role == "anonyme":
        assert "/connexion" in response.headers["Location"]


def _tables(page: str) -> dict[str, str]:
    """Each chart's data table, by the id of its accordion."""
    return dict(re.findall(r'id="(chart-[a-z-]+)-data">(.*?)</table>', page, flags=re.S))


def _rows(table: str) -> dict[str, list[str]]:
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', table, flags=re.S)
    return {label: re.findall(r"<td>(.*?)</td>", cells) for label, cells in rows}


def _tooltips(page: str, chart_id: str) -> dict[tuple[str, str], str]:
    svg = page.split(f'<title id="{chart_id}-title">', 1)[1].split("</svg>", 1)[0]
    tooltips = re.findall(r"<title>(.*?) – (.*?) : (.*?)</title>", html.unescape(svg))
    return {(month, series): value for month, series, value in tooltips}


def test_each_chart_is_followed_by_a_consistent_data_table(
    client: FlaskClient, session: Session, cast: Cast, history: dict
) -> None:
    login(client, session, cast.rapporteur)
    page = client.get("/statistiques?du=2024-01&au=2024-04").get_data(as_text=True)
    assert page.count('role="img"') == 4 and page.count('aria-controls="chart-') == 4
    for chart_id in ("chart-counts", "chart-first-decision", "chart-final-decision", "chart-backlog"):
        assert f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in page
        assert f'<desc id="{chart_id}-desc">' in page
    tables = _tables(page)
    counts = _rows(tables["chart-counts"])
    assert counts == {
        "janv. 2024": ["1", "1", "0"],
        "févr. 2024": ["1", "1", "0"],
        "mars 2024": ["2", "0", "0"],
        "avr. 2024": ["0", "0", "1"],
        "Total de la période": ["4", "2", "1"],
    }
    bars = _tooltips(page, "chart-counts")
    for month, (submitted, validated, refused) in list(counts.items())[:4]:
        for series, value in (("Soumises", submitted), ("Validées", validated), ("Refusées", refused)):
            assert bars.get((month, series), "0") == value, (month, series)
    final = _rows(tables["chart-final-decision"])
    assert final["févr. 2024"] == ["1", "26,5\u00a0j", "26,5\u00a0j"]
    assert final["mars 2024"] == ["0", "—", "—"]
    assert final["Toute la période"] == ["3", "26,5\u00a0j", "30,1\u00a0j"]
    points = _tooltips(page, "chart-final-decision")
    assert points[("févr. 2024", "Médiane")] == "26,5\u00a0j" and ("mars 2024", "Médiane") not in points
    backlog = _rows(tables["chart-backlog"])
    assert [cells[0] for cells in backlog.values()] == ["0", "1", "2", "1"]
    line = _tooltips(page, "chart-backlog")
    assert [line[(month, "En cours d'instruction en fin de mois")] for month in backlog] == ["0", "1", "2", "1"]
    assert "Comment ces chiffres sont calculés" in page


def test_the_filters_are_kept_in_the_url_and_the_form(
    client: FlaskClient, session: Session, cast: Cast, history: dict
) -> None:
    login(client, session, cast.instructeur)
    page = client.get("/statistiques?du=2024-01&au=2024-04&etape=production&cas=place_creche").get_data(as_text=True)
    assert 'name="du" value="2024-01"' in page and 'name="au" value="2024-04"' in page
    assert '<option value="production" selected>' in page and '<option value="place_creche" selected>' in page
    assert "de janvier 2024 à avril 2024, étape production, cas d&#39;usage" in page
    # Nothing of the crèche request happened in production: every chart says so instead of drawing.
    assert "<svg" not in page.split("<h1>", 1)[1]
    assert "Aucune demande n'a été soumise, validée ni refusée" in page
    assert "Aucune demande n'attendait de décision" in page
    production = client.get("/statistiques?du=2024-01&au=2024-04&etape=production").get_data(as_text=True)
    assert [cells[0] for cells in _rows(_tables(production)["chart-backlog"]).values()] == ["0", "0", "1", "0"]


def test_absurd_periods_are_told_not_refused(client: FlaskClient, session: Session, cast: Cast) -> None:
    session.commit()
    login(client, session, cast.instructeur)
    for query, told in (
        ("du=2024-06&au=2024-01", "inversés"),
        ("du=2000-01&au=2024-12", "limitée à 60 mois"),
        ("du=%C2%B2&au=9999-99", "AAAA-MM"),
        ("au=2999-01", "mois en cours"),
    ):
        response = client.get(f"/statistiques?{query}")
        assert response.status_code == 200, query
        assert told in response.get_data(as_text=True), query
    page = client.get("/statistiques?du=2000-01&au=2024-12").get_data(as_text=True)
    assert 'name="du" value="2020-01"' in page


def test_the_page_runs_a_fixed_number_of_statements(
    client: FlaskClient, session: Session, cast: Cast, connection: Connection, history: dict
) -> None:
    login(client, session, cast.instructeur)
    url = "/statistiques?du=2024-01&au=2024-12&cas=cantine_scolaire"
    client.get(url)  # warm-up: the session's last-seen touch may write once

    def count() -> int:
        statements: list[str] = []

        def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
            if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
                statements.append(statement)

        sqlalchemy_event.listen(connection, "before_cursor_execute", record)
        try:
            assert client.get(url).status_code == 200
        finally:
            sqlalchemy_event.remove(connection, "before_cursor_execute", record)
        return len(statements)

    small = count()
    # Ten times the requests, each with rounds of changes over the year.
    for number in range(30):
        request = new_request(session, cast)
        opened = utc(2024, 1 + number % 12, 2, 8)
        _entry(session, request, Event.SUBMIT, D, S, opened)
        for round_number in range(3):
            _entry(session, request, Event.REQUEST_CHANGES, S, C, opened + timedelta(days=3 * round_number + 1))
            _entry(session, request, Event.SUBMIT, C, S, opened + timedelta(days=3 * round_number + 2))
        _entry(session, request, Event.APPROVE, S, V, opened + timedelta(days=12))
    session.commit()
    # The login session with its user and membership, then the two statistics statements.
    assert count() == small == 3
