"""What the generated requests say: section content built from the catalogue (use cases, legal bases, the
minimisation advice), complete under the catalogue's own rules. Pure: no Flask, no database.

Documents are references ({id, name, sha256, size}) to rows the generator writes with them; only their
metadata exist (no file in the storage), which is all the pages and the benchmarks read.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tracker.catalogue.impot_particulier import IMPOT_PARTICULIER, PLACEHOLDER
from tracker.catalogue.scopes import N_MOINS_1, RECOMMENDATIONS

API = IMPOT_PARTICULIER

FIRST_NAMES = (
    "Claire", "Julien", "Sophie", "Marc", "Nadia", "Hélène", "Thomas", "Camille", "Élodie", "Nicolas", "Inès",
    "Pierre", "Amandine", "Karim", "Laure", "Mathieu", "Chloé", "François", "Sandrine", "Yannick", "Aurélie",
    "Olivier", "Fatima", "Jérôme", "Anne", "Sébastien", "Maëlle", "Loïc", "Valérie", "Bruno", "Émilie", "Rachid",
)  # fmt: skip
LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Simon",
    "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier", "Morel",
    "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier",
    "Faure", "Rousseau", "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
)  # fmt: skip
HEAD_OF = {
    "commune": ("Maire", "Maire adjoint chargé du numérique", "Directeur général des services"),
    "epci": ("Président", "Directrice générale des services"),
    "syndicat": ("Président du syndicat", "Directeur"),
    "ccas": ("Vice-présidente du CCAS", "Directrice du CCAS"),
    "departement": ("Président du conseil départemental", "Directeur général des services"),
    "region": ("Présidente du conseil régional", "Directeur général des services"),
}
DELIBERATING_BODY = {
    "commune": "municipal",
    "epci": "communautaire",
    "syndicat": "syndical",
    "ccas": "d'administration",
    "departement": "départemental",
    "region": "régional",
}
# The use cases a kind of collectivité asks for, with their weights.
USE_CASES_OF = {
    "commune": {
        "cantine_scolaire": 34,
        "activites_periscolaires": 20,
        "place_creche": 16,
        "stationnement_residentiel": 12,
        "aides_sociales_facultatives": 6,
        "carte_transport": 4,
        "libre": 8,
    },
    "epci": {"place_creche": 30, "carte_transport": 30, "cantine_scolaire": 15, "libre": 25},
    "syndicat": {"cantine_scolaire": 40, "carte_transport": 40, "libre": 20},
    "ccas": {"aides_sociales_facultatives": 90, "libre": 10},
    "departement": {"aides_sociales_facultatives": 40, "carte_transport": 30, "libre": 30},
    "region": {"carte_transport": 70, "libre": 30},
}
FREE_PROJECTS = (
    ("Tarification sociale de l'eau", "la tarification sociale de l'eau", "les abonnés du service de l'eau"),
    ("Bourse aux permis de conduire", "l'aide au permis de conduire des jeunes", "les jeunes de 18 à 25 ans"),
    ("Aide à l'équipement numérique", "l'aide à l'achat d'un ordinateur", "les collégiens boursiers"),
    ("Tarifs de l'école de musique", "l'inscription à l'école de musique", "les familles des élèves"),
    ("Pass culture et sport local", "le pass culture et sport", "les familles du territoire"),
)
SCOPE_EXTRAS = {
    "dgfip_pac": "Le barème distingue les enfants en résidence alternée.",
    "dgfip_pariso": "Les familles monoparentales bénéficient d'un tarif spécifique.",
    "dgfip_sitfam": "La situation de famille détermine la tranche applicable.",
}
DOCUMENT_NAMES = {
    "cadre_juridique_documents": "deliberation.pdf",
    "homologation_decision": "decision-homologation.pdf",
    "hds_certificat": "certificat-hds.pdf",
    "secnumcloud_certificat": "attestation-secnumcloud.pdf",
    "iso27001_certificat": "certificat-iso27001.pdf",
}


def ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    kept = "".join(char if char.isalnum() else "-" for char in decomposed if not unicodedata.combining(char))
    return "-".join(part for part in kept.split("-") if part)


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    function: str
    email: str
    phone: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def person(rng: random.Random, domain: str, function: str, phone_prefix: str) -> Person:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{ascii_slug(first)}.{ascii_slug(last)}@{domain}"
    digits = "".join(str(rng.randrange(10)) for _ in range(6))
    phone = f"{phone_prefix} {digits[:2]} {digits[2:4]} {digits[4:]}"
    return Person(first, last, function, email, phone)


def phone_prefix(departement: str) -> str:
    """The first four digits of a landline there: « 05 56 » in Gironde, « 05 90 » in Guadeloupe."""
    overseas = {"971": "05 90", "972": "05 96", "973": "05 94", "974": "02 62", "976": "02 69"}
    if departement in overseas:
        return overseas[departement]
    zone = {"1": "01", "2": "02", "3": "03", "4": "04", "5": "05"}
    digit = str(1 + sum(ord(char) for char in departement) % 5)
    return f"{zone[digit]} {10 + sum(ord(char) for char in departement) % 89:02d}"


@dataclass(frozen=True)
class Certification:
    key: str
    issued_on: date
    expires_on: date


@dataclass(frozen=True)
class Hosting:
    """Who hosts: a third-party hébergeur, the éditeur, or the collectivité itself (no certification)."""

    organization_name: str
    siret: str
    location: str
    certifications: tuple[Certification, ...]
    subcontractors: str


@dataclass
class DocumentRef:
    """A document the generator writes a row for; ``id`` is given when the row is planned."""

    section_key: str
    field_key: str
    name: str
    sha256: str
    size: int
    page_count: int
    id: int = 0

    def reference(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "sha256": self.sha256, "size": self.size}


@dataclass
class Profile:
    """Everything the sections of one request say, decided once so that every section agrees."""

    collectivite_name: str
    collectivite_kind: str
    collectivite_siret: str
    departement: str
    domain: str
    use_case: str
    intitule: str
    description: str
    destinataires: str
    legal_basis: str
    legal_basis_url: str | None
    responsable: Person
    dpo: Person
    technical_contact: Person | None
    software: tuple[str, str] | None
    hosting: Hosting | None
    created_on: date
    scopes: list[str]
    scope_justifications: dict[str, str]
    retention_months: int
    dpia_on: date | None
    france_connect: bool
    volumetry: str
    documents: list[DocumentRef] = field(default_factory=list)


def _random_hex(rng: random.Random, bits: int = 256) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def new_document(rng: random.Random, section_key: str, field_key: str) -> DocumentRef:
    return DocumentRef(
        section_key=section_key,
        field_key=field_key,
        name=DOCUMENT_NAMES[field_key],
        sha256=_random_hex(rng),
        size=rng.randrange(40_000, 2_500_000),
        page_count=rng.randrange(1, 12),
    )


def weighted_choice(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(tuple(weights), weights=tuple(weights.values()))[0]


def _scopes(rng: random.Random, use_case: str) -> tuple[list[str], dict[str, str]]:
    """The use case's advice (one year, its items, sometimes an optional one); now and then an item beyond
    it, justified, as the advisor asks."""
    recommendation = RECOMMENDATIONS.get(use_case)
    if recommendation is None:  # a free project: a valid choice the advisor does not judge
        return sorted({N_MOINS_1, "dgfip_rfr", "dgfip_nbpart", "dgfip_sitfam"}), {}
    chosen = {N_MOINS_1 if N_MOINS_1 in recommendation.years else sorted(recommendation.years)[0]}
    chosen |= recommendation.scopes
    if recommendation.optional and rng.random() < 0.3:
        chosen.add(rng.choice(sorted(recommendation.optional)))
    justifications = {}
    beyond = [key for key in SCOPE_EXTRAS if key not in recommendation.accepted]
    if beyond and rng.random() < 0.12:
        extra = rng.choice(beyond)
        chosen.add(extra)
        justifications[extra] = SCOPE_EXTRAS[extra]
    return sorted(chosen), justifications


def seeded_random(key: str) -> random.Random:
    """A generator of its own for one part of the dataset: reproducible data, never secrets."""
    return random.Random(key)  # noqa: S311


def collectivite_domain(name: str, departement: str) -> str:
    """« commune-de-saint-martin-33.exemple.fr »: the reserved example domain, one name per collectivité
    (towns are unique within a département)."""
    return f"{ascii_slug(name)[:50]}-{departement.lower()}.exemple.fr"


def build_profile(
    rng: random.Random,
    *,
    collectivite_name: str,
    collectivite_kind: str,
    collectivite_siret: str,
    departement: str,
    created_on: date,
    software: tuple[str, str] | None,
    technical_contact: Person | None,
    hosting: Hosting | None,
    dpo: Person,
) -> Profile:
    """``dpo``: the collectivité's user, who files its requests; its head is the same on every request."""
    domain = collectivite_domain(collectivite_name, departement)
    use_case_key = weighted_choice(rng, USE_CASES_OF[collectivite_kind])
    use_case = API.use_case(use_case_key)
    assert use_case is not None
    body = DELIBERATING_BODY[collectivite_kind]
    voted_on = created_on - timedelta(days=rng.randrange(20, 400))
    number = f"{voted_on.year}-{rng.randrange(1, 120):02d}"
    if use_case_key == "libre":
        title, procedure, public = rng.choice(FREE_PROJECTS)
        intitule = f"{title} – {collectivite_name}"
        description = (
            f"Le téléservice de {procedure} récupère le revenu fiscal de référence et le nombre de parts auprès "
            f"de la DGFiP, pour {public}, au lieu de demander l'avis d'imposition."
        )
        destinataires = f"Agents chargés de {procedure}"
        legal_basis = (
            "Règlement (UE) 2016/679 (RGPD), article 6-1-e ; code des relations entre le public et "
            f"l'administration, articles L.114-8 et suivants ; délibération du conseil {body} n° {number} "
            f"du {voted_on:%d/%m/%Y}."
        )
    else:
        intitule = use_case.intitule if rng.random() < 0.8 else f"{use_case.label} – {collectivite_name}"
        description = use_case.description.split(PLACEHOLDER)[0] + (
            f"Environ {rng.randrange(2, 90) * 50} dossiers par an, instruits avec le logiciel "
            f"{software[0] if software else 'de la collectivité'}."
        )
        destinataires = use_case.destinataires
        legal_basis = use_case.cadre_juridique_nature.split(PLACEHOLDER)[0] + f"n° {number} du {voted_on:%d/%m/%Y}."
    prefix = phone_prefix(departement)
    head_rng = seeded_random(f"{collectivite_siret}/head")
    responsable = person(head_rng, domain, head_rng.choice(HEAD_OF[collectivite_kind]), prefix)
    scopes, justifications = _scopes(rng, use_case_key)
    retention = rng.choice((12, 12, 24, 24, 36, 60))
    profile = Profile(
        collectivite_name=collectivite_name,
        collectivite_kind=collectivite_kind,
        collectivite_siret=collectivite_siret,
        departement=departement,
        domain=domain,
        use_case=use_case_key,
        intitule=intitule[:300],
        description=description,
        destinataires=destinataires,
        legal_basis=legal_basis,
        legal_basis_url=f"https://www.{domain}/deliberations/{number}.pdf" if rng.random() < 0.75 else None,
        responsable=responsable,
        dpo=dpo,
        technical_contact=technical_contact,
        software=software,
        hosting=hosting,
        created_on=created_on,
        scopes=scopes,
        scope_justifications=justifications,
        retention_months=retention,
        dpia_on=created_on - timedelta(days=rng.randrange(10, 300)) if rng.random() < 0.35 else None,
        france_connect=rng.random() < 0.3,
        volumetry=rng.choice(("50", "50", "50", "50", "100", "200")),
    )
    if profile.legal_basis_url is None:
        profile.documents.append(new_document(rng, "cadre_juridique", "cadre_juridique_documents"))
    return profile


