"""« Statistiques »: the DGFiP's monthly figures of instruction, each chart followed by its data table."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, render_template, request
from flask_login import login_required
from markupsafe import Markup

from tracker.accounts.principal import current_dgfip_principal
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.db import db, utcnow
from tracker.habilitations.workflow import Stage
from tracker.instruction import charts
from tracker.instruction.statistics import (
    DelaySummary,
    Month,
    MonthStatistics,
    Statistics,
    StatisticsFilters,
    compute,
    parse_filters,
)

blueprint = Blueprint("statistics", __name__)


@blueprint.route("/statistiques")
@login_required
def statistics() -> str:
    """Instructeurs and rapporteurs alike: the figures change nothing."""
    current_dgfip_principal()
    use_cases = {use_case.key: use_case.label for use_case in IMPOT_PARTICULIER.use_cases}
    current = Month.of(utcnow())
    filters, corrections = parse_filters(
        request.args.to_dict(flat=False), use_cases=frozenset(use_cases), current=current
    )
    figures = compute(db.session, filters)
    scope = _scope(filters, use_cases)
    return render_template(
        "instruction/statistics.html",
        filters=filters,
        corrections=corrections,
        figures=figures,
        scope=scope,
        current=current,
        stages=list(Stage),
        use_cases=use_cases,
        counts_chart=_counts_chart(figures, scope) if figures.has_counts else None,
        first_decision_chart=_delay_chart(
            figures,
            scope,
            chart_id="chart-first-decision",
            title="Délai jusqu'à la première décision",
            summary=figures.first_decision,
            of_month=lambda month: month.first_decision,
        ),
        final_decision_chart=_delay_chart(
            figures,
            scope,
            chart_id="chart-final-decision",
            title="Délai jusqu'à la décision finale",
            summary=figures.final_decision,
            of_month=lambda month: month.final_decision,
        ),
        backlog_chart=_backlog_chart(figures, scope) if figures.has_backlog else None,
        number=charts.format_integer,
        days=charts.format_days,
    )


def _scope(filters: StatisticsFilters, use_cases: dict[str, str]) -> str:
    """« de janvier 2025 à décembre 2025, toutes étapes, tous cas d'usage »: what every chart covers."""
    period = (
        f"en {filters.first.name}"
        if filters.first == filters.last
        else f"de {filters.first.name} à {filters.last.name}"
    )
    stage = f"étape {filters.stage.label.lower()}" if filters.stage else "toutes étapes"
    use_case = f"cas d'usage « {use_cases[filters.use_case]} »" if filters.use_case else "tous cas d'usage"
    return f"{period}, {stage}, {use_case}"


def _categories(figures: Statistics) -> tuple[str, ...]:
    return tuple(month.month.label for month in figures.months)


TABLE_HINT = "Les valeurs de chaque mois sont dans le tableau « Voir les données du graphique » qui le suit."


def _counts_chart(figures: Statistics, scope: str) -> Markup:
    totals = figures.totals
    number = charts.format_integer
    return charts.bar_chart(
        charts.Chart(
            chart_id="chart-counts",
            title="Demandes soumises, validées et refusées par mois",
            description=(
                f"Histogramme groupé, {scope}. Sur la période : {number(totals.submitted)} soumises, "
                f"{number(totals.validated)} validées, {number(totals.refused)} refusées. {TABLE_HINT}"
            ),
            categories=_categories(figures),
            series=(
                charts.Series("submitted", "Soumises", tuple(m.submitted for m in figures.months), charts.BLUE_FRANCE),
                charts.Series("validated", "Validées", tuple(m.validated for m in figures.months), charts.SUCCESS),
                charts.Series("refused", "Refusées", tuple(m.refused for m in figures.months), charts.ERROR),
            ),
            y_label="Nombre de demandes",
            x_label="Mois (heure de Paris)",
            format_value=charts.format_integer,
            integer_ticks=True,
        )
    )


def _delay_chart(
    figures: Statistics,
    scope: str,
    *,
    chart_id: str,
    title: str,
    summary: DelaySummary,
    of_month: Callable[[MonthStatistics], DelaySummary],
) -> Markup | None:
    if not summary.count:
        return None
    days = charts.format_days
    return charts.line_chart(
        charts.Chart(
            chart_id=chart_id,
            title=f"{title}, médiane et 90e centile par mois de la décision",
            description=(
                f"Courbes, {scope}. Sur la période : médiane {days(summary.median)}, 90e centile "
                f"{days(summary.p90)}, sur {charts.format_integer(summary.count)} décisions. Un mois sans "
                f"décision n'a pas de point. {TABLE_HINT}"
            ),
            categories=_categories(figures),
            series=(
                charts.Series(
                    "median", "Médiane", tuple(of_month(m).median for m in figures.months), charts.BLUE_FRANCE
                ),
                charts.Series(
                    "p90",
                    "90e centile",
                    tuple(of_month(m).p90 for m in figures.months),
                    charts.WARNING,
                    dash="8 5",
                    marker="square",
                ),
            ),
            y_label="Délai en jours",
            x_label="Mois de la décision (heure de Paris)",
            format_value=charts.format_days,
            format_tick=lambda value: charts.format_decimal(value, 0 if value == int(value) else 1),
        )
    )


def _backlog_chart(figures: Statistics, scope: str) -> Markup:
    last = figures.months[-1].month
    return charts.line_chart(
        charts.Chart(
            chart_id="chart-backlog",
            title="Demandes en attente de la DGFiP à la fin de chaque mois",
            description=(
                f"Courbe et aire, {scope}. Fin {last.name} : "
                f"{charts.format_integer(figures.final_backlog)} demandes en cours d'instruction. {TABLE_HINT}"
            ),
            categories=_categories(figures),
            series=(
                charts.Series(
                    "backlog",
                    "En cours d'instruction en fin de mois",
                    tuple(m.backlog for m in figures.months),
                    charts.BLUE_FRANCE,
                ),
            ),
            y_label="Nombre de demandes",
            x_label="Fin du mois (heure de Paris)",
            format_value=charts.format_integer,
            integer_ticks=True,
        ),
        area=True,
    )
