"""Password policy (CNIL 2022-100: length, no composition rule, no common or personal passwords) and
argon2id hashing with the configured parameters (SECURITY.md §A.2)."""

from __future__ import annotations

import unicodedata

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from factories import make_organization, make_user
from flask import Flask
from sqlalchemy.orm import Session

from tracker.accounts.passwords import MAX_LENGTH, MIN_LENGTH, PasswordHashing, password_problems
from tracker.accounts.services import authenticate
from tracker.config import PRODUCTION_ARGON2, TEST_ARGON2

TOO_SHORT = "Le mot de passe doit contenir au moins 12 caractères."
TOO_LONG = f"Le mot de passe doit contenir au plus {MAX_LENGTH} caractères."
TOO_COMMON = "Ce mot de passe est trop courant ou trop facile à deviner."
PERSONAL = "Le mot de passe ne doit contenir ni votre nom ni votre adresse électronique."


# --- length -------------------------------------------------------------------------------------------


def test_minimum_is_twelve() -> None:
    assert MIN_LENGTH == 12
    assert password_problems("grenouille7") == [TOO_SHORT]  # 11 characters
    assert password_problems("grenouille7b") == []  # 12 characters


def test_length_is_counted_in_characters_not_bytes() -> None:
    eleven_accented = "éèàùçôâêîûë"
    assert len(eleven_accented) == 11 and len(eleven_accented.encode()) == 22
    assert TOO_SHORT in password_problems(eleven_accented)

    twelve_emoji = "🦊🐢🌵🚲🎻🍄🧭🪁🦉🐙🌋🎲"
    assert len(twelve_emoji) == 12 and len(twelve_emoji.encode()) == 48
    assert password_problems(twelve_emoji) == []


def test_combining_accents_count_once() -> None:
    """« é » typed as e + combining acute is one character, not two."""
    decomposed = unicodedata.normalize("NFD", "été à l'île")  # 11 characters, 15 code points
    assert len(decomposed) > MIN_LENGTH
    assert TOO_SHORT in password_problems(decomposed)


def test_maximum_length() -> None:
    passphrase = "le vent souffle sur la lande bretonne "
    assert password_problems((passphrase * 10)[:MAX_LENGTH]) == []
    assert TOO_LONG in password_problems((passphrase * 10)[: MAX_LENGTH + 1])


# --- no composition rule, passphrases welcome ---------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "mon chat aime les croquettes",  # lowercase only, no digit, no symbol
        "cheval correct agrafe batterie",
        "lesmoutonsdupréfleurissent",  # no space at all
        "Été 2026 : la mer à Étretat 🌊🐚",
        "Ça sent le café ☕ et les crêpes 🥞 à Quimper",
        "ĳssel ŋ ø þ ß æ œ ǆ ﬁ",  # letters that NFKD would change
    ],
)
def test_passphrases_with_accents_and_emoji_are_accepted(password: str) -> None:
    assert password_problems(password, email="camille.durand@mairie.fr", full_name="Camille Durand") == []


# --- common passwords ---------------------------------------------------------------------------------


def test_english_common_password_is_refused() -> None:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    assert "password1234" in FREQUENCY_LISTS["passwords"]  # the list the policy relies on
    assert password_problems("password1234") == [TOO_COMMON]
    assert password_problems("qwertyuiop123") == [TOO_COMMON]
    assert password_problems("1q2w3e4r5t6y") == [TOO_COMMON]


@pytest.mark.parametrize(
    "password", ["azertyuiop123", "motdepasse123", "MotDePasse123", "Mot de passe 123", "AZERTYUIOP123"]
)
def test_french_common_passwords_are_refused_whatever_the_case_and_spacing(password: str) -> None:
    assert password_problems(password) == [TOO_COMMON]


def test_accents_do_not_hide_a_common_password() -> None:
    assert password_problems("mötdepàsse123") == [TOO_COMMON]


@pytest.mark.parametrize(
    "password",
    [
        "Password1234!",  # capitalised and punctuated variants of listed passwords
        "P@ssword1234",
        "passwordpassword",  # repetitions
        "azertyazerty",
        "123456789012",  # sequences and keyboard walks
        "abcdefghijkl",
        "qwertyuiopas",
        "azertyuiop2026",  # a listed word and a year
        "marseille2026",
        "jetaime12345",
    ],
)
def test_guessable_variants_of_common_passwords_are_refused(password: str) -> None:
    assert password_problems(password) == [TOO_COMMON]