def _documents_of(profile: Profile, field_key: str) -> list[dict[str, Any]]:
    return [document.reference() for document in profile.documents if document.field_key == field_key]


def prefilled_sections(profile: Profile) -> dict[str, dict[str, Any]]:
    """What ``create_request`` writes from the use case, placeholders included (« en cours »)."""
    use_case = API.use_case(profile.use_case)
    assert use_case is not None
    values = {
        "projet": {"intitule": use_case.intitule, "description": use_case.description, "use_case": profile.use_case},
        "cadre_juridique": {"cadre_juridique_nature": use_case.cadre_juridique_nature},
        "donnees_personnelles": {"destinataires": use_case.destinataires},
    }
    return {key: {k: v for k, v in data.items() if v} for key, data in values.items() if any(data.values())}


def _projet(profile: Profile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "intitule": profile.intitule,
        "description": profile.description,
        "use_case": profile.use_case,
    }
    if profile.volumetry != "50":
        data["volumetrie_approximative"] = int(profile.volumetry) * 40
    return data


def _cadre_juridique(profile: Profile) -> dict[str, Any]:
    data: dict[str, Any] = {"cadre_juridique_nature": profile.legal_basis}
    if profile.legal_basis_url:
        data["cadre_juridique_url"] = profile.legal_basis_url
    else:
        data["cadre_juridique_documents"] = _documents_of(profile, "cadre_juridique_documents")
    return data


