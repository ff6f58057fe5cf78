"""The catalogue's pure rules: field validation, section status, submission blockers, hashing."""

from __future__ import annotations

import pytest

from tracker.catalogue import IMPOT_PARTICULIER
from tracker.catalogue.definitions import FieldDefinition, FieldKind, SectionDefinition
from tracker.catalogue.impot_particulier import PROJET
from tracker.catalogue.rules import (
    REQUIRED,
    canonical_json,
    content_sha256,
    status_after_save,
    submission_blockers,
    validate_section,
)
from tracker.habilitations.workflow import Actor, SectionStatus, Stage

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
    attested = {section.key: SectionStatus.ATTESTED for section in IMPOT_PARTICULIER.sections_of(Stage.SANDBOX)}
    blockers = submission_blockers(
        IMPOT_PARTICULIER,
        Stage.SANDBOX,
        {**attested, "projet": SectionStatus.COMPLETE, "contacts": SectionStatus.IN_PROGRESS},
        cgu_accepted=False,
    )
    assert blockers == (
        "La section « Les personnes impliquées » n'est pas complète.",
        "L'attestation « Attestation du projet et de son cadre juridique » n'est pas signée.",
        "Les conditions générales d'utilisation n'ont pas été acceptées.",
    )
    assert submission_blockers(IMPOT_PARTICULIER, Stage.SANDBOX, {}, cgu_accepted=True) == (
        "La section « Mon projet » n'est pas complète.",
        "La section « Le cadre juridique » n'est pas complète.",
        "La section « Les données » n'est pas complète.",
        "La section « Le traitement des données personnelles » n'est pas complète.",
        "La section « Les personnes impliquées » n'est pas complète.",
        "La section « Les modalités d'accès » n'est pas complète.",
        "La section « L'hébergement » n'est pas complète.",
    )
    assert submission_blockers(IMPOT_PARTICULIER, Stage.SANDBOX, attested, cgu_accepted=True) == ()
    # The production stage still requires the sandbox sections, plus its own.
    assert submission_blockers(IMPOT_PARTICULIER, Stage.PRODUCTION, attested, cgu_accepted=True) == (
        "La section « La recette fonctionnelle » n'est pas complète.",
        "La section « L'homologation de sécurité » n'est pas complète.",
        "La section « La volumétrie » n'est pas complète.",
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


def _field(kind: FieldKind, *, is_required: bool = True) -> SectionDefinition:
    return SectionDefinition(
        "essai",
        "Essai",
        Actor.COLLECTIVITE,
        Stage.SANDBOX,
        (FieldDefinition("valeur", "Valeur", kind, is_required=is_required),),
    )


@pytest.mark.parametrize(
    ("kind", "valid", "invalid"),
    [
        (FieldKind.EMAIL, ["dpo@mairie-exemple.fr", " Claire.Martin@cc-exemple.fr "], ["dpo@", "dpo mairie.fr", "a@b"]),
        (
            FieldKind.PHONE,
            ["01 23 45 67 89", "01.23.45.67.89", "+33 1 23 45 67 89", "0033612345678", "+262 262 12 34 56"],
            ["12345", "00 23 45 67 89", "+44 20 7946 0958", "01 23 45 67 8", "téléphone"],
        ),
        (
            FieldKind.URL,
            ["https://www.mairie-exemple.fr/deliberations/2026-12.pdf", "http://exemple.fr"],
            ["www.exemple.fr", "ftp://exemple.fr/a.pdf", "javascript:alert(1)", "https://", "https://a b.fr"],
        ),
        (FieldKind.SIRET, ["21330000100012", "213 300 001 00012"], ["21330000100013", "2133000010001", "ABC"]),
    ],
)
def test_typed_text_fields_are_checked_in_french(kind: FieldKind, valid: list[str], invalid: list[str]) -> None:
    section = _field(kind)
    for value in valid:
        assert validate_section(section, {"valeur": value}) == {}, value
    for value in invalid:
        [message] = validate_section(section, {"valeur": value}).values()
        assert message.startswith(("Saisissez", "Le SIRET", "Ce SIRET")), (value, message)
    assert validate_section(section, {}) == {"valeur": REQUIRED}
    assert validate_section(_field(kind, is_required=False), {}) == {}


def test_national_phone_numbers_are_normalised() -> None:
    from tracker.catalogue.formats import national_phone_number

    assert national_phone_number("+33 (0)1 23 45 67 89") is None  # the « (0) » habit is ambiguous: refused
    assert national_phone_number("+33 6 12 34 56 78") == "0612345678"
    assert national_phone_number("+590 590 12 34 56") == "0590123456"


def test_use_cases_prefill_texts_to_complete() -> None:
    from tracker.catalogue.impot_particulier import PLACEHOLDER

    for use_case in IMPOT_PARTICULIER.use_cases:
        if use_case.key == "libre":
            assert (use_case.description, use_case.destinataires, use_case.cadre_juridique_nature) == ("", "", "")
            continue
        assert PLACEHOLDER in use_case.description
        assert use_case.destinataires.startswith("Agents instructeurs des demandes de ")
        assert "RGPD" in use_case.cadre_juridique_nature
        assert "L.114-8" in use_case.cadre_juridique_nature
        assert "délibération" in use_case.cadre_juridique_nature


def test_a_completed_description_passes() -> None:
    cantine = IMPOT_PARTICULIER.use_case("cantine_scolaire")
    assert cantine is not None
    written = cantine.description.split("[à compléter")[0] + "Logiciel Exemple, 1 200 familles par an."
    assert validate_section(PROJET, {"intitule": cantine.intitule, "description": written}) == {}
