"""API Impôt particulier: the sections, use cases and terms of use (DOMAIN §5-7).

Sandbox: `projet`, `cadre_juridique`, `donnees`, `donnees_personnelles`, `contacts` (collectivité),
`modalites` (éditeur), `hebergement` (hébergeur); production: `recette_fonctionnelle` (éditeur),
`homologation` and `volumetrie` (collectivité).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from tracker.catalogue import scopes
from tracker.catalogue.definitions import (
    ApiDefinition,
    AttestationDefinition,
    CguVersion,
    ExpiryDate,
    FieldDefinition,
    FieldKind,
    SectionDefinition,
    Statement,
    UseCase,
    ValidationContext,
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


def placeholders_completed(data: Mapping[str, Any], _context: ValidationContext) -> dict[str, str]:
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


def _volumetry_justified(data: Mapping[str, Any], _context: ValidationContext) -> dict[str, str]:
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


def _retention_justified(data: Mapping[str, Any], _context: ValidationContext) -> dict[str, str]:
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


def _dpia_dated(data: Mapping[str, Any], _context: ValidationContext) -> dict[str, str]:
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


def _france_connect_referenced(data: Mapping[str, Any], _context: ValidationContext) -> dict[str, str]:
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


def _date(data: Mapping[str, Any], key: str) -> date | None:
    try:
        return date.fromisoformat(data[key])
    except (KeyError, TypeError, ValueError):
        return None


def _legal_basis_reachable(data: Mapping[str, Any], _context: ValidationContext) -> dict[str, str]:
    """DGFiP must be able to read the text: at its address, or in a deposited copy (DOMAIN §5)."""
    if not data.get("cadre_juridique_url") and not data.get("cadre_juridique_documents"):
        return {
            "cadre_juridique_url": "Indiquez l'adresse du texte (URL) ou déposez le document (PDF) ci-dessous.",
        }
    return {}


CADRE_JURIDIQUE = SectionDefinition(
    key="cadre_juridique",
    label="Le cadre juridique",
    owner=Actor.COLLECTIVITE,
    stage=Stage.SANDBOX,
    description="Les textes qui autorisent la collectivité à recevoir ces données : le RGPD, le CRPA et la "
    "délibération de l'organe délibérant.",
    fields=(
        FieldDefinition(
            "cadre_juridique_nature",
            "Nature et références des textes",
            FieldKind.TEXTAREA,
            is_required=True,
            max_length=5000,
            help_text="Par exemple : délibération du conseil municipal n° 2025-12 du 3 mars 2025.",
        ),
        FieldDefinition(
            "cadre_juridique_url",
            "Adresse (URL) du texte",
            FieldKind.URL,
            max_length=500,
            help_text="Une adresse commençant par https://, par exemple le recueil des actes administratifs. "
            "Sinon, déposez le texte ci-dessous.",
        ),
        FieldDefinition(
            "cadre_juridique_documents",
            "Texte du cadre juridique (PDF)",
            FieldKind.DOCUMENTS,
            accepts=("pdf",),
            help_text="Si le texte n'est pas publié en ligne : la délibération signée, en PDF.",
        ),
    ),
    checks=(placeholders_completed, _legal_basis_reachable),
)


def _scopes_follow_rules(data: Mapping[str, Any], context: ValidationContext) -> dict[str, str]:
    """The four rules of DOMAIN §6, or, for a specific requirement, the spreadsheet that replaces them; and
    a justification for every item beyond the use case's advice."""
    if data.get("specific_requirements") is True:
        if not data.get("specific_requirements_document"):
            return {"specific_requirements_document": "Déposez le tableur décrivant votre besoin spécifique."}
        return {}
    chosen = data.get("scopes") or []
    errors = {}
    if messages := scopes.scope_errors(chosen, created_on=context.created_on):
        errors["scopes"] = "\n".join(messages)
    justifications = data.get("scope_justifications") or {}
    if missing := [
        scope.label
        for scope in scopes.beyond_recommendation(context.use_case, chosen)
        if not str(justifications.get(scope.key) or "").strip()
    ]:
        errors["scope_justifications"] = (
            "Justifiez chaque donnée demandée au-delà de ce que recommande le cas d'usage : "
            + ", ".join(f"« {label} »" for label in missing)
            + "."
        )
    return errors