def _donnees(profile: Profile) -> dict[str, Any]:
    data: dict[str, Any] = {"scopes": profile.scopes}
    if profile.scope_justifications:
        data["scope_justifications"] = profile.scope_justifications
    return data


def _donnees_personnelles(profile: Profile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "destinataires": profile.destinataires,
        "duree_conservation_mois": profile.retention_months,
        "registre_reference": f"Registre des traitements, fiche n° {len(profile.collectivite_name) * 3}",
        "aipd_realisee": "oui" if profile.dpia_on else "non",
    }
    if profile.retention_months > 36:
        data["duree_conservation_justification"] = "Les dossiers d'aide sont contrôlés jusqu'à cinq ans après."
    if profile.dpia_on:
        data["aipd_date"] = profile.dpia_on.isoformat()
    return data


def _contacts(profile: Profile) -> dict[str, Any]:
    data = {}
    for prefix, contact in (("responsable", profile.responsable), ("dpo", profile.dpo)):
        data.update(
            {
                f"{prefix}_nom": contact.last_name,
                f"{prefix}_prenom": contact.first_name,
                f"{prefix}_fonction": contact.function,
                f"{prefix}_email": contact.email,
                f"{prefix}_telephone": contact.phone,
            }
        )
    return data


def _modalites(profile: Profile) -> dict[str, Any]:
    assert profile.software is not None and profile.technical_contact is not None
    contact = profile.technical_contact
    data: dict[str, Any] = {
        "modalites_acces": ["with_spi", "with_france_connect"] if profile.france_connect else ["with_spi"],
        "logiciel_nom": profile.software[0],
        "logiciel_version": profile.software[1],
        "contact_technique_nom": contact.last_name,
        "contact_technique_prenom": contact.first_name,
        "contact_technique_fonction": contact.function,
        "contact_technique_email": contact.email,
        "contact_technique_telephone": contact.phone,
    }
    if profile.france_connect:
        data["habilitation_france_connect"] = f"FC-{profile.created_on.year}-{len(profile.domain) * 37:04d}"
    return data


