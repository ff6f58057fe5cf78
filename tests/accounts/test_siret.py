"""SIRET validation: 14 digits, Luhn key, and La Poste's digit-sum exception."""

from __future__ import annotations

import pytest

from tracker.accounts.siret import luhn_is_valid, normalize_siret, siret_error, with_luhn_key

WRONG_LENGTH = "Le SIRET doit comporter exactement 14 chiffres."
WRONG_KEY = "Ce SIRET n'est pas valide : vérifiez les chiffres saisis (clé de contrôle incorrecte)."
WRONG_LA_POSTE = "Ce SIRET de La Poste n'est pas valide (somme des chiffres non multiple de 5)."

# INSEE's own example (7th establishment of SIREN 732 829 320), and DINUM.
REAL_SIRETS = ["73282932000074", "13002526500013"]


@pytest.mark.parametrize("siret", REAL_SIRETS)
def test_real_sirets_are_accepted(siret: str) -> None:
    assert luhn_is_valid(siret)
    assert siret_error(siret) is None


@pytest.mark.parametrize("prefix", ["2133006350001", "1234567890123", "0000000000000", "9999999999999"])
def test_with_luhn_key_completes_into_a_valid_siret(prefix: str) -> None:
    siret = with_luhn_key(prefix)
    assert len(siret) == 14 and siret.startswith(prefix)
    assert siret_error(siret) is None


def test_luhn_worked_example() -> None:
    # 2 1 3 3 0 0 6 3 5 0 0 0 1 7: doubling every second digit from the right gives a sum of 30.
    assert with_luhn_key("2133006350001") == "21330063500017"
    assert luhn_is_valid("21330063500017")


@pytest.mark.parametrize("siret", ["21330063500010", "21330063500018", "73282932000075", "13002526500031"])
def test_a_wrong_key_or_swapped_digits_are_refused_with_the_french_message(siret: str) -> None:
    assert siret_error(siret) == WRONG_KEY


def test_every_other_last_digit_is_refused() -> None:
    valid = with_luhn_key("4420000020001")
    for digit in "0123456789":
        candidate = valid[:-1] + digit
        assert (siret_error(candidate) is None) is (candidate == valid)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "2133006350001",  # 13 digits
        "213300635000170",  # 15 digits
        "2133006350001A",
        "21330-06350001",
        "+2133006350001",
        "２１３３００６３５０００１７",  # full-width digits are digits to str.isdigit, not to us
        "²133006350001७",  # superscript two, Devanagari seven
    ],
)
def test_anything_but_fourteen_ascii_digits_is_refused(value: str) -> None:
    assert siret_error(value) == WRONG_LENGTH


@pytest.mark.parametrize(
    "typed", ["213 300 635 00017", " 21330063500017 ", "213\u00a0300\u00a0635\u00a000017", "213 300 635\t00017"]
)
def test_spaces_between_groups_are_tolerated(typed: str) -> None:
    assert normalize_siret(typed) == "21330063500017"
    assert siret_error(typed) is None


def test_normalization_does_not_repair_other_separators() -> None:
    assert normalize_siret("213.300.635.00017") == "213.300.635.00017"
    assert siret_error("213.300.635.00017") == WRONG_LENGTH


# --- La Poste -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("siret", ["35600000000001", "35600000000010", "35600000012341", "35600000099995"])
def test_la_poste_establishment_with_digit_sum_multiple_of_five_is_accepted_without_luhn(siret: str) -> None:
    assert sum(map(int, siret)) % 5 == 0
    assert not luhn_is_valid(siret)  # a plain Luhn check would have refused it
    assert siret_error(siret) is None


@pytest.mark.parametrize("siret", ["35600000000049", "35600000000002", "35600000012347"])
def test_la_poste_establishment_with_another_digit_sum_is_refused(siret: str) -> None:
    assert sum(map(int, siret)) % 5 != 0
    assert siret_error(siret) == WRONG_LA_POSTE


def test_la_poste_luhn_does_not_rescue_a_wrong_digit_sum() -> None:
    siret = "35600000000030"
    assert luhn_is_valid(siret) and sum(map(int, siret)) == 17
    assert siret_error(siret) == WRONG_LA_POSTE


def test_la_poste_head_office_is_accepted() -> None:
    """356 000 000 00048, La Poste's head office, is the one SIRET of its SIREN that follows Luhn;
    its digit sum (26) is not a multiple of 5, yet it is real and must be accepted."""
    siret = "35600000000048"
    assert sum(map(int, siret)) == 26 and luhn_is_valid(siret)
    assert siret_error(siret) is None
    assert siret_error("356 000 000 00048") is None


def test_an_organization_cannot_be_stored_under_an_invalid_siret() -> None:
    from tracker.accounts.models import Organization, OrganizationKind
    from tracker.accounts.siret import InvalidSiret, with_luhn_key

    valid = with_luhn_key("2133000010001")
    assert (
        Organization(kind=OrganizationKind.COLLECTIVITE, name="Commune", siret=f"{valid[:9]} {valid[9:]}").siret
        == valid
    )
    broken = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    with pytest.raises(InvalidSiret, match="clé de contrôle incorrecte"):
        Organization(kind=OrganizationKind.COLLECTIVITE, name="Commune", siret=broken)
