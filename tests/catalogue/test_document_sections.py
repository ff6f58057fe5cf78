"""Rules of the sections added with documents (DOMAIN §5-7): legal basis, data items, hosting, functional
testing, homologation. Pure: the catalogue's own functions, with a fixed « today »."""

from __future__ import annotations

from datetime import date

import pytest

from tracker.catalogue.definitions import ValidationContext
from tracker.catalogue.impot_particulier import (
    CADRE_JURIDIQUE,
    DONNEES,
    HEBERGEMENT,
    HOMOLOGATION,
    RECETTE_FONCTIONNELLE,
)
from tracker.catalogue.rules import REQUIRED, status_after_save, validate_section
from tracker.catalogue.scopes import DEPRECATED_2025
from tracker.habilitations.changelog import display_value
from tracker.habilitations.workflow import SectionStatus

TODAY = date(2026, 11, 29)
CANTINE = ValidationContext(today=TODAY, created_on=TODAY, use_case="cantine_scolaire")
PDF = [{"id": 1, "name": "deliberation.pdf", "sha256": "ab" * 32, "size": 1234}]
SHEET = [{"id": 2, "name": "besoin.ods", "sha256": "cd" * 32, "size": 2048}]
SIRET_CHECKSUM = "Ce SIRET n'est pas valide : vérifiez les chiffres saisis (clé de contrôle incorrecte)."
NATURE = "RGPD article 6-1-e ; CRPA L.114-8 ; délibération n° 2026-12 du 3 mars 2026."


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"cadre_juridique_nature": NATURE, "cadre_juridique_url": "https://www.exemple.fr/d.pdf"}, {}),
        ({"cadre_juridique_nature": NATURE, "cadre_juridique_documents": PDF}, {}),
        (
            {"cadre_juridique_nature": NATURE},
            {"cadre_juridique_url": "Indiquez l'adresse du texte (URL) ou déposez le document (PDF) ci-dessous."},
        ),
        (
            {"cadre_juridique_nature": NATURE, "cadre_juridique_url": "ftp://exemple.fr/d.pdf"},
            {"cadre_juridique_url": "Saisissez une adresse web complète commençant par https:// (ou http://)."},
        ),
        (
            {"cadre_juridique_nature": "délibération [à compléter : date et numéro]", "cadre_juridique_documents": PDF},
            {"cadre_juridique_nature": "Complétez ce texte : remplacez les passages « [à compléter …] »."},
        ),
        ({"cadre_juridique_url": "https://www.exemple.fr/d.pdf"}, {"cadre_juridique_nature": REQUIRED}),
    ],
)
def test_legal_basis_needs_its_nature_and_an_url_or_a_document(data: dict, errors: dict) -> None:
    assert validate_section(CADRE_JURIDIQUE, data, CANTINE) == errors