def _justifications_of_chosen_scopes(data: dict[str, Any]) -> dict[str, Any]:
    """Only chosen items are justified: a text left for an unticked one is not kept."""
    chosen = set(data.get("scopes") or [])
    kept = {key: text for key, text in (data.get("scope_justifications") or {}).items() if key in chosen}
    rest = {key: value for key, value in data.items() if key != "scope_justifications"}
    return {**rest, "scope_justifications": kept} if kept else rest


DONNEES = SectionDefinition(
    key="donnees",
    label="Les données",
    owner=Actor.COLLECTIVITE,
    stage=Stage.SANDBOX,
    description="Les seules données fiscales nécessaires au téléservice (principe de minimisation).",
    fields=(
        FieldDefinition("scopes", "Données demandées", FieldKind.SCOPES),
        FieldDefinition(
            "scope_justifications",
            "Justification des données au-delà de la recommandation",
            FieldKind.SCOPE_JUSTIFICATIONS,
        ),
        FieldDefinition(
            "specific_requirements",
            "Ma demande relève d'une expression de besoin spécifique",
            FieldKind.CONFIRMATION,
            help_text="Cochez seulement si les données proposées ne conviennent pas : décrivez alors votre besoin "
            "dans un tableur, à la place des cases à cocher.",
        ),
        FieldDefinition(
            "specific_requirements_document",
            "Tableur de l'expression de besoin spécifique",
            FieldKind.DOCUMENTS,
            accepts=("ods", "xlsx", "xls", "csv"),
            help_text="Les données dont vous avez besoin, une par ligne, avec la raison de chacune.",
        ),
    ),
    checks=(_scopes_follow_rules,),
    normalizers=(_justifications_of_chosen_scopes,),
)

CERTIFICATIONS = (
    ("hds", "Hébergeur de données de santé (HDS)"),
    ("secnumcloud", "SecNumCloud (ANSSI)"),
    ("iso27001", "ISO/IEC 27001"),
)
LOCATIONS = (
    ("france", "En France"),
    ("union_europeenne", "Dans un autre pays de l'Union européenne"),
    ("hors_union_europeenne", "Hors de l'Union européenne"),
)
OUTSIDE_EU = "hors_union_europeenne"


def _certification_fields(key: str, label: str) -> tuple[FieldDefinition, ...]:
    return (
        FieldDefinition(f"{key}_date_delivrance", f"{label} : date de délivrance", FieldKind.DATE),
        FieldDefinition(f"{key}_date_expiration", f"{label} : date d'expiration", FieldKind.DATE),
        FieldDefinition(f"{key}_certificat", f"{label} : certificat (PDF)", FieldKind.DOCUMENTS, accepts=("pdf",)),
    )


def _certifications_documented(data: Mapping[str, Any], context: ValidationContext) -> dict[str, str]:
    """Each certification held comes with its certificate and dates; an expired one does not count."""
    errors = {}
    for key in data.get("certifications") or []:
        issued, expires = _date(data, f"{key}_date_delivrance"), _date(data, f"{key}_date_expiration")
        if issued is None:
            errors[f"{key}_date_delivrance"] = "Indiquez la date de délivrance du certificat."
        if expires is None:
            errors[f"{key}_date_expiration"] = "Indiquez la date d'expiration du certificat."
        elif expires <= context.today:
            errors[f"{key}_date_expiration"] = "Ce certificat a expiré : déposez le certificat en cours de validité."
        elif issued is not None and issued >= expires:
            errors[f"{key}_date_expiration"] = "La date d'expiration doit suivre la date de délivrance."
        if not data.get(f"{key}_certificat"):
            errors[f"{key}_certificat"] = "Déposez le certificat (PDF)."
    if data.get("localisation_donnees") == OUTSIDE_EU and not str(data.get("localisation_justification") or "").strip():
        errors["localisation_justification"] = (
            "Hors de l'Union européenne, justifiez la localisation et les garanties (article 46 du RGPD)."
        )
    return errors


