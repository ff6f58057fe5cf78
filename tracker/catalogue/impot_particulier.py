"""API Impôt particulier: the sections, use cases and terms of use (DOMAIN §5-7).

Sandbox: `projet`, `donnees_personnelles`, `contacts` (collectivité) and `modalites` (éditeur);
production: `volumetrie`. The sections that carry uploaded documents (`cadre_juridique`, `donnees`,
`hebergement`, `recette_fonctionnelle`, `homologation`) join with the uploads.
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

RETENTION_WITHOUT_JUSTIFICATION_MONTHS = 36


def _retention_justified(data: Mapping[str, Any]) -> dict[str, str]:
    """Keeping data beyond 36 months must be justified (DOMAIN §5, §9)."""
    months = data.get("duree_conservation_mois")
    if (
        isinstance(months, int)
        and months > RETENTION_WITHOUT_JUSTIFICATION_MONTHS
        and not str(data.get("duree_conservation_justification") or "").strip()
    ):
        return {
            "duree_conservation_justification": f"Au-delà de {RETENTION_WITHOUT_JUSTIFICATION_MONTHS} mois, "
            "justifiez la durée de conservation."
        }
    return {}


def _dpia_dated(data: Mapping[str, Any]) -> dict[str, str]:
    if data.get("aipd_realisee") == "oui" and not data.get("aipd_date"):
        return {"aipd_date": "Indiquez la date de l'analyse d'impact."}
    return {}


DONNEES_PERSONNELLES = SectionDefinition(
    key="donnees_personnelles",
    label="Le traitement des données personnelles",
    owner=Actor.COLLECTIVITE,
    stage=Stage.SANDBOX,
    description="Les réponses du délégué à la protection des données (DPO) sur le traitement.",
    fields=(
        FieldDefinition(
            "destinataires",
            "Destinataires des données",
            FieldKind.TEXTAREA,
            is_required=True,
            max_length=2000,
            help_text="Les personnes ou services qui auront accès aux données, par exemple les agents instructeurs.",
        ),
        FieldDefinition(
            "duree_conservation_mois",
            "Durée de conservation des données (en mois)",
            FieldKind.INTEGER,
            is_required=True,
            min_value=1,
        ),
        FieldDefinition(
            "duree_conservation_justification",
            "Justification de la durée de conservation",
            FieldKind.TEXTAREA,
            max_length=2000,
            help_text="Obligatoire au-delà de 36 mois.",
        ),
        FieldDefinition(
            "registre_reference",
            "Référence au registre des activités de traitement (article 30 du RGPD)",
            is_required=True,
            max_length=200,
        ),
        FieldDefinition(
            "aipd_realisee",
            "Une analyse d'impact relative à la protection des données (AIPD) a-t-elle été réalisée ?",
            FieldKind.CHOICE,
            is_required=True,
            choices=(("oui", "Oui"), ("non", "Non")),
        ),
        FieldDefinition("aipd_date", "Date de l'analyse d'impact", FieldKind.DATE, help_text="Si elle a été réalisée."),
    ),
    checks=(_retention_justified, _dpia_dated),
)


def _person(prefix: str, who: str) -> tuple[FieldDefinition, ...]:
    return (
        FieldDefinition(f"{prefix}_nom", f"Nom ({who})", is_required=True, max_length=100),
        FieldDefinition(f"{prefix}_prenom", f"Prénom ({who})", is_required=True, max_length=100),
        FieldDefinition(f"{prefix}_fonction", f"Fonction ({who})", is_required=True, max_length=200),
        FieldDefinition(f"{prefix}_email", f"Adresse électronique ({who})", FieldKind.EMAIL, is_required=True),
        FieldDefinition(f"{prefix}_telephone", f"Téléphone ({who})", FieldKind.PHONE, is_required=True),
    )


CONTACTS = SectionDefinition(
    key="contacts",
    label="Les personnes impliquées",
    owner=Actor.COLLECTIVITE,
    stage=Stage.SANDBOX,
    description="Le responsable de traitement et le délégué à la protection des données, prévenus à la validation.",
    fields=(
        *_person("responsable", "responsable de traitement"),
        *_person("dpo", "délégué à la protection des données"),
    ),
)

FRANCE_CONNECT = "with_france_connect"


def _france_connect_referenced(data: Mapping[str, Any]) -> dict[str, str]:
    modalities = data.get("modalites_acces")
    if isinstance(modalities, list) and FRANCE_CONNECT in modalities and not data.get("habilitation_france_connect"):
        return {"habilitation_france_connect": "Indiquez le numéro de l'habilitation FranceConnect de la collectivité."}
    return {}


MODALITES = SectionDefinition(
    key="modalites",
    label="Les modalités d'accès",
    owner=Actor.EDITEUR,
    stage=Stage.SANDBOX,
    description="Comment l'usager est identifié, et le logiciel qui appellera l'API.",
    fields=(
        FieldDefinition(
            "modalites_acces",
            "Modalités d'accès",
            FieldKind.MULTI_CHOICE,
            is_required=True,
            choices=(
                ("with_spi", "Par le numéro fiscal (SPI) de l'usager"),
                (FRANCE_CONNECT, "Par FranceConnect"),
            ),
        ),
        FieldDefinition(
            "habilitation_france_connect",
            "Numéro de l'habilitation FranceConnect de la collectivité",
            max_length=50,
            help_text="Obligatoire avec FranceConnect.",
        ),
        FieldDefinition("logiciel_nom", "Logiciel", is_required=True, max_length=200),
        FieldDefinition("logiciel_version", "Version du logiciel", is_required=True, max_length=50),
        *_person("contact_technique", "contact technique"),
        FieldDefinition(
            "email_technique_generique",
            "Adresse électronique technique générique",
            FieldKind.EMAIL,
            help_text="Facultatif : une boîte partagée par l'équipe technique.",
        ),
    ),
    checks=(_france_connect_referenced,),
)

IMPOT_PARTICULIER = ApiDefinition(
    key="api_impot_particulier",
    label="API Impôt particulier",
    sections=(PROJET, DONNEES_PERSONNELLES, CONTACTS, MODALITES, VOLUMETRIE),
    use_cases=USE_CASES,
    current_cgu={
        Stage.SANDBOX: CguVersion(Stage.SANDBOX, "2024-01", CGU_DIRECTORY / "impot_particulier_sandbox_2024-01.md"),
        Stage.PRODUCTION: CguVersion(
            Stage.PRODUCTION, "2024-01", CGU_DIRECTORY / "impot_particulier_production_2024-01.md"
        ),
    },
)

CATALOGUE = {IMPOT_PARTICULIER.key: IMPOT_PARTICULIER}
