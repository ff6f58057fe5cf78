"""API Impôt particulier: the sections, use cases and terms of use (DOMAIN §5-7).

The foundation holds the `projet` section (sandbox) and the `volumetrie` section (production) for real;
the other sections of DOMAIN §5 join as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracker.catalogue.definitions import (
    ApiDefinition,
    CguVersion,
    FieldDefinition,
    FieldKind,
    SectionDefinition,
    UseCase,
)
from tracker.habilitations.workflow import Actor, Stage

CGU_DIRECTORY = Path(__file__).parent / "cgu"

PLACEHOLDER = "[à compléter"

LEGAL_BASIS_COMMON = (
    "Règlement (UE) 2016/679 (RGPD), article 6-1-e (mission d'intérêt public) ; "
    "code des relations entre le public et l'administration (CRPA), articles L.114-8 et suivants et R.114-9-3 "
    "(échanges de données entre administrations) ; "
)


def _use_case(key: str, label: str, procedure: str, deliberation: str) -> UseCase:
    return UseCase(
        key=key,
        label=label,
        intitule=f"Dites-le-nous une fois – {label}",
        description=(
            f"Le téléservice de {procedure} récupère auprès de la DGFiP les seules données fiscales nécessaires, "
            "au lieu de demander l'avis d'imposition à l'usager. "
            "[à compléter : logiciel utilisé, usagers concernés, nombre de dossiers par an]"
        ),
        destinataires=f"Agents instructeurs des demandes de {procedure}",
        cadre_juridique_nature=(
            LEGAL_BASIS_COMMON + f"délibération du conseil {deliberation} [à compléter : date et numéro]."
        ),
    )


USE_CASES = (
    _use_case(
        "cantine_scolaire",
        "Cantine scolaire",
        "restauration scolaire",
        "fixant les tarifs de la restauration scolaire selon le quotient familial",
    ),
    _use_case(
        "place_creche",
        "Place en crèche",
        "place en crèche",
        "fixant la participation des familles à l'accueil du jeune enfant",
    ),
    _use_case(
        "activites_periscolaires",
        "Activités périscolaires",
        "inscription aux activités périscolaires",
        "fixant les tarifs des activités périscolaires",
    ),
    _use_case(
        "stationnement_residentiel",
        "Stationnement résidentiel",
        "carte de stationnement résidentiel",
        "instituant le tarif résidentiel de stationnement",
    ),
    _use_case(
        "aides_sociales_facultatives",
        "Aides sociales facultatives",
        "aides sociales facultatives",
        "(ou du conseil d'administration du CCAS) fixant le règlement des aides facultatives",
    ),
    _use_case(
        "carte_transport",
        "Carte de transport",
        "tarification solidaire des transports",
        "fixant la tarification solidaire des transports",
    ),
    UseCase("libre", "Autre projet (saisie libre)"),
)


def placeholders_completed(data: Mapping[str, Any]) -> dict[str, str]:
    """A prefilled text still holding « [à compléter …] » is not finished."""
    return {
        key: "Complétez ce texte : remplacez les passages « [à compléter …] »."
        for key, value in data.items()
        if isinstance(value, str) and PLACEHOLDER in value
    }


PROJET = SectionDefinition(
    key="projet",
    label="Mon projet",
    owner=Actor.COLLECTIVITE,
    stage=Stage.SANDBOX,
    description="Décrivez le téléservice qui utilisera l'API Impôt particulier.",
    fields=(
        FieldDefinition(
            "intitule",
            "Nom du projet",
            is_required=True,
            max_length=300,
            help_text="Cet intitulé est public : il apparaît dans la liste des habilitations délivrées.",
        ),
        FieldDefinition(
            "description",
            "Description du projet",
            FieldKind.TEXTAREA,
            is_required=True,
            max_length=5000,
            help_text="À quoi servira le téléservice, pour quels usagers, et pourquoi les données fiscales "
            "sont nécessaires.",
        ),
        FieldDefinition(
            "use_case",
            "Cas d'usage",
            FieldKind.CHOICE,
            choices=tuple((u.key, u.label) for u in USE_CASES),
        ),
        FieldDefinition(
            "date_prevue_mise_en_production",
            "Date prévue de mise en production",
            FieldKind.DATE,
            help_text="Facultatif.",
        ),
        FieldDefinition(
            "volumetrie_approximative",
            "Volumétrie approximative (dossiers par an)",
            FieldKind.INTEGER,
            min_value=0,
            help_text="Facultatif : nombre de dossiers traités chaque année.",
        ),
    ),
    checks=(placeholders_completed,),
)

VOLUMETRY_OPTIONS = (50, 100, 200, 500, 750, 1000)
VOLUMETRY_WITHOUT_JUSTIFICATION = 50


def _volumetry_justified(data: Mapping[str, Any]) -> dict[str, str]:
    """Above 50 calls per minute, DGFiP wants to know why (DOMAIN §5)."""
    chosen = data.get("volumetrie_appels_par_minute")
    if (
        isinstance(chosen, str)
        and chosen.isdigit()
        and int(chosen) > VOLUMETRY_WITHOUT_JUSTIFICATION
        and not str(data.get("volumetrie_justification") or "").strip()
    ):
        return {
            "volumetrie_justification": f"Au-delà de {VOLUMETRY_WITHOUT_JUSTIFICATION} appels par minute, "
            "justifiez la volumétrie demandée."
        }
    return {}


VOLUMETRIE = SectionDefinition(
    key="volumetrie",
    label="La volumétrie",
    owner=Actor.COLLECTIVITE,
    stage=Stage.PRODUCTION,
    description="Le nombre d'appels à l'API par minute dont le téléservice aura besoin en production.",
    fields=(
        FieldDefinition(
            "volumetrie_appels_par_minute",
            "Nombre d'appels par minute",
            FieldKind.CHOICE,
            is_required=True,
            choices=tuple((str(n), f"{n} appels par minute") for n in VOLUMETRY_OPTIONS),
            help_text="50 appels par minute suffisent à la plupart des collectivités.",
        ),
        FieldDefinition(
            "volumetrie_justification",
            "Justification de la volumétrie",
            FieldKind.TEXTAREA,
            max_length=2000,
            help_text="Obligatoire au-delà de 50 appels par minute : pics attendus (rentrée scolaire…), "
            "nombre de dossiers traités.",
        ),
    ),
    checks=(_volumetry_justified,),
)

IMPOT_PARTICULIER = ApiDefinition(
    key="api_impot_particulier",
    label="API Impôt particulier",
    sections=(PROJET, VOLUMETRIE),
    use_cases=USE_CASES,
    current_cgu={
        Stage.SANDBOX: CguVersion(Stage.SANDBOX, "2024-01", CGU_DIRECTORY / "impot_particulier_sandbox_2024-01.md"),
        Stage.PRODUCTION: CguVersion(
            Stage.PRODUCTION, "2024-01", CGU_DIRECTORY / "impot_particulier_production_2024-01.md"
        ),
    },
)

CATALOGUE = {IMPOT_PARTICULIER.key: IMPOT_PARTICULIER}