def test_a_guessable_prefix_is_judged_even_in_a_very_long_password() -> None:
    assert password_problems("passwordpassword" * 6) == [TOO_COMMON]  # 96 characters


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "abababababab", "123123123123", "            "])
def test_passwords_of_three_characters_or_fewer_are_refused(password: str) -> None:
    assert TOO_COMMON in password_problems(password)


# --- personal information -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "camille.durand@mairie-exemple.fr",  # the whole email
        "CAMILLE.DURAND@mairie-exemple.fr",
        "camille.durand, c'est moi",  # the local part
        "bienvenue chez durand 2026",  # a word of the local part
        "la famille durand à la plage",
    ],
)
def test_own_email_is_refused(password: str) -> None:
    problems = password_problems(password, email="camille.durand@mairie-exemple.fr")
    assert problems == [PERSONAL]


@pytest.mark.parametrize("password", ["Hélène Lefèvre 2026 !!", "lefevre pour toujours", "HELENE au marché du lundi"])
def test_own_name_is_refused_even_without_its_accents(password: str) -> None:
    problems = password_problems(password, email="h.l@exemple.fr", full_name="Hélène Lefèvre")
    assert problems == [PERSONAL]


def test_short_name_parts_do_not_ban_common_words() -> None:
    """A 2- or 3-letter name part (« Li », « Bo ») would otherwise forbid half the dictionary."""
    assert password_problems("le lion boit au lac de Bolivie", full_name="Li Bo", email="li.bo@exemple.fr") == []


def test_several_problems_are_all_reported() -> None:
    problems = password_problems("durand", email="durand@exemple.fr", full_name="Jean Durand")
    assert TOO_SHORT in problems and PERSONAL in problems


# --- hashing ------------------------------------------------------------------------------------------


def test_app_hashes_with_argon2id_and_the_configured_parameters(app: Flask) -> None:
    hashing: PasswordHashing = app.extensions["tracker_passwords"]
    assert app.config["ARGON2"] == TEST_ARGON2
    password_hash = hashing.hash("cheval correct agrafe batterie")
    expected = f"$argon2id$v=19$m={TEST_ARGON2.memory_cost_kib},t={TEST_ARGON2.time_cost},p={TEST_ARGON2.parallelism}$"
    assert password_hash.startswith(expected)
    assert "cheval" not in password_hash


def test_production_parameters_reach_owasp_floor() -> None:
    # OWASP: argon2id with m=46 MiB, t=1 or equivalent (m=19 MiB, t=2); we ask for more.
    assert PRODUCTION_ARGON2.memory_cost_kib >= 46 * 1024
    assert PRODUCTION_ARGON2.time_cost >= 2
    hashing = PasswordHashing(PRODUCTION_ARGON2)
    assert hashing.hash("cheval correct agrafe batterie").startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_verify_accepts_the_password_and_refuses_others() -> None:
    hashing = PasswordHashing(TEST_ARGON2)
    password_hash = hashing.hash("Été 2026 : la mer à Étretat 🌊")
    assert hashing.verify(password_hash, "Été 2026 : la mer à Étretat 🌊")
    assert not hashing.verify(password_hash, "été 2026 : la mer à Étretat 🌊")
    assert not hashing.verify(password_hash, "Été 2026 : la mer à Étretat")
    assert not hashing.verify(password_hash, "")


def test_verify_of_a_corrupted_hash_is_false_not_an_exception() -> None:
    hashing = PasswordHashing(TEST_ARGON2)
    assert not hashing.verify("not-a-hash", "cheval correct agrafe batterie")
    assert not hashing.verify("$argon2id$v=19$m=1024,t=1,p=1$AAAA$BBBB", "cheval correct agrafe batterie")


def test_salts_differ_between_two_hashes_of_one_password() -> None:
    hashing = PasswordHashing(TEST_ARGON2)
    assert hashing.hash("cheval correct agrafe batterie") != hashing.hash("cheval correct agrafe batterie")


def test_a_hash_with_old_parameters_is_upgraded_at_login(session: Session) -> None:
    organization = make_organization(session)
    user = make_user(session, organization)
    weaker = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1, type=Type.ID)
    user.password_hash = weaker.hash("cheval correct agrafe batterie")
    session.flush()

    assert authenticate(session, user.email, "cheval correct agrafe batterie") is user
    assert user.password_hash.startswith(f"$argon2id$v=19$m={TEST_ARGON2.memory_cost_kib},t={TEST_ARGON2.time_cost},")
    assert PasswordHashing(TEST_ARGON2).verify(user.password_hash, "cheval correct agrafe batterie")
