"""The lifecycle diagram, drawn as SVG from ``workflow.RULES`` so it cannot drift from the code.

Only the positions of the boxes are chosen by hand; every arrow and label comes from the table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

from markupsafe import Markup, escape

from tracker.habilitations.workflow import RULES, Event, State, arrows

BOX_WIDTH, BOX_HEIGHT = 190, 46
WIDTH, HEIGHT = 1000, 560
START = None

# Layout only: where each state sits, and how far some arrows bend (positive: to the left of their
# direction) so that they go around the boxes instead of through them.
POSITIONS: dict[State | None, tuple[float, float]] = {
    START: (30, 170),
    State.DRAFT: (220, 170),
    State.SUBMITTED: (560, 170),
    State.VALIDATED: (880, 170),
    State.CHANGES_REQUESTED: (560, 390),
    State.REFUSED: (360, 390),
    State.ARCHIVED: (100, 390),
    State.REVOKED: (880, 390),
}
BENDS: dict[tuple[State | None, State], float] = {
    (State.VALIDATED, State.DRAFT): 150,
    (State.DRAFT, State.VALIDATED): 110,
    (State.REVOKED, State.ARCHIVED): -190,
    (State.SUBMITTED, State.VALIDATED): 0,
    (State.DRAFT, State.SUBMITTED): 0,
    (START, State.DRAFT): 0,
    (State.VALIDATED, State.REVOKED): 0,
    (State.REFUSED, State.ARCHIVED): 0,
}
DEFAULT_BEND = 40


def _boundary_point(center: tuple[float, float], toward: tuple[float, float], is_start: bool) -> tuple[float, float]:
    """Where the line from a box's center toward ``toward`` leaves the box (or the start dot)."""
    dx, dy = toward[0] - center[0], toward[1] - center[1]
    length = math.hypot(dx, dy) or 1.0
    if is_start:
        return center[0] + dx / length * 12, center[1] + dy / length * 12
    scale = min(
        (BOX_WIDTH / 2 + 4) / abs(dx) if dx else math.inf,
        (BOX_HEIGHT / 2 + 4) / abs(dy) if dy else math.inf,
    )
    return center[0] + dx * scale, center[1] + dy * scale


def event_numbers() -> dict[Event, int]:
    """Arrows carry numbers rather than sentences; the page lists them in the same order."""
    return {event: index for index, event in enumerate(RULES, start=1)}


def _edge_events() -> dict[tuple[State | None, State], list[int]]:
    numbers = event_numbers()
    grouped: dict[tuple[State | None, State], list[int]] = defaultdict(list)
    for arrow in arrows():
        number = numbers[arrow.event]
        if number not in grouped[(arrow.source, arrow.target)]:
            grouped[(arrow.source, arrow.target)].append(number)
    return grouped


@lru_cache(maxsize=1)
def render_svg() -> Markup:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="lifecycle-title" class="lifecycle-diagram">',
        "<title id=\"lifecycle-title\">Cycle de vie d'une demande d'habilitation</title>",
        '<defs><marker id="arrowhead" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#000091"/></marker></defs>',
    ]
    for (source, target), numbers in _edge_events().items():
        start, end = POSITIONS[source], POSITIONS[target]
        dx, dy = end[0] - start[0], end[1] - start[1]
        length = math.hypot(dx, dy) or 1.0
        # Arrows bend to their left, so the two directions between a pair of boxes never overlap.
        bend = BENDS.get((source, target), DEFAULT_BEND)
        control = ((start[0] + end[0]) / 2 - dy / length * bend, (start[1] + end[1]) / 2 + dx / length * bend)
        p0 = _boundary_point(start, control, source is START)
        p2 = _boundary_point(end, control, False)
        parts.append(
            f'<path d="M{p0[0]:.1f},{p0[1]:.1f} Q{control[0]:.1f},{control[1]:.1f} {p2[0]:.1f},{p2[1]:.1f}" '
            'fill="none" stroke="#000091" stroke-width="1.6" marker-end="url(#arrowhead)"/>'
        )
        # The event numbers sit in a pill on the curve's midpoint.
        label_x = 0.25 * p0[0] + 0.5 * control[0] + 0.25 * p2[0]
        label_y = 0.25 * p0[1] + 0.5 * control[1] + 0.25 * p2[1]
        text = ", ".join(str(number) for number in sorted(numbers))
        pill_width = 10 + 7.5 * len(text)
        parts.append(
            f'<rect x="{label_x - pill_width / 2:.1f}" y="{label_y - 10:.1f}" width="{pill_width:.1f}" height="20" '
            'rx="10" fill="#ffffff" stroke="#000091" stroke-width="1"/>'
            f'<text x="{label_x:.1f}" y="{label_y + 4:.1f}" font-size="12" font-weight="bold" text-anchor="middle" '
            f'fill="#000091">{escape(text)}</text>'
        )
    for state, (x, y) in POSITIONS.items():
        if state is START:
            parts.append(f'<circle cx="{x}" cy="{y}" r="10" fill="#000091"><title>Création</title></circle>')
            continue
        parts.append(
            f'<rect x="{x - BOX_WIDTH / 2}" y="{y - BOX_HEIGHT / 2}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" '
            'rx="8" fill="#f5f5fe" stroke="#000091" stroke-width="1.5"/>'
            f'<text x="{x}" y="{y + 5}" font-size="15" font-weight="bold" text-anchor="middle" '
            f'fill="#161616">{escape(state.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text above goes through escape()