def test_scope_rules_apply_to_the_data_section_with_messages_that_say_what_to_untick() -> None:
    valid = {"scopes": ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart"]}
    assert validate_section(DONNEES, valid, CANTINE) == {}
    errors = validate_section(
        DONNEES,
        {"scopes": ["dgfip_annee_n_moins_1", "dgfip_annee_df_au_3112_si_deces_ctb_mp", "dgfip_indiIFI"]},
        CANTINE,
    )
    assert "sont incompatibles : décochez l'une ou l'autre" in errors["scopes"]
    assert validate_section(DONNEES, {}, CANTINE)["scopes"] == "Cochez au moins une donnée."
    lep = validate_section(DONNEES, {"scopes": ["dgfip_IndLep", "dgfip_rfr"]}, CANTINE)["scopes"]
    assert lep.startswith("L'indicateur d'éligibilité au LEP doit être la seule donnée demandée : décochez")


def test_several_broken_rules_give_one_message_each() -> None:
    chosen = ["dgfip_annee_n_moins_2_si_indispo_n_moins_1", "dgfip_annee_n_moins_1", "dgfip_indiIFI"]
    messages = validate_section(DONNEES, {"scopes": chosen}, CANTINE)["scopes"].split("\n")
    assert len(messages) == 2
    assert "ne se combine pas avec une année précise" in messages[0]
    assert "sont incompatibles" in messages[1]


def test_a_deprecated_scope_is_refused_on_a_new_request_and_kept_on_an_older_one() -> None:
    chosen = {"scopes": ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart", "dgfip_RevDecl_Cat1_Tspr"]}
    justified = {**chosen, "scope_justifications": {"dgfip_RevDecl_Cat1_Tspr": "Barème par catégorie de revenus."}}
    assert "ne sont plus proposées depuis le 20/05/2025" in validate_section(DONNEES, justified, CANTINE)["scopes"]
    older = ValidationContext(today=TODAY, created_on=date(2025, 5, 19), use_case="cantine_scolaire")
    assert validate_section(DONNEES, justified, older) == {}
    on_the_day = ValidationContext(today=TODAY, created_on=DEPRECATED_2025, use_case="cantine_scolaire")
    assert "scopes" in validate_section(DONNEES, justified, on_the_day)


def test_every_scope_beyond_the_advice_needs_a_justification_but_is_never_refused() -> None:
    chosen = ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart", "dgfip_aft", "dgfip_rbg"]
    errors = validate_section(DONNEES, {"scopes": chosen}, CANTINE)
    assert errors == {
        "scope_justifications": "Justifiez chaque donnée demandée au-delà de ce que recommande le cas d'usage : "
        "« Adresse déclarée au 1er janvier », « Revenu brut global »."
    }
    half = {"scopes": chosen, "scope_justifications": {"dgfip_aft": "Le tarif dépend du quartier."}}
    assert "« Revenu brut global »" in validate_section(DONNEES, half, CANTINE)["scope_justifications"]
    both = {"scopes": chosen, "scope_justifications": {"dgfip_aft": "Quartier.", "dgfip_rbg": "Barème."}}
    assert validate_section(DONNEES, both, CANTINE) == {}
    # A free-form project gets no advice, hence needs no justification.
    free = ValidationContext(today=TODAY, created_on=TODAY, use_case="libre")
    assert validate_section(DONNEES, {"scopes": chosen}, free) == {}


def test_specific_requirements_replace_the_rules_by_a_spreadsheet() -> None:
    lone_lep_and_more = ["dgfip_IndLep", "dgfip_rfr"]
    ticked = {"specific_requirements": True, "scopes": lone_lep_and_more}
    assert validate_section(DONNEES, ticked, CANTINE) == {
        "specific_requirements_document": "Déposez le tableur décrivant votre besoin spécifique."
    }
    assert validate_section(DONNEES, {**ticked, "specific_requirements_document": SHEET}, CANTINE) == {}
    assert DONNEES.field("specific_requirements_document").accepts == ("ods", "xlsx", "xls", "csv")


HOSTING = {
    "hebergeur_raison_sociale": "Hébergeur Exemple SAS",
    "hebergeur_siret": "21330000100012",
    "localisation_donnees": "france",
    "sous_traitants": "Aucun",
    "engagement_article_28": True,
}
HDS = {
    "certifications": ["hds"],
    "hds_date_delivrance": "2025-01-15",
    "hds_date_expiration": "2028-01-14",
    "hds_certificat": PDF,
}


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({}, {}),
        (HDS, {}),
        (
            {**HDS, "hds_date_expiration": "2026-11-29"},
            {"hds_date_expiration": "Ce certificat a expiré : déposez le certificat en cours de validité."},
        ),
        (
            {**HDS, "hds_date_delivrance": "2028-02-01"},
            {"hds_date_expiration": "La date d'expiration doit suivre la date de délivrance."},
        ),
        (
            {"certifications": ["secnumcloud"]},
            {
                "secnumcloud_date_delivrance": "Indiquez la date de délivrance du certificat.",
                "secnumcloud_date_expiration": "Indiquez la date d'expiration du certificat.",
                "secnumcloud_certificat": "Déposez le certificat (PDF).",
            },
        ),
        (
            {"localisation_donnees": "hors_union_europeenne"},
            {
                "localisation_justification": "Hors de l'Union européenne, justifiez la localisation et les garanties "
                "(article 46 du RGPD)."
            },
        ),
        ({"localisation_donnees": "hors_union_europeenne", "localisation_justification": "Clauses types."}, {}),
        ({"engagement_article_28": False}, {"engagement_article_28": "Cochez cette case."}),
        (
            {"hebergeur_siret": "12345678901234"},
            {"hebergeur_siret": SIRET_CHECKSUM},
        ),
    ],
)
def test_hosting_certifications_location_and_article_28(changes: dict, errors: dict) -> None:
    assert validate_section(HEBERGEMENT, {**HOSTING, **changes}, CANTINE) == errors