HEBERGEMENT = SectionDefinition(
    key="hebergement",
    label="L'hébergement",
    owner=Actor.HEBERGEUR,
    stage=Stage.SANDBOX,
    description="Qui héberge le logiciel et les données, où, avec quelles certifications.",
    fields=(
        FieldDefinition("hebergeur_raison_sociale", "Raison sociale de l'hébergeur", is_required=True, max_length=200),
        FieldDefinition("hebergeur_siret", "SIRET de l'hébergeur", FieldKind.SIRET, is_required=True),
        FieldDefinition(
            "localisation_donnees",
            "Localisation des données",
            FieldKind.CHOICE,
            is_required=True,
            choices=LOCATIONS,
        ),
        FieldDefinition(
            "localisation_justification",
            "Justification de la localisation",
            FieldKind.TEXTAREA,
            max_length=2000,
            help_text="Obligatoire hors de l'Union européenne ; la DGFiP en est avertie.",
        ),
        FieldDefinition(
            "certifications",
            "Certifications détenues",
            FieldKind.MULTI_CHOICE,
            choices=CERTIFICATIONS,
            help_text="Pour chaque certification cochée : les dates et le certificat. Aucune pour un hébergement "
            "par la collectivité elle-même.",
        ),
        *(field for key, label in CERTIFICATIONS for field in _certification_fields(key, label)),
        FieldDefinition(
            "sous_traitants",
            "Sous-traitants ultérieurs",
            FieldKind.TEXTAREA,
            is_required=True,
            max_length=3000,
            help_text="Nom, rôle et pays de chaque sous-traitant ; écrivez « Aucun » s'il n'y en a pas.",
        ),
        FieldDefinition(
            "engagement_article_28",
            "L'hébergeur s'engage à traiter les données pour le seul compte de la collectivité, dans le respect "
            "de l'article 28 du RGPD (sous-traitance)",
            FieldKind.CONFIRMATION,
            is_required=True,
        ),
    ),
    checks=(_certifications_documented,),
)


def _recette_not_in_future(data: Mapping[str, Any], context: ValidationContext) -> dict[str, str]:
    done_on = _date(data, "recette_date")
    if done_on is not None and done_on > context.today:
        return {"recette_date": "La recette doit avoir eu lieu : la date ne peut pas être dans le futur."}
    return {}


RECETTE_FONCTIONNELLE = SectionDefinition(
    key="recette_fonctionnelle",
    label="La recette fonctionnelle",
    owner=Actor.EDITEUR,
    stage=Stage.PRODUCTION,
    description="Le logiciel a été testé avec les données fictives du bac à sable.",
    fields=(
        FieldDefinition(
            "recette_realisee",
            "Je certifie que la recette fonctionnelle a été réalisée avec le bac à sable de l'API Impôt particulier",
            FieldKind.CONFIRMATION,
            is_required=True,
        ),
        FieldDefinition("recette_date", "Date de fin de la recette", FieldKind.DATE, is_required=True),
        FieldDefinition(
            "recette_rapport",
            "Procès-verbal de recette (PDF)",
            FieldKind.DOCUMENTS,
            accepts=("pdf",),
            help_text="Facultatif.",
        ),
        FieldDefinition("recette_observations", "Observations", FieldKind.TEXTAREA, max_length=3000),
    ),
    checks=(_recette_not_in_future,),
)


