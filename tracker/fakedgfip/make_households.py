"""Writes the stand-in's default households file, deterministically (no randomness: the same file every
time, so a diff shows any change)::

    python -m tracker.fakedgfip.make_households > tracker/fakedgfip/households.json

Every person is fictitious and named so nobody can mistake them for a real taxpayer; every SPI starts
with ``99990`` (an obvious test prefix) and ends with the household number and the declarant.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

FIRST_INCOME_YEAR = 2020
LAST_INCOME_YEAR = 2025
HOUSEHOLD_COUNT = 20

SURNAMES = (
    "FICTIF",
    "EXEMPLE",
    "ESSAI",
    "SPECIMEN",
    "MAQUETTE",
    "BACASABLE",
    "PROTOTYPE",
    "TEMOIN",
    "MODELE",
    "DEMO",
)
FIRST_NAMES = ("Alix", "Camille", "Dominique", "Sacha", "Claude", "Maxime", "Charlie", "Andréa", "Eden", "Noa")
CHILD_NAMES = ("Lou", "Jules", "Rose", "Malo", "Iris")
STREETS = ("RUE DE L'EXEMPLE", "AVENUE DU TEST", "PLACE DE LA MAQUETTE", "ALLEE DU SPECIMEN", "CHEMIN DE L'ESSAI")
TOWNS = (("99001", "VILLE-FICTIVE"), ("99002", "BOURG-DE-TEST"), ("99003", "SAINT-EXEMPLE"))


def spi(household: int, declarant: int) -> str:
    return f"99990{household:06d}{declarant}0"


def household(number: int) -> dict[str, Any]:
    """Household ``number`` (1-based): its situation is a pure function of the number, so every kind of
    case (single, couple, dependants, parent isolé, deficit, IFI, missing years) appears."""
    surname = SURNAMES[(number - 1) % len(SURNAMES)] + ("" if number <= len(SURNAMES) else "-BIS")
    is_couple = number % 3 != 0
    children = number % 4
    is_single_parent = not is_couple and children > 0
    # Some households arrived recently (no older years) and one missed a year (no return filed).
    first_year = FIRST_INCOME_YEAR + (3 if number % 7 == 3 else 0)
    missing_years = {LAST_INCOME_YEAR - 2} if number == 5 else set()
    born = 1950 + (number * 7) % 45
    street = STREETS[number % len(STREETS)]
    postcode, town = TOWNS[number % len(TOWNS)]
    address = {"numero": str(number), "voie": street, "codePostal": postcode, "commune": town}

    years: dict[str, Any] = {}
    for year in range(first_year, LAST_INCOME_YEAR + 1):
        if year in missing_years:
            continue
        growth = 100 + (year - FIRST_INCOME_YEAR) * 2  # incomes rise 2 % a year
        base_income = 9_000 + ((number * 3_517) % 60_000)
        rbg = base_income * growth // 100 * (2 if is_couple else 1)
        if number % 9 == 4:
            rbg = -(rbg // 10)  # a business loss larger than the other incomes
        rfr = max(rbg, 0) * 9 // 10
        parts = (
            (2 if is_couple else 1) + 0.5 * min(children, 2) + max(children - 2, 0) + (0.5 if is_single_parent else 0)
        )
        tax = max(0, (rfr / parts - 11_000) * 0.11 * parts)
        years[str(year)] = {
            "nmUsaDec1": surname,
            "nmNaiDec1": surname,
            "prnmDec1": FIRST_NAMES[number % len(FIRST_NAMES)],
            "dateNaisDec1": f"{born}-{number % 12 + 1:02d}-{number % 28 + 1:02d}",
            "nmUsaDec2": surname if is_couple else None,
            "nmNaiDec2": f"{SURNAMES[number % len(SURNAMES)]}-NAISSANCE" if is_couple else None,
            "prnmDec2": FIRST_NAMES[(number + 3) % len(FIRST_NAMES)] if is_couple else None,
            "dateNaisDec2": f"{born + 2}-{(number + 5) % 12 + 1:02d}-{(number + 9) % 28 + 1:02d}"
            if is_couple
            else None,
            "aft": f"{number} {street} {postcode} {town}",
            "aftDetail": address,
            "sitFam": ("M" if number % 2 else "O") if is_couple else ("C", "D", "V")[(number // 3) % 3],
            "nbPart": parts,
            "pac": {
                "nbPac": children,
                "detail": [
                    {"prenom": CHILD_NAMES[child], "dateNaissance": f"{2008 + child * 3 + number % 3}-0{child + 1}-15"}
                    for child in range(children)
                ],
            },
            "sitParIso": is_single_parent,
            "rfr": rfr,
            "mntRevbareme": round(tax),
            "indDeficit": rbg < 0,
            "indicateurIfiIsf": number % 10 == 7,
            "revenuBrutGlobal": rbg,
        }
    spis = [spi(number, 1)] + ([spi(number, 2)] if is_couple else [])
    return {"spis": spis, "years": years}


def households_document(count: int = HOUSEHOLD_COUNT) -> dict[str, Any]:
    return {"households": [household(number) for number in range(1, count + 1)]}


def render(count: int = HOUSEHOLD_COUNT) -> str:
    return json.dumps(households_document(count), ensure_ascii=False, indent=1) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Écrit le fichier des foyers fictifs du faux DGFiP.")
    parser.add_argument("--count", type=int, default=HOUSEHOLD_COUNT, help="nombre de foyers")
    arguments = parser.parse_args(argv)
    sys.stdout.write(render(arguments.count))


if __name__ == "__main__":
    main()
