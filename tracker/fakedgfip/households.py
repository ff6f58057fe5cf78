"""The fictitious households the stand-in serves: loading and validating a households file.

A file is ``{"households": [{"spis": ["…13 digits…", …], "years": {"2024": {field: value, …}, …}}, …]}``:
one or two SPIs per household (one per declarant, both reach the same tax return) and, per income
year, every field of :data:`tracker.fakedgfip.fields.HOUSEHOLD_YEAR_FIELDS`. A year absent from a
household has no data (the API answers 4101 for it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tracker.fakedgfip.fields import HOUSEHOLD_YEAR_FIELDS

DEFAULT_HOUSEHOLDS_PATH = Path(__file__).with_name("households.json")

SPI_PATTERN = re.compile(r"\d{13}")
YEAR_PATTERN = re.compile(r"\d{4}")
FAMILY_SITUATIONS = frozenset({"M", "O", "C", "D", "V"})  # marié, pacsé, célibataire, divorcé, veuf


class HouseholdsFileError(ValueError):
    """A households file that cannot be served; the message says where and what is wrong."""


@dataclass(frozen=True)
class Household:
    spis: tuple[str, ...]
    years: Mapping[int, Mapping[str, Any]]


@dataclass(frozen=True)
class HouseholdBook:
    """Every household, reachable by any of its declarants' SPIs."""

    by_spi: Mapping[str, Household]

    def find(self, spi: str) -> Household | None:
        return self.by_spi.get(spi)

    @property
    def households(self) -> list[Household]:
        return list({id(h): h for h in self.by_spi.values()}.values())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_pac(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) != {"nbPac", "detail"}:
        return 'un objet {"nbPac": entier, "detail": [...]} attendu'
    if not _is_int(value["nbPac"]) or value["nbPac"] < 0:
        return "nbPac doit être un entier positif ou nul"
    detail = value["detail"]
    if not isinstance(detail, list) or len(detail) != value["nbPac"]:
        return "detail doit lister autant de personnes que nbPac"
    for person in detail:
        if (
            not isinstance(person, dict)
            or not _is_text(person.get("prenom"))
            or not _is_iso_date(person.get("dateNaissance"))
        ):
            return 'chaque personne à charge doit être {"prenom": texte, "dateNaissance": AAAA-MM-JJ}'
    return None


def _expect(check: Callable[[Any], bool], what: str) -> Callable[[Any], str | None]:
    return lambda value: None if check(value) else what


def _optional(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    return lambda value: None if value is None else check(value)


_text = _expect(_is_text, "un texte non vide attendu")
_birth_date = _expect(_is_iso_date, "une date AAAA-MM-JJ attendue")
_flag = _expect(lambda v: isinstance(v, bool), "true ou false attendu")
_amount = _expect(lambda v: _is_int(v) and v >= 0, "un montant entier positif ou nul attendu")

FIELD_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "nmUsaDec1": _text,
    "nmNaiDec1": _text,
    "prnmDec1": _text,
    "dateNaisDec1": _birth_date,
    "nmUsaDec2": _optional(_text),
    "nmNaiDec2": _optional(_text),
    "prnmDec2": _optional(_text),
    "dateNaisDec2": _optional(_birth_date),
    "aft": _text,
    "aftDetail": _expect(
        lambda v: isinstance(v, dict) and bool(v) and all(isinstance(x, str) for x in v.values()),
        "un objet de textes attendu",
    ),
    "sitFam": _expect(lambda v: v in FAMILY_SITUATIONS, f"une des valeurs {sorted(FAMILY_SITUATIONS)} attendue"),
    "nbPart": _expect(
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0, "un nombre positif attendu"
    ),
    "pac": _check_pac,
    "sitParIso": _flag,
    "rfr": _amount,
    "mntRevbareme": _amount,
    "indDeficit": _flag,
    "indicateurIfiIsf": _flag,
    "revenuBrutGlobal": _expect(_is_int, "un montant entier attendu"),
}
assert set(FIELD_CHECKS) == set(HOUSEHOLD_YEAR_FIELDS), "every response field of the catalogue is checked"

_SECOND_DECLARANT = ("nmUsaDec2", "nmNaiDec2", "prnmDec2", "dateNaisDec2")


def _year_errors(data: Any) -> list[str]:
    if not isinstance(data, dict):
        return ["un objet de champs attendu"]
    errors = []
    if missing := [f for f in HOUSEHOLD_YEAR_FIELDS if f not in data]:
        errors.append(f"champs manquants : {', '.join(missing)}")
    if unknown := sorted(set(data) - set(HOUSEHOLD_YEAR_FIELDS)):
        errors.append(f"champs inconnus : {', '.join(unknown)}")
    for field, check in FIELD_CHECKS.items():
        if field in data and (problem := check(data[field])):
            errors.append(f"{field} : {problem}")
    if len({data.get(f) is None for f in _SECOND_DECLARANT}) > 1:
        errors.append("le déclarant 2 est soit entièrement renseigné, soit entièrement null")
    return errors


def parse_households(document: Any) -> HouseholdBook:
    """Validate a decoded households document; every problem found is listed in one error."""
    if not isinstance(document, dict) or not isinstance(document.get("households"), list):
        raise HouseholdsFileError('le fichier doit être un objet {"households": [...]}')
    errors: list[str] = []
    by_spi: dict[str, Household] = {}
    for index, entry in enumerate(document["households"]):
        where = f"households[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"spis", "years"}:
            errors.append(f'{where} : un objet {{"spis": [...], "years": {{...}}}} attendu')
            continue
        spis = entry["spis"]
        if (
            not isinstance(spis, list)
            or not 1 <= len(spis) <= 2
            or not all(isinstance(s, str) and SPI_PATTERN.fullmatch(s) for s in spis)
        ):
            errors.append(f"{where}.spis : un ou deux SPI de 13 chiffres attendus")
            continue
        years: dict[int, Mapping[str, Any]] = {}
        if not isinstance(entry["years"], dict) or not entry["years"]:
            errors.append(f"{where}.years : au moins une année de revenus attendue")
            continue
        for year, data in entry["years"].items():
            if not YEAR_PATTERN.fullmatch(year):
                errors.append(f"{where}.years : « {year} » n'est pas une année sur 4 chiffres")
                continue
            errors.extend(f"{where}.years.{year} : {problem}" for problem in _year_errors(data))
            years[int(year)] = data
        household = Household(spis=tuple(spis), years=years)
        for spi in spis:
            if spi in by_spi:
                errors.append(f"{where}.spis : le SPI {spi} figure dans plusieurs foyers")
            by_spi[spi] = household
    if errors:
        raise HouseholdsFileError("\n".join(errors))
    if not by_spi:
        raise HouseholdsFileError("le fichier ne contient aucun foyer")
    return HouseholdBook(by_spi=by_spi)


def load_households(path: Path = DEFAULT_HOUSEHOLDS_PATH) -> HouseholdBook:
    """Read and validate a households file; :class:`HouseholdsFileError` names the file and the problem."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise HouseholdsFileError(f"{path} : lecture impossible ({error.strerror or error})") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HouseholdsFileError(f"{path} : JSON invalide ({error})") from error
    try:
        return parse_households(document)
    except HouseholdsFileError as error:
        raise HouseholdsFileError(f"{path} :\n{error}") from None
