"""Which response fields a client sees: the scope → field table of DOMAIN §6, read from the catalogue so
the stand-in, the citizens' page and the form can never disagree on it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from tracker.catalogue.scopes import SCOPES

# DataPass scope key → the response fields it opens; a dotted path opens one member of an object
# (``pac.nbPac`` shows how many dependants without showing who they are).
RESPONSE_FIELDS_BY_SCOPE: dict[str, tuple[str, ...]] = {
    scope.key: scope.response_fields for scope in SCOPES if scope.response_fields
}

# Identification, in every successful body whatever the scopes: which taxpayer and which income year
# were served (the two-year endpoint chooses the year itself, so the connector must be told).
ALWAYS_PRESENT_FIELDS: tuple[str, ...] = ("spi", "anneeRevenus")

# The IFI indicator is served by its own resource; the income-tax resources carry everything else.
IFI_FIELDS = frozenset({"indicateurIfiIsf"})

# Every field a household's year holds, in the order bodies are written.
HOUSEHOLD_YEAR_FIELDS: tuple[str, ...] = tuple(
    dict.fromkeys(path.split(".")[0] for paths in RESPONSE_FIELDS_BY_SCOPE.values() for path in paths)
)


def granted_paths(datapass_scopes: Collection[str]) -> set[str]:
    """The field paths a client holding these DataPass scopes may read."""
    return {path for key in datapass_scopes for path in RESPONSE_FIELDS_BY_SCOPE.get(key, ())}


def filtered_body(
    *,
    spi: str,
    income_year: int,
    year_data: Mapping[str, Any],
    datapass_scopes: Collection[str],
    resource_fields: Collection[str],
) -> dict[str, Any]:
    """The response body: identification, then only the granted fields the resource carries."""
    body: dict[str, Any] = {"spi": spi, "anneeRevenus": income_year}
    paths = granted_paths(datapass_scopes)
    for field in HOUSEHOLD_YEAR_FIELDS:
        if field not in resource_fields:
            continue
        if field in paths:
            body[field] = year_data[field]
            continue
        members = sorted(path.split(".", 1)[1] for path in paths if path.startswith(f"{field}."))
        if members:
            body[field] = {member: year_data[field][member] for member in members}
    return body
