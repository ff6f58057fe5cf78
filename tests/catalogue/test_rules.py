"""The catalogue's pure rules: field validation, section status, submission blockers, hashing."""

from __future__ import annotations

import pytest

from tracker.catalogue import IMPOT_PARTICULIER
from tracker.catalogue.impot_particulier import PROJET
from tracker.catalogue.rules import (
    REQUIRED,
    canonical_json,
    content_sha256,
    status_after_save,
    submission_blockers,
    validate_section,
)
from tracker.habilitations.workflow import SectionStatus, Stage

COMPLETE_PROJET = {"intitule": "Cantine", "description": "Tarifs selon le quotient familial."}


def test_complete_projet_has_no_error() -> None:
    assert validate_section(PROJET, COMPLETE_PROJET) == {}


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"description": "x"}, "intitule", REQUIRED),
        ({"intitule": "   ", "description": "x"}, "intitule", REQUIRED),
        ({"intitule": "x" * 301, "description": "x"}, "intitule", "300 caractères au maximum."),
        ({**COMPLETE_PROJET, "use_case": "piscine"}, "use_case", "Choisissez une valeur de la liste."),
        (
            {**COMPLETE_PROJET, "date_prevue_mise_en_production": "31/12/2026"},
            "date_prevue_mise_en_production",
            "Saisissez une date valide (JJ/MM/AAAA).",
        ),
        (
            {**COMPLETE_PROJET, "volumetrie_approximative": -1},
            "volumetrie_approximative",
            "La valeur doit être supérieure ou égale à 0.",
        ),
        (
            {**COMPLETE_PROJET, "volumetrie_approximative": "12"},
            "volumetrie_approximative",
            "Saisissez un nombre entier.",
        ),
        (
            {**COMPLETE_PROJET, "volumetrie_approximative": True},
            "volumetrie_approximative",
            "Saisissez un nombre entier.",
        ),
    ],
)
def test_invalid_values_are_named_with_a_french_message(data: dict, field: str, message: str) -> None:
    assert validate_section(PROJET, data)[field] == message


def test_optional_fields_accept_valid_values() -> None:
    data = {
        **COMPLETE_PROJET,
        "use_case": "cantine_scolaire",
        "date_prevue_mise_en_production": "2027-09-01",
        "volumetrie_approximative": 0,
    }
    assert validate_section(PROJET, data) == {}


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({}, SectionStatus.EMPTY),
        ({"intitule": ""}, SectionStatus.EMPTY),
        ({"intitule": "Cantine"}, SectionStatus.IN_PROGRESS),
        (COMPLETE_PROJET, SectionStatus.COMPLETE),
    ],
)
def test_status_after_save(data: dict, status: SectionStatus) -> None:
    assert status_after_save(PROJET, data) is status


def test_submission_blockers_list_every_missing_item_in_french() -> None:
    blockers = submission_blockers(
        IMPOT_PARTICULIER, Stage.SANDBOX, {"projet": SectionStatus.COMPLETE}, cgu_accepted=False
    )
    assert blockers == (
        "La section « Mon projet » n'est pas attestée.",
        "Les conditions générales d'utilisation n'ont pas été acceptées.",
    )
    assert submission_blockers(IMPOT_PARTICULIER, Stage.SANDBOX, {}, cgu_accepted=True) == (
        "La section « Mon projet » n'est pas complète.",
    )
    assert (
        submission_blockers(IMPOT_PARTICULIER, Stage.SANDBOX, {"projet": SectionStatus.ATTESTED}, cgu_accepted=True)
        == ()
    )


def test_production_stage_still_requires_the_sandbox_sections() -> None:
    assert PROJET in IMPOT_PARTICULIER.required_sections(Stage.PRODUCTION)


def test_canonical_json_ignores_key_order_and_keeps_accents() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == canonical_json({"a": "é", "b": 1}) == '{"a":"é","b":1}'.encode()
    assert content_sha256({"b": 1, "a": "é"}) == content_sha256({"a": "é", "b": 1})
    assert content_sha256({"a": "é"}) != content_sha256({"a": "e"})


def test_cgu_versions_are_bound_to_their_text() -> None:
    import hashlib

    for stage in Stage:
        cgu = IMPOT_PARTICULIER.current_cgu[stage]
        assert cgu.sha256 == hashlib.sha256(cgu.path.read_bytes()).hexdigest()
        assert "Conditions générales d'utilisation" in cgu.text


def test_every_use_case_has_a_label_and_a_prefill_except_free_form() -> None:
    keys = {u.key for u in IMPOT_PARTICULIER.use_cases}
    assert keys == {
        "cantine_scolaire",
        "place_creche",
        "activites_periscolaires",
        "stationnement_residentiel",
        "aides_sociales_facultatives",
        "carte_transport",
        "libre",
    }
    for use_case in IMPOT_PARTICULIER.use_cases:
        assert use_case.label
        assert bool(use_case.intitule) is (use_case.key != "libre")


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"volumetrie_appels_par_minute": "50"}, {}),
        ({"volumetrie_appels_par_minute": "200", "volumetrie_justification": "Pic de la rentrée scolaire."}, {}),
        (
            {"volumetrie_appels_par_minute": "200"},
            {"volumetrie_justification": "Au-delà de 50 appels par minute, justifiez la volumétrie demandée."},
        ),
        (
            {"volumetrie_appels_par_minute": "1000", "volumetrie_justification": "   "},
            {"volumetrie_justification": "Au-delà de 50 appels par minute, justifiez la volumétrie demandée."},
        ),
        (
            {"volumetrie_appels_par_minute": "300"},
            {"volumetrie_appels_par_minute": "Choisissez une valeur de la liste."},
        ),
        ({}, {"volumetrie_appels_par_minute": REQUIRED}),
    ],
)
def test_volumetry_above_50_needs_a_justification(data: dict, errors: dict) -> None:
    from tracker.catalogue.impot_particulier import VOLUMETRIE

    found = validate_section(VOLUMETRIE, data)
    assert {key: found[key] for key in errors} == errors
    assert bool(found) is bool(errors)
