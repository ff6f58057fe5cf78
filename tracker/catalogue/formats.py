"""Format checks of typed text fields (e-mail, French phone number, web address, SIRET), in French.

Each check takes the stripped text and returns an error message, or None when the value is valid.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from tracker.accounts.siret import siret_error

# Overseas départements and collectivités dial their own country code but share the national plan.
OVERSEAS_CODES = ("262", "269", "590", "594", "596", "508", "681", "687", "689")
NATIONAL_NUMBER = re.compile(r"^0[1-9]\d{8}$")
PHONE_SEPARATORS = re.compile(r"[\s.\-()]")


def email_error(value: str) -> str | None:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return "Saisissez une adresse électronique valide, par exemple prenom.nom@mairie-exemple.fr."
    return None


def national_phone_number(value: str) -> str | None:
    """The number in national form (a 0 and nine digits), or None when it is not a French number."""
    digits = PHONE_SEPARATORS.sub("", value)
    for prefix in ("+33", "0033"):
        if digits.startswith(prefix):
            digits = "0" + digits.removeprefix(prefix)
    for code in OVERSEAS_CODES:
        for prefix in (f"+{code}", f"00{code}"):
            if digits.startswith(prefix):
                digits = "0" + digits.removeprefix(prefix)
    return digits if NATIONAL_NUMBER.match(digits) else None


def phone_error(value: str) -> str | None:
    if national_phone_number(value) is None:
        return "Saisissez un numéro de téléphone français valide, par exemple 01 23 45 67 89 ou +33 1 23 45 67 89."
    return None


def url_error(value: str) -> str | None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(char.isspace() for char in value):
        return "Saisissez une adresse web complète commençant par https:// (ou http://)."
    return None


__all__ = ["email_error", "national_phone_number", "phone_error", "siret_error", "url_error"]
