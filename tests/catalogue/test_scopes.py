"""Scopes of the API Impôt particulier: the four rules, deprecation by creation date, the advisor."""

from __future__ import annotations

from datetime import date

import pytest

from tracker.catalogue.scopes import (
    DECES_31_12,
    DEPRECATED_2025,
    IFI,
    LEP,
    N_MOINS_1,
    N_MOINS_2,
    N_MOINS_2_SI_INDISPO,
    N_MOINS_3,
    RECOMMENDATIONS,
    SCOPES,
    SCOPES_BY_KEY,
    beyond_recommendation,
    offered_scopes,
    scope_errors,
)

TODAY = date(2026, 11, 28)


# DOMAIN §6 examples, and the rules around them.
@pytest.mark.parametrize(
    "chosen",
    [
        [N_MOINS_1, IFI],
        [DECES_31_12, N_MOINS_2_SI_INDISPO],
        [N_MOINS_1, "dgfip_rfr", "dgfip_nbpart"],
        [N_MOINS_1, N_MOINS_2, N_MOINS_3, "dgfip_aft"],
        [LEP],
    ],
)
def test_valid_choices(chosen: list[str]) -> None:
    assert scope_errors(chosen, created_on=TODAY) == []


def test_example_n1_deces_ifi_is_invalid_and_says_what_to_untick() -> None:
    [error] = scope_errors([N_MOINS_1, DECES_31_12, IFI], created_on=TODAY)
    assert "incompatibles" in error
    assert "« Données fiscales au 31/12 en cas de décès d'un contribuable marié ou pacsé »" in error
    assert "« Indicateur ISF/IFI »" in error
    assert "décochez" in error


def test_n2_if_n1_unavailable_cannot_be_combined_with_a_precise_year() -> None:
    assert scope_errors([N_MOINS_2_SI_INDISPO, N_MOINS_1, N_MOINS_3, "dgfip_rfr"], created_on=TODAY) == [
        "« Avant-dernière année de revenu, si la dernière année de revenu est indisponible » ne se combine pas "
        "avec une année précise : décochez « Dernière année de revenu (N-1) », « Avant-avant-dernière année de "
        "revenu (N-3) », ou décochez « Avant-dernière année de revenu, si la dernière année de revenu est "
        "indisponible »."
    ]


def test_n2_if_unavailable_with_ifi_breaks_the_incompatible_sets() -> None:
    [error] = scope_errors([N_MOINS_2_SI_INDISPO, IFI], created_on=TODAY)
    assert "incompatibles" in error


def test_at_least_one_revenue_year() -> None:
    [error] = scope_errors(["dgfip_rfr", "dgfip_nbpart"], created_on=TODAY)
    assert error.startswith("Cochez au moins une année de revenu parmi")
    assert "« Dernière année de revenu (N-1) »" in error


def test_lep_must_be_alone_and_the_other_rules_are_then_skipped() -> None:
    [error] = scope_errors([LEP, "dgfip_rfr"], created_on=TODAY)
    assert "doit être la seule donnée demandée" in error
    assert "décochez « Revenu fiscal de référence »" in error
    # With LEP alone no year is needed, and LEP with N-2-si-indispo reports exclusivity, not rule 4.
    assert scope_errors([LEP], created_on=TODAY) == []
    [only] = scope_errors([LEP, N_MOINS_2_SI_INDISPO], created_on=TODAY)
    assert "seule donnée" in only


def test_nothing_chosen_and_unknown_keys() -> None:
    assert scope_errors([], created_on=TODAY) == ["Cochez au moins une donnée."]
    assert scope_errors(["dgfip_inexistant"], created_on=TODAY) == ["Donnée inconnue : dgfip_inexistant."]


DEPRECATED = [s.key for s in SCOPES if s.deprecated_on]


def test_deprecated_scopes_are_the_fifteen_income_and_charge_items() -> None:
    assert len(DEPRECATED) == 15
    assert all(SCOPES_BY_KEY[key].deprecated_on == DEPRECATED_2025 for key in DEPRECATED)
    assert {SCOPES_BY_KEY[key].group.key for key in DEPRECATED} == {
        "revenus_declares",
        "revenus_nets",
        "charges_deductibles",
    }