def _homologation_dates(data: Mapping[str, Any], context: ValidationContext) -> dict[str, str]:
    """The homologation must still run: its end strictly after its start, and in the future (DOMAIN §5)."""
    begins, ends = _date(data, "homologation_date_debut"), _date(data, "homologation_date_fin")
    if ends is None:
        return {}
    if begins is not None and ends <= begins:
        return {"homologation_date_fin": "La date de fin doit être postérieure à la date de début."}
    if ends <= context.today:
        return {"homologation_date_fin": "L'homologation a pris fin : renouvelez-la avant de demander la production."}
    return {}


HOMOLOGATION = SectionDefinition(
    key="homologation",
    label="L'homologation de sécurité",
    owner=Actor.COLLECTIVITE,
    stage=Stage.PRODUCTION,
    description="La décision par laquelle l'autorité de la collectivité accepte les risques résiduels du téléservice.",
    fields=(
        FieldDefinition(
            "autorite_homologation_nom", "Nom de l'autorité d'homologation", is_required=True, max_length=200
        ),
        FieldDefinition(
            "autorite_homologation_fonction",
            "Fonction de l'autorité d'homologation",
            is_required=True,
            max_length=200,
            help_text="Par exemple : maire, président de l'EPCI, directeur général des services.",
        ),
        FieldDefinition("homologation_date_debut", "Date de début de l'homologation", FieldKind.DATE, is_required=True),
        FieldDefinition(
            "homologation_date_fin",
            "Date de fin de l'homologation",
            FieldKind.DATE,
            is_required=True,
            help_text="À renouveler au moins trois mois avant cette date.",
        ),
        FieldDefinition(
            "homologation_decision",
            "Décision d'homologation ou questionnaire de sécurité DGFiP (PDF)",
            FieldKind.DOCUMENTS,
            is_required=True,
            accepts=("pdf",),
        ),
    ),
    checks=(_homologation_dates,),
)


STATEMENT_VERSION = "2026-11"

ATTESTATIONS = (
    AttestationDefinition(
        key="cadre_juridique",
        label="Attestation du projet et de son cadre juridique",
        owner=Actor.COLLECTIVITE,
        stage=Stage.SANDBOX,
        sections=("projet", "cadre_juridique", "contacts"),
        statement=Statement(
            STATEMENT_VERSION,
            "J'atteste, au nom de ma collectivité, que le projet décrit est exact, que les textes cités "
            "autorisent la collectivité à recevoir les données demandées pour cette finalité, et que les "
            "personnes désignées (responsable de traitement, délégué à la protection des données) ont accepté "
            "ce rôle et sont informées de la demande.",
        ),
    ),
    AttestationDefinition(
        key="rgpd",
        label="Attestation RGPD",
        owner=Actor.COLLECTIVITE,
        stage=Stage.SANDBOX,
        sections=("donnees", "donnees_personnelles"),
        statement=Statement(
            STATEMENT_VERSION,
            "J'atteste, en qualité de délégué à la protection des données ou en son nom, que chaque donnée "
            "demandée est nécessaire à la finalité du téléservice (principe de minimisation), que le traitement "
            "est inscrit au registre des activités de traitement de la collectivité (article 30 du RGPD), que la "
            "durée de conservation indiquée sera respectée et que la nécessité d'une analyse d'impact a été "
            "examinée.",
        ),
    ),
    AttestationDefinition(
        key="modalites",
        label="Attestation des modalités d'accès",
        owner=Actor.EDITEUR,
        stage=Stage.SANDBOX,
        sections=("modalites",),
        statement=Statement(
            STATEMENT_VERSION,
            "J'atteste, au nom de l'éditeur, que le logiciel désigné, dans la version indiquée, appellera l'API "
            "Impôt particulier selon les modalités d'accès décrites, pour le seul compte de la collectivité, et "
            "que le contact technique désigné est joignable.",
        ),
    ),
    AttestationDefinition(
        key="hebergement",
        label="Attestation d'hébergement",
        owner=Actor.HEBERGEUR,
        stage=Stage.SANDBOX,
        sections=("hebergement",),
        statement=Statement(
            STATEMENT_VERSION,
            "J'atteste, au nom de l'hébergeur, que les certifications déclarées sont en cours de validité et que "
            "les certificats déposés sont authentiques, que les données sont hébergées dans le pays indiqué, que "
            "la liste des sous-traitants ultérieurs est complète, et que l'hébergeur agit en sous-traitant au "
            "sens de l'article 28 du RGPD.",
        ),
    ),
    AttestationDefinition(
        key="recette",
        label="Attestation de recette fonctionnelle",
        owner=Actor.EDITEUR,
        stage=Stage.PRODUCTION,
        sections=("recette_fonctionnelle",),
        statement=Statement(
            STATEMENT_VERSION,
            "J'atteste, au nom de l'éditeur, que la recette fonctionnelle du logiciel a été réalisée avec le bac "
            "à sable de l'API Impôt particulier (données fictives) à la date indiquée, et que ses résultats "
            "permettent l'ouverture du service en production.",
        ),
    ),
    AttestationDefinition(
        key="homologation",
        label="Attestation d'homologation et de volumétrie",
        owner=Actor.COLLECTIVITE,
        stage=Stage.PRODUCTION,
        sections=("homologation", "volumetrie"),
        statement=Statement(
            STATEMENT_VERSION,
            "J'atteste, au nom de ma collectivité, que le téléservice a été homologué par l'autorité désignée "
            "pour la période indiquée, que la décision déposée est authentique, que l'homologation sera "
            "renouvelée avant son terme, et que la volumétrie demandée correspond au besoin du service.",
        ),
    ),
)


