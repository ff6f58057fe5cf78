"""The lifecycle diagram, drawn as SVG from ``workflow.RULES`` so it cannot drift from the code.

Only the positions of the boxes are chosen by hand; every arrow and label comes from the table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

from markupsafe import Markup, escape

from tracker.habilitations.workflow import RULES, State, arrows

BOX_WIDTH, BOX_HEIGHT = 190, 46
WIDTH, HEIGHT = 1060, 600
START = None

# Layout only: where each state sits on the canvas.
POSITIONS: dict[State | None, tuple[float, float]] = {
    START: (60, 300),
    State.DRAFT: (250, 300),
    State.SUBMITTED: (560, 300),
    State.CHANGES_REQUESTED: (400, 510),
    State.VALIDATED: (900, 300),
    State.REFUSED: (720, 510),
    State.REVOKED: (960, 510),
    State.ARCHIVED: (560, 70),
}


def _boundary_point(
    center: tuple[float, float], toward: tuple[float, float], is_start: bool
) -> tuple[float, float]:
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


def _edge_labels() -> dict[tuple[State | None, State], list[str]]:
    grouped: dict[tuple[State | None, State], list[str]] = defaultdict(list)
    for arrow in arrows():
        label = RULES[arrow.event].label
        if arrow.condition:
            label += f" ({arrow.condition})"
        if label not in grouped[(arrow.source, arrow.target)]:
            grouped[(arrow.source, arrow.target)].append(label)
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
    for (source, target), labels in _edge_labels().items():
        start, end = POSITIONS[source], POSITIONS[target]
        dx, dy = end[0] - start[0], end[1] - start[1]
        length = math.hypot(dx, dy) or 1.0
        # Bend every arrow to its left: the two directions between a pair of boxes never overlap.
        bend = 60 if (target, source) in _edge_labels() or source is START else 30
        control = ((start[0] + end[0]) / 2 - dy / length * bend, (start[1] + end[1]) / 2 + dx / length * bend)
        p0 = _boundary_point(start, control, source is START)
        p2 = _boundary_point(end, control, False)
        parts.append(
            f'<path d="M{p0[0]:.1f},{p0[1]:.1f} Q{control[0]:.1f},{control[1]:.1f} {p2[0]:.1f},{p2[1]:.1f}" '
            'fill="none" stroke="#000091" stroke-width="1.6" marker-end="url(#arrowhead)"/>'
        )
        label_x = 0.25 * p0[0] + 0.5 * control[0] + 0.25 * p2[0]
        label_y = 0.25 * p0[1] + 0.5 * control[1] + 0.25 * p2[1] - 6 * (len(labels) - 1)
        lines = "".join(
            f'<tspan x="{label_x:.1f}" dy="{0 if index == 0 else 13}">{escape(text)}</tspan>'
            for index, text in enumerate(labels)
        )
        parts.append(
            f'<text x="{label_x:.1f}" y="{label_y:.1f}" font-size="11" text-anchor="middle" fill="#3a3a3a" '
            f'paint-order="stroke" stroke="#ffffff" stroke-width="4">{lines}</text>'
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
    return Markup("".join(parts))
