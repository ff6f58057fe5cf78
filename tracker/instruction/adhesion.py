"""Adhesion status of a collectivité (DOMAIN §3.5), derived from its requests, never stored. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class Adhesion(enum.StrEnum):
    NONE = "aucune_demande"
    SANDBOX_IN_PROGRESS = "bac_a_sable_en_cours"
    SANDBOX_VALIDATED = "bac_a_sable_valide"
    PRODUCTION_IN_PROGRESS = "production_en_cours"
    IN_PRODUCTION = "en_production"
    REVOKED = "revoquee"
    EXPIRED = "expiree"

    @property
    def label(self) -> str:
        return {
            Adhesion.NONE: "Aucune demande",
            Adhesion.SANDBOX_IN_PROGRESS: "Bac à sable en cours",
            Adhesion.SANDBOX_VALIDATED: "Bac à sable validé",
            Adhesion.PRODUCTION_IN_PROGRESS: "Production en cours",
            Adhesion.IN_PRODUCTION: "En production (adhérente)",
            Adhesion.REVOKED: "Révoquée",
            Adhesion.EXPIRED: "Expirée",
        }[self]

    @property
    def badge(self) -> str:
        return {
            Adhesion.NONE: "",
            Adhesion.SANDBOX_IN_PROGRESS: "info",
            Adhesion.SANDBOX_VALIDATED: "info",
            Adhesion.PRODUCTION_IN_PROGRESS: "new",
            Adhesion.IN_PRODUCTION: "success",
            Adhesion.REVOKED: "error",
            Adhesion.EXPIRED: "warning",
        }[self]


# Where a collectivité has got to, furthest first: its most advanced request decides.
PROGRESSION = (
    Adhesion.IN_PRODUCTION,
    Adhesion.PRODUCTION_IN_PROGRESS,
    Adhesion.SANDBOX_VALIDATED,
    Adhesion.SANDBOX_IN_PROGRESS,
    Adhesion.EXPIRED,
    Adhesion.REVOKED,
    Adhesion.NONE,
)
# A file that no longer moves but still has somewhere to go.
CAN_STALL = frozenset({Adhesion.SANDBOX_IN_PROGRESS, Adhesion.SANDBOX_VALIDATED, Adhesion.PRODUCTION_IN_PROGRESS})


@dataclass(frozen=True)
class AdhesionFacts:
    """What the board's one query gathers per collectivité (counts of its requests and habilitations)."""

    active_production: int = 0
    production_requests_open: int = 0
    active_sandbox: int = 0
    sandbox_requests_open: int = 0
    expired_production: int = 0
    revoked: int = 0
    last_move_at: datetime | None = None


# What makes each status reached: one of the facts above counted at least once (NONE needs nothing).
# ``adhesion_of`` reads it for one collectivité; the board's query turns it into SQL to count them all.
REACHED_BY: dict[Adhesion, str | None] = {
    Adhesion.IN_PRODUCTION: "active_production",
    Adhesion.PRODUCTION_IN_PROGRESS: "production_requests_open",
    Adhesion.SANDBOX_VALIDATED: "active_sandbox",
    Adhesion.SANDBOX_IN_PROGRESS: "sandbox_requests_open",
    Adhesion.EXPIRED: "expired_production",
    Adhesion.REVOKED: "revoked",
    Adhesion.NONE: None,
}
assert set(REACHED_BY) == set(PROGRESSION) == set(Adhesion)


def adhesion_of(facts: AdhesionFacts) -> Adhesion:
    return next(status for status in PROGRESSION if (fact := REACHED_BY[status]) is None or getattr(facts, fact) > 0)


def is_stalled(status: Adhesion, last_move_at: datetime | None, now: datetime, stalled_after: timedelta) -> bool:
    return status in CAN_STALL and last_move_at is not None and now - last_move_at > stalled_after


@dataclass
class Tally:
    """Collectivités of one territory by adhesion status, and how many files are stalled."""

    counts: dict[Adhesion, int]
    stalled: int = 0

    @classmethod
    def empty(cls) -> Tally:
        return cls(counts=dict.fromkeys(Adhesion, 0))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, status: Adhesion, count: int = 1, *, stalled: int = 0) -> None:
        self.counts[status] += count
        self.stalled += stalled

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            counts={status: self.counts[status] + other.counts[status] for status in Adhesion},
            stalled=self.stalled + other.stalled,
        )


def tally(statuses: list[tuple[Adhesion, bool]]) -> Tally:
    """``statuses``: (status, is stalled) per collectivité."""
    result = Tally.empty()
    for status, stalled in statuses:
        result.add(status, stalled=int(stalled))
    return result
