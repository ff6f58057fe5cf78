"""Password policy (CNIL 2022-100, ANSSI) and argon2id hashing."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tracker.config import Argon2Parameters

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_ZXCVBN_SCORE = 3
ZXCVBN_MAX_LENGTH = 72

# French passwords that the English frequency list misses; lowercase, without accents.
FRENCH_COMMON = frozenset(
    {
        "motdepasse",
        "motdepasse123",
        "motdepasse1234",
        "azertyuiop",
        "azertyuiopqsdf",
        "azerty123456",
        "azertyuiop123",
        "soleil123456",
        "bonjour123456",
        "marseille1234",
        "jetaime123456",
        "doudou123456",
        "chouchou1234",
        "loulou123456",
        "123456789azerty",
        "habilitations",
        "habilitation2026",
        "collectivite",
    }
)


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | FRENCH_COMMON


def _is_guessable(password: str) -> bool:
    """Variants of common passwords that no list holds verbatim: « P@ssword1234 », « passwordpassword »,
    « 123456789012 », « abcdefghijkl ». zxcvbn's score 3 means about 10^8 guesses or more."""
    from zxcvbn import zxcvbn

    # zxcvbn refuses inputs over 72 characters; judging the first 72 is enough.
    return int(zxcvbn(password[:ZXCVBN_MAX_LENGTH])["score"]) < MIN_ZXCVBN_SCORE


def password_problems(password: str, *, email: str = "", full_name: str = "") -> list[str]:
    """What is wrong with a candidate password, in French; empty when it is acceptable.

    No composition rule: length is what counts, and passphrases with accents or emoji are welcome.
    """
    problems = []
    length = len(unicodedata.normalize("NFC", password))
    if length < MIN_LENGTH:
        problems.append(f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères.")
    if length > MAX_LENGTH:
        problems.append(f"Le mot de passe doit contenir au plus {MAX_LENGTH} caractères.")
    normalized = _normalize(password)
    compact = "".join(normalized.split())
    if (
        normalized in _common_passwords()
        or compact in _common_passwords()
        or len(set(compact)) <= 3
        or (MIN_LENGTH <= length <= MAX_LENGTH and _is_guessable(password))
    ):
        problems.append("Ce mot de passe est trop courant ou trop facile à deviner.")
    personal = set()
    if email:
        local_part = _normalize(email.split("@", 1)[0])
        personal |= {_normalize(email), local_part}
        personal |= {part for part in local_part.replace(".", " ").replace("-", " ").split() if len(part) >= 4}
    if full_name:
        personal |= {part for part in _normalize(full_name).replace("-", " ").split() if len(part) >= 4}
    if any(item and len(item) >= 3 and item in normalized for item in personal):
        problems.append("Le mot de passe ne doit contenir ni votre nom ni votre adresse électronique.")
    return problems


class PasswordHashing:
    """argon2id with parameters from the configuration; also gives a dummy hash for timing parity."""

    def __init__(self, parameters: Argon2Parameters) -> None:
        self._hasher = PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_cost_kib,
            parallelism=parameters.parallelism,
        )
        # Verified against when the account does not exist, so both paths cost the same.
        self.dummy_hash = self._hasher.hash("compte inexistant – comparaison à temps constant")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
