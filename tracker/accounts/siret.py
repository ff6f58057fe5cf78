"""SIRET validation: 14 digits, Luhn checksum, with La Poste's digit-sum exception."""

from __future__ import annotations

LA_POSTE_SIREN = "356000000"
# La Poste's head office keeps a Luhn key (its digit sum, 26, is not a multiple of 5); every other
# establishment under its SIREN follows the digit-sum rule instead.
LA_POSTE_HEAD_OFFICE_SIRET = "35600000000048"


class InvalidSiret(ValueError):
    """A value given as a SIRET that is not one; the message is for the user, in French."""


def normalize_siret(value: str) -> str:
    """Drop the spaces people type between the digit groups (``123 456 789 00012``)."""
    return "".join(value.split())


def luhn_is_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def siret_error(value: str) -> str | None:
    """The French message explaining why ``value`` is not a SIRET, or None when it is one."""
    siret = normalize_siret(value)
    if len(siret) != 14 or not siret.isascii() or not siret.isdigit():
        return "Le SIRET doit comporter exactement 14 chiffres."
    if siret.startswith(LA_POSTE_SIREN) and siret != LA_POSTE_HEAD_OFFICE_SIRET:
        # La Poste's establishments outnumber what Luhn-compatible numbering allows.
        if sum(int(char) for char in siret) % 5 != 0:
            return "Ce SIRET de La Poste n'est pas valide (somme des chiffres non multiple de 5)."
        return None
    if not luhn_is_valid(siret):
        return "Ce SIRET n'est pas valide : vérifiez les chiffres saisis (clé de contrôle incorrecte)."
    return None


def with_luhn_key(prefix13: str) -> str:
    """Complete 13 digits into a valid SIRET (for demo and test data)."""
    for last in "0123456789":
        if luhn_is_valid(prefix13 + last):
            return prefix13 + last
    raise AssertionError("unreachable: one key digit always fits")