def _hebergement(profile: Profile) -> dict[str, Any]:
    hosting = profile.hosting
    assert hosting is not None
    data: dict[str, Any] = {
        "hebergeur_raison_sociale": hosting.organization_name,
        "hebergeur_siret": hosting.siret,
        "localisation_donnees": hosting.location,
        "certifications": [c.key for c in hosting.certifications],
        "sous_traitants": hosting.subcontractors,
        "engagement_article_28": True,
    }
    for certification in hosting.certifications:
        data[f"{certification.key}_date_delivrance"] = certification.issued_on.isoformat()
        data[f"{certification.key}_date_expiration"] = certification.expires_on.isoformat()
        data[f"{certification.key}_certificat"] = _documents_of(profile, f"{certification.key}_certificat")
    return data


@dataclass(frozen=True)
class ProductionFacts:
    """The production stage's dates: the functional tests, and the homologation's period."""

    tested_on: date
    homologation_from: date
    homologation_until: date
    authority: Person


def _recette(profile: Profile, production: ProductionFacts) -> dict[str, Any]:
    return {"recette_realisee": True, "recette_date": production.tested_on.isoformat()}


def _homologation(profile: Profile, production: ProductionFacts) -> dict[str, Any]:
    return {
        "autorite_homologation_nom": production.authority.full_name,
        "autorite_homologation_fonction": production.authority.function,
        "homologation_date_debut": production.homologation_from.isoformat(),
        "homologation_date_fin": production.homologation_until.isoformat(),
        "homologation_decision": _documents_of(profile, "homologation_decision"),
    }


def _volumetrie(profile: Profile, production: ProductionFacts) -> dict[str, Any]:
    data = {"volumetrie_appels_par_minute": profile.volumetry}
    if profile.volumetry != "50":
        data["volumetrie_justification"] = "Pic d'inscriptions à la rentrée de septembre."
    return data