def _holds(certification: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda data: certification in (data.get("certifications") or [])


EXPIRY_DATES = (
    ExpiryDate(
        "homologation",
        "Fin de l'homologation de sécurité",
        Actor.COLLECTIVITE,
        "homologation",
        "homologation_date_fin",
    ),
    *(
        ExpiryDate(
            f"certification_{key}",
            f"Certificat {label} de l'hébergeur",
            Actor.HEBERGEUR,
            "hebergement",
            f"{key}_date_expiration",
            _holds(key),
        )
        for key, label in CERTIFICATIONS
    ),
)

IMPOT_PARTICULIER = ApiDefinition(
    key="api_impot_particulier",
    label="API Impôt particulier",
    sections=(
        PROJET,
        CADRE_JURIDIQUE,
        DONNEES,
        DONNEES_PERSONNELLES,
        CONTACTS,
        MODALITES,
        HEBERGEMENT,
        RECETTE_FONCTIONNELLE,
        HOMOLOGATION,
        VOLUMETRIE,
    ),
    use_cases=USE_CASES,
    attestations=ATTESTATIONS,
    expiry_dates=EXPIRY_DATES,
    current_cgu={
        Stage.SANDBOX: CguVersion(Stage.SANDBOX, "2024-01", CGU_DIRECTORY / "impot_particulier_sandbox_2024-01.md"),
        Stage.PRODUCTION: CguVersion(
            Stage.PRODUCTION, "2024-01", CGU_DIRECTORY / "impot_particulier_production_2024-01.md"
        ),
    },
)

CATALOGUE = {IMPOT_PARTICULIER.key: IMPOT_PARTICULIER}

for _api in CATALOGUE.values():
    _covered = [key for attestation in _api.attestations for key in attestation.sections]
    assert sorted(_covered) == sorted(s.key for s in _api.sections), f"{_api.key}: one attestation per section"
    for _attestation in _api.attestations:
        assert all(_api.section(key).owner is _attestation.owner for key in _attestation.sections)
        assert all(_api.section(key).stage is _attestation.stage for key in _attestation.sections)
