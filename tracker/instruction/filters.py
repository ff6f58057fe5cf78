"""The instruction list's filters, read from and written back to the URL (shareable, back-button
friendly). Pure: unknown or malformed values are ignored rather than refused, as a list should be."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tracker.forms import SMALL_NUMBER
from tracker.habilitations.workflow import Stage, State
from tracker.instruction.territories import REGION_OF_DEPARTEMENT, REGIONS

# By default the list shows what is still to be decided (DOMAIN §3): not validated nor deleted requests.
DEFAULT_STATES = tuple(s for s in State if s not in (State.VALIDATED, State.ARCHIVED))


class DeadlineFilter(enum.StrEnum):
    OVERDUE = "depassee"
    DUE_SOON = "sous-15-jours"

    @property
    def label(self) -> str:
        return {DeadlineFilter.OVERDUE: "Dépassée", DeadlineFilter.DUE_SOON: "Dans 15 jours ou moins"}[self]


class SortOrder(enum.StrEnum):
    DEADLINE = "echeance"
    LAST_MOVE = "mouvement"
    NUMBER = "numero"
    ORGANIZATION = "collectivite"

    @property
    def label(self) -> str:
        return {
            SortOrder.DEADLINE: "Date limite d'instruction (la plus proche d'abord)",
            SortOrder.LAST_MOVE: "Dernier mouvement (le plus récent d'abord)",
            SortOrder.NUMBER: "Numéro de demande",
            SortOrder.ORGANIZATION: "Collectivité (ordre alphabétique)",
        }[self]


ASSIGNED_TO_ME = "moi"
UNASSIGNED = "personne"


@dataclass(frozen=True)
class InstructionFilters:
    text: str = ""
    states: tuple[State, ...] = DEFAULT_STATES
    stage: Stage | None = None
    use_case: str | None = None
    departement: str | None = None
    region: str | None = None
    # « moi », « personne », or the id of a DGFiP user.
    assigned: str | None = None
    deadline: DeadlineFilter | None = None
    sort: SortOrder = SortOrder.DEADLINE
    page: int = 1

    def query_args(self, **changes: Any) -> dict[str, Any]:
        """The URL arguments that give back these filters (defaults left out), with ``changes`` applied."""
        current = replace(self, **changes)
        args: dict[str, Any] = {}
        if current.text:
            args["q"] = current.text
        if current.states != DEFAULT_STATES:
            args["etat"] = [s.value for s in current.states] or ["aucun"]
        for name, value in (
            ("etape", current.stage),
            ("cas", current.use_case),
            ("departement", current.departement),
            ("region", current.region),
            ("pris_en_charge", current.assigned),
            ("delai", current.deadline),
        ):
            if value:
                args[name] = str(value)
        if current.sort is not SortOrder.DEADLINE:
            args["tri"] = current.sort.value
        if current.page > 1:
            args["page"] = current.page
        return args


def _one(args: Mapping[str, Sequence[str]], name: str) -> str:
    values = args.get(name) or []
    return values[0].strip() if values else ""


def _enum(kind: type[enum.StrEnum], value: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        return None


def parse_filters(args: Mapping[str, Sequence[str]], *, use_cases: frozenset[str]) -> InstructionFilters:
    """``args``: the query string as lists of values (``request.args.to_dict(flat=False)``)."""
    chosen = set(args.get("etat") or [])
    states = tuple(s for s in State if s.value in chosen) if "etat" in args else DEFAULT_STATES
    page = _one(args, "page")
    assigned = _one(args, "pris_en_charge")
    departement = _one(args, "departement").upper()
    return InstructionFilters(
        text=_one(args, "q")[:200],
        states=states,
        stage=_enum(Stage, _one(args, "etape")),
        use_case=_one(args, "cas") if _one(args, "cas") in use_cases else None,
        departement=departement if departement in REGION_OF_DEPARTEMENT else None,
        region=_one(args, "region") if _one(args, "region") in REGIONS else None,
        assigned=assigned if assigned in (ASSIGNED_TO_ME, UNASSIGNED) or SMALL_NUMBER.fullmatch(assigned) else None,
        deadline=_enum(DeadlineFilter, _one(args, "delai")),
        sort=_enum(SortOrder, _one(args, "tri")) or SortOrder.DEADLINE,
        page=max(int(page), 1) if SMALL_NUMBER.fullmatch(page) else 1,
    )