SANDBOX_CONTENT: dict[str, Callable[[Profile], dict[str, Any]]] = {
    "projet": _projet,
    "cadre_juridique": _cadre_juridique,
    "donnees": _donnees,
    "donnees_personnelles": _donnees_personnelles,
    "contacts": _contacts,
    "modalites": _modalites,
    "hebergement": _hebergement,
}
PRODUCTION_CONTENT: dict[str, Callable[[Profile, ProductionFacts], dict[str, Any]]] = {
    "recette_fonctionnelle": _recette,
    "homologation": _homologation,
    "volumetrie": _volumetrie,
}
assert [s.key for s in API.sections] == [*SANDBOX_CONTENT, *PRODUCTION_CONTENT], "one builder per catalogue section"

# What an instructor asks to change in a section, and how the resubmission answers (for the changelog).
CHANGE_REQUESTS: dict[str, tuple[str, str, str]] = {
    "projet": (
        "Précisez dans la description les catégories d'usagers concernées.",
        "description",
        "Usagers concernés : les familles domiciliées sur le territoire.",
    ),
    "cadre_juridique": (
        "Le lien vers la délibération ne fonctionne pas : vérifiez l'adresse ou déposez le texte en PDF.",
        "cadre_juridique_nature",
        "Délibération transmise au contrôle de légalité.",
    ),
    "donnees": (
        "Les données demandées au-delà de la recommandation doivent être justifiées.",
        "scope_justifications",
        "Justification complétée.",
    ),
    "donnees_personnelles": (
        "La durée de conservation doit être justifiée au regard de la finalité.",
        "duree_conservation_mois",
        "24",
    ),
    "contacts": (
        "Le numéro de téléphone du délégué à la protection des données est erroné.",
        "dpo_telephone",
        "05 56 00 00 00",
    ),
    "modalites": (
        "Indiquez la version du logiciel qui sera utilisée en production.",
        "logiciel_version",
        "6.1",
    ),
    "hebergement": (
        "Le certificat déposé par l'hébergeur n'est pas lisible : déposez-le à nouveau.",
        "sous_traitants",
        "Aucun",
    ),
    "recette_fonctionnelle": (
        "Joignez le procès-verbal de recette ou précisez la date de fin de recette.",
        "recette_observations",
        "Recette réalisée sur trois jeux de données fictifs.",
    ),
    "homologation": (
        "La décision d'homologation déposée n'est pas signée par l'autorité d'homologation.",
        "homologation_decision",
        "decision-homologation-signee.pdf",
    ),
    "volumetrie": (
        "Justifiez la volumétrie demandée au-delà de 50 appels par minute.",
        "volumetrie_justification",
        "Pic d'inscriptions à la rentrée de septembre.",
    ),
}
assert set(CHANGE_REQUESTS) == {s.key for s in API.sections}


def change_of(section_key: str) -> dict[str, str]:
    """One changelog line as ``changes_between`` writes it, for the field the request for changes named."""
    _reason, field_key, after = CHANGE_REQUESTS[section_key]
    section = API.section(section_key)
    label = next(f.label for f in section.fields if f.key == field_key)
    return {"section": section.label, "field": label, "before": "(vide)", "after": after}


REFUSAL_REASONS = (
    "Le cadre juridique fourni ne couvre pas la finalité déclarée.",
    "La délibération produite ne concerne pas ce téléservice.",
    "Les données demandées excèdent ce que permet la finalité (principe de minimisation).",
    "Sans réponse aux demandes de modifications dans le délai, la demande ne peut aboutir.",
)
REVOCATION_REASONS = (
    "Fin du service annoncée par la collectivité.",
    "Manquement aux conditions générales d'utilisation constaté lors d'un contrôle.",
)
APPROVAL_MESSAGES = (
    "Votre demande est validée ; les accès seront ouverts sous 48 heures.",
    "Validée. Pensez à renouveler l'homologation avant son terme.",
)
CANCELLATION_REASON = "Mise à jour annulée à la demande de la collectivité."
INTERNAL_NOTES = (
    "Appel du DPO : la délibération modificative sera votée au prochain conseil.",
    "Dossier comparable à celui de la commune voisine, validé le mois dernier.",
    "Vérifier la cohérence entre la volumétrie et la taille de la collectivité.",
    "Relance téléphonique faite ; réponse attendue sous huit jours.",
)
