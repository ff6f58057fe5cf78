"""Rules of the sections of DOMAIN §5 that the catalogue holds."""

from __future__ import annotations

import pytest

from tracker.catalogue.impot_particulier import CONTACTS, DONNEES_PERSONNELLES, MODALITES
from tracker.catalogue.rules import REQUIRED, validate_section
from tracker.habilitations.changelog import display_value

PERSONAL = {
    "destinataires": "Agents instructeurs des demandes de restauration scolaire",
    "duree_conservation_mois": 24,
    "registre_reference": "Registre RGPD, fiche n° 12",
    "aipd_realisee": "non",
}


def _person(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}_nom": "Martin",
        f"{prefix}_prenom": "Claire",
        f"{prefix}_fonction": "Déléguée à la protection des données",
        f"{prefix}_email": "claire.martin@mairie-exemple.fr",
        f"{prefix}_telephone": "05 56 00 00 00",
    }


MODALITES_DATA = {
    "modalites_acces": ["with_spi"],
    "logiciel_nom": "Cantine+",
    "logiciel_version": "4.2",
    **_person("contact_technique"),
}


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({}, {}),
        ({"duree_conservation_mois": 36}, {}),
        (
            {"duree_conservation_mois": 37},
            {"duree_conservation_justification": "Au-delà de 36 mois, justifiez la durée de conservation."},
        ),
        ({"duree_conservation_mois": 60, "duree_conservation_justification": "Recours contentieux possibles."}, {}),
        ({"duree_conservation_mois": 0}, {"duree_conservation_mois": "La valeur doit être supérieure ou égale à 1."}),
        ({"aipd_realisee": "oui"}, {"aipd_date": "Indiquez la date de l'analyse d'impact."}),
        ({"aipd_realisee": "oui", "aipd_date": "2026-03-01"}, {}),
        ({"destinataires": ""}, {"destinataires": REQUIRED}),
    ],
)
def test_personal_data_rules(changes: dict, errors: dict) -> None:
    assert validate_section(DONNEES_PERSONNELLES, {**PERSONAL, **changes}) == errors


def test_contacts_need_valid_emails_and_french_phone_numbers() -> None:
    complete = {**_person("responsable"), **_person("dpo")}
    assert validate_section(CONTACTS, complete) == {}
    errors = validate_section(CONTACTS, {**complete, "dpo_email": "dpo@", "responsable_telephone": "12"})
    assert set(errors) == {"dpo_email", "responsable_telephone"}
    assert validate_section(CONTACTS, {})["responsable_nom"] == REQUIRED


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({}, {}),
        (
            {"modalites_acces": ["with_spi", "with_france_connect"]},
            {"habilitation_france_connect": "Indiquez le numéro de l'habilitation FranceConnect de la collectivité."},
        ),
        ({"modalites_acces": ["with_france_connect"], "habilitation_france_connect": "FC-2024-0042"}, {}),
        ({"modalites_acces": []}, {"modalites_acces": REQUIRED}),
        ({"modalites_acces": ["with_etat_civil"]}, {"modalites_acces": "Choisissez parmi les valeurs proposées."}),
        (
            {"email_technique_generique": "technique@"},
            {
                "email_technique_generique": "Saisissez une adresse électronique valide, par exemple "
                "prenom.nom@mairie-exemple.fr."
            },
        ),
    ],
)
def test_access_modalities_rules(changes: dict, errors: dict) -> None:
    assert validate_section(MODALITES, {**MODALITES_DATA, **changes}) == errors


def test_multiple_choices_read_in_words() -> None:
    field = MODALITES.field("modalites_acces")
    assert display_value(field, ["with_spi", "with_france_connect"]) == (
        "Par le numéro fiscal (SPI) de l'usager, Par FranceConnect"
    )
    assert display_value(field, []) == "(vide)"