def test_functional_testing_happened_in_the_past() -> None:
    done = {"recette_realisee": True, "recette_date": "2026-11-01"}
    assert validate_section(RECETTE_FONCTIONNELLE, done, CANTINE) == {}
    assert validate_section(RECETTE_FONCTIONNELLE, {**done, "recette_date": "2026-12-01"}, CANTINE) == {
        "recette_date": "La recette doit avoir eu lieu : la date ne peut pas être dans le futur."
    }
    assert validate_section(RECETTE_FONCTIONNELLE, {"recette_date": "2026-11-01"}, CANTINE) == {
        "recette_realisee": "Cochez cette case."
    }


HOMOLOGATED = {
    "autorite_homologation_nom": "Hélène Durand",
    "autorite_homologation_fonction": "Maire",
    "homologation_date_debut": "2026-01-01",
    "homologation_date_fin": "2029-01-01",
    "homologation_decision": PDF,
}


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({}, {}),
        (
            {"homologation_date_fin": "2026-01-01"},
            {"homologation_date_fin": "La date de fin doit être postérieure à la date de début."},
        ),
        (
            {"homologation_date_fin": "2025-12-31"},
            {"homologation_date_fin": "La date de fin doit être postérieure à la date de début."},
        ),
        (
            {"homologation_date_debut": "2023-01-01", "homologation_date_fin": "2026-11-29"},
            {"homologation_date_fin": "L'homologation a pris fin : renouvelez-la avant de demander la production."},
        ),
        ({"homologation_date_fin": "2026-11-30"}, {}),
        ({"homologation_decision": []}, {"homologation_decision": "Déposez au moins un document."}),
    ],
)
def test_homologation_ends_after_it_begins_and_in_the_future(changes: dict, errors: dict) -> None:
    assert validate_section(HOMOLOGATION, {**HOMOLOGATED, **changes}, CANTINE) == errors


def test_documents_are_capped_at_six_per_field() -> None:
    seven = [{**PDF[0], "id": n} for n in range(7)]
    errors = validate_section(CADRE_JURIDIQUE, {"cadre_juridique_nature": NATURE, "cadre_juridique_documents": seven})
    assert errors == {"cadre_juridique_documents": "6 documents au maximum."}


def test_an_unticked_confirmation_leaves_a_section_empty() -> None:
    assert status_after_save(RECETTE_FONCTIONNELLE, {"recette_realisee": False}, CANTINE) is SectionStatus.EMPTY
    assert status_after_save(RECETTE_FONCTIONNELLE, {"recette_realisee": True}, CANTINE) is SectionStatus.IN_PROGRESS


def test_new_kinds_read_well_in_changelogs() -> None:
    assert display_value(DONNEES.field("scopes"), ["dgfip_rfr", "dgfip_annee_n_moins_1"]) == (
        "Dernière année de revenu (N-1), Revenu fiscal de référence"
    )
    assert display_value(DONNEES.field("specific_requirements"), True) == "Oui"
    assert display_value(CADRE_JURIDIQUE.field("cadre_juridique_documents"), PDF) == (
        f"deliberation.pdf (SHA-256 {'ab' * 6}…)"
    )
    assert display_value(DONNEES.field("scope_justifications"), {"dgfip_aft": "Quartier."}) == (
        "Adresse déclarée au 1er janvier : Quartier."
    )


def test_unknown_scope_keys_are_refused_even_for_a_specific_requirement() -> None:
    ticked = {"specific_requirements": True, "specific_requirements_document": SHEET, "scopes": ["dgfip_inconnu"]}
    assert validate_section(DONNEES, ticked, CANTINE) == {"scopes": "Donnée inconnue : dgfip_inconnu."}
    forged = {"scopes": ["dgfip_annee_n_moins_1"], "scope_justifications": {"dgfip_inconnu": "x"}}
    assert "scope_justifications" in validate_section(DONNEES, forged, CANTINE)


def test_justifications_of_unticked_scopes_are_not_kept() -> None:
    [normalize] = DONNEES.normalizers
    data = {"scopes": ["dgfip_aft"], "scope_justifications": {"dgfip_aft": "Quartier.", "dgfip_rbg": "Barème."}}
    assert normalize(data) == {"scopes": ["dgfip_aft"], "scope_justifications": {"dgfip_aft": "Quartier."}}
    assert normalize({"scopes": [], "scope_justifications": {"dgfip_rbg": "x"}}) == {"scopes": []}