def test_deprecation_depends_on_the_creation_date_of_the_request() -> None:
    before, on_the_day = date(2025, 5, 19), DEPRECATED_2025
    assert {s.key for s in offered_scopes(before)} >= set(DEPRECATED)
    assert not {s.key for s in offered_scopes(on_the_day)} & set(DEPRECATED)
    # A scope kept on an older request stays visible; a newer request cannot choose it.
    assert "dgfip_RevNets_Cat4_Ref" in {s.key for s in offered_scopes(TODAY, ["dgfip_RevNets_Cat4_Ref"])}
    assert scope_errors([N_MOINS_1, "dgfip_RevNets_Cat4_Ref"], created_on=before) == []
    [error] = scope_errors([N_MOINS_1, "dgfip_RevNets_Cat4_Ref"], created_on=on_the_day)
    assert "ne sont plus proposées depuis le 20/05/2025" in error
    assert "« Revenus nets : revenus fonciers »" in error


def test_every_scope_has_a_french_label_in_a_group() -> None:
    # 4 years, 8 état civil, 1 address, 6 household, 5 aggregates, 6 + 6 categorical incomes, 3 charges, LEP
    assert len(SCOPES) == len(SCOPES_BY_KEY) == 40
    for scope in SCOPES:
        assert scope.key.startswith("dgfip_") and scope.label and scope.group.label


def test_response_fields_follow_the_api_contract() -> None:
    assert SCOPES_BY_KEY["dgfip_rfr"].response_fields == ("rfr",)
    assert SCOPES_BY_KEY["dgfip_aft"].response_fields == ("aft", "aftDetail")
    assert SCOPES_BY_KEY["dgfip_prnmDec2"].response_fields == ("prnmDec2",)
    assert SCOPES_BY_KEY[IFI].response_fields == ("indicateurIfiIsf",)


@pytest.mark.parametrize(
    ("use_case", "chosen", "flagged"),
    [
        ("cantine_scolaire", [N_MOINS_1, "dgfip_rfr", "dgfip_nbpart"], []),
        ("cantine_scolaire", [N_MOINS_2_SI_INDISPO, "dgfip_rfr", "dgfip_nbpart", "dgfip_sitfam"], []),
        ("cantine_scolaire", [N_MOINS_1, "dgfip_rfr", "dgfip_nbpart", "dgfip_aft", IFI], ["dgfip_aft", IFI]),
        ("stationnement_residentiel", [N_MOINS_1, "dgfip_aft", "dgfip_nmUsaDec1"], []),
        ("stationnement_residentiel", [N_MOINS_1, "dgfip_aft", "dgfip_rfr"], ["dgfip_rfr"]),
        ("aides_sociales_facultatives", [N_MOINS_1, "dgfip_rfr", "dgfip_pariso", IFI], []),
        ("aides_sociales_facultatives", [N_MOINS_3, "dgfip_rfr"], [N_MOINS_3]),
        ("libre", [N_MOINS_1, "dgfip_rbg"], []),
        (None, [N_MOINS_1, "dgfip_rbg"], []),
    ],
)
def test_minimisation_advisor_flags_every_scope_beyond_the_recommendation(
    use_case: str | None, chosen: list[str], flagged: list[str]
) -> None:
    assert [s.key for s in beyond_recommendation(use_case, chosen)] == [s.key for s in SCOPES if s.key in flagged]


def test_every_use_case_but_free_form_has_a_recommendation() -> None:
    from tracker.catalogue import IMPOT_PARTICULIER

    assert set(RECOMMENDATIONS) == {u.key for u in IMPOT_PARTICULIER.use_cases} - {"libre"}
    for recommendation in RECOMMENDATIONS.values():
        assert recommendation.accepted <= SCOPES_BY_KEY.keys()
        assert scope_errors(sorted(recommendation.scopes | {N_MOINS_1}), created_on=TODAY) == []
