"""``tracker seed-demo``: four parties, their users and a few requests in different states (development).

Requests are built through the same services as the web pages, so their timelines and the audit log
are genuine. Running it again changes nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.models import DgfipFunction, MembershipRole, Organization, OrganizationKind, User
from tracker.accounts.principal import Principal
from tracker.accounts.services import create_user
from tracker.accounts.siret import with_luhn_key
from tracker.catalogue.scopes import N_MOINS_1, RECOMMENDATIONS
from tracker.db import db, utcnow
from tracker.documents.services import Upload, receive_upload
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.parties import Hosting, PartyContact, designate_parties
from tracker.habilitations.workflow import Event, Stage
from tracker.instruction import messages
from tracker.products.services import find_or_declare


@dataclass(frozen=True)
class DemoAccount:
    email: str
    full_name: str
    job_title: str
    organization: str
    role: MembershipRole = MembershipRole.ADMIN
    dgfip_function: DgfipFunction | None = None


ORGANIZATIONS = {
    "collectivite": (
        "Commune d'Exemple",
        OrganizationKind.COLLECTIVITE,
        with_luhn_key("2133000010001"),
        "33",
    ),
    "editeur": ("Logiciel Exemple SA", OrganizationKind.EDITEUR, with_luhn_key("4420000020001"), "44"),
    "hebergeur": ("Hébergeur Exemple SAS", OrganizationKind.HEBERGEUR, with_luhn_key("5930000030001"), "59"),
    "dgfip": (
        "DGFiP – Bureau de l'accès aux données",
        OrganizationKind.DGFIP,
        with_luhn_key("1100000040001"),
        "75",
    ),
}

ACCOUNTS = (
    DemoAccount("dpo@mairie-exemple.fr", "Claire Martin", "Déléguée à la protection des données", "collectivite"),
    DemoAccount("editeur@logiciel-exemple.fr", "Julien Bernard", "Chef de projet", "editeur"),
    DemoAccount("hebergeur@hebergeur-exemple.fr", "Sophie Petit", "Responsable sécurité", "hebergeur"),
    DemoAccount(
        "instructeur@dgfip.exemple.fr",
        "Marc Durand",
        "Instructeur",
        "dgfip",
        dgfip_function=DgfipFunction.INSTRUCTEUR,
    ),
    DemoAccount(
        "rapporteur@dgfip.exemple.fr",
        "Nadia Lefèvre",
        "Rapporteure",
        "dgfip",
        role=MembershipRole.MEMBER,
        dgfip_function=DgfipFunction.RAPPORTEUR,
    ),
)

# A step of the demo script that is not a workflow event: fill and attest the production sections and
# accept the production CGU, as the collectivité does between start_production and the next submit.
PREPARE_PRODUCTION = "prepare_production"

# (use case, description, events taken after the request is filled, attested and its CGU accepted)
DEMO_REQUESTS = (
    (
        "cantine_scolaire",
        "Tarification de la cantine selon le quotient familial, sans avis d'imposition.",
        [Event.SUBMIT, Event.APPROVE],
    ),
    ("place_creche", "Calcul de la participation familiale aux crèches municipales.", [Event.SUBMIT]),
    (
        "stationnement_residentiel",
        "Délivrance de la carte de stationnement résidentiel.",
        [Event.SUBMIT, Event.REQUEST_CHANGES],
    ),
    ("activites_periscolaires", "Inscription aux activités périscolaires avec tarif adapté.", []),
    (
        "aides_sociales_facultatives",
        "Instruction des aides sociales facultatives du CCAS.",
        [Event.SUBMIT, Event.REFUSE],
    ),
    (
        "carte_transport",
        "Tarification solidaire de la carte de transport.",
        [Event.SUBMIT, Event.APPROVE, Event.START_PRODUCTION, PREPARE_PRODUCTION, Event.SUBMIT, Event.APPROVE],
    ),
)

LEGAL_BASIS = {
    "cadre_juridique_url": "https://www.mairie-exemple.fr/deliberations/2025-14.pdf",
}
DELIBERATION = "délibération du conseil municipal n° 2025-14 du 12 mars 2025."
# Scopes beyond the advice, with their justification, on one demo request (the advisor at work).
EXTRA_SCOPES = {
    "place_creche": {"dgfip_pac": "Le barème de la crèche distingue les enfants en résidence alternée."},
}
HOSTING = {
    "localisation_donnees": "france",
    "certifications": ["hds", "iso27001"],
    "sous_traitants": "Aucun",
    "engagement_article_28": True,
}

# The ISO 27001 certificate lapses in two months: the production habilitation shows in « Expire bientôt ».
CERTIFICATE_VALIDITY = {"hds": timedelta(days=700), "iso27001": timedelta(days=60)}

PERSONAL_DATA = {
    "duree_conservation_mois": 12,
    "registre_reference": "Registre des traitements de la commune, fiche n° 27",
    "aipd_realisee": "non",
}
CONTACTS = {
    "responsable_nom": "Durand",
    "responsable_prenom": "Hélène",
    "responsable_fonction": "Maire",
    "responsable_email": "maire@mairie-exemple.fr",
    "responsable_telephone": "05 56 00 00 01",
    "dpo_nom": "Martin",
    "dpo_prenom": "Claire",
    "dpo_fonction": "Déléguée à la protection des données",
    "dpo_email": "dpo@mairie-exemple.fr",
    "dpo_telephone": "05 56 00 00 02",
}
MODALITIES = {
    "modalites_acces": ["with_spi"],
    "logiciel_nom": "Logiciel Exemple Familles",
    "logiciel_version": "5.3",
    "contact_technique_nom": "Bernard",
    "contact_technique_prenom": "Julien",
    "contact_technique_fonction": "Chef de projet",
    "contact_technique_email": "editeur@logiciel-exemple.fr",
    "contact_technique_telephone": "02 40 00 00 03",
}

REASONS = {
    Event.REQUEST_CHANGES: "Précisez dans la description les catégories d'usagers concernées.",
    Event.REFUSE: "Le cadre juridique fourni ne couvre pas les aides facultatives du CCAS.",
}


def _sample_pdf() -> bytes:
    """A one-page PDF, enough to show uploads and their fingerprints in the demo."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _documents(
    session: Session, request: HabilitationRequest, section_key: str, field_key: str, name: str, owner: Principal
) -> list[dict[str, object]]:
    """Upload a sample PDF into a document field, through the same checks as the web form."""
    section = services.api_definition(request).section(section_key)
    document = receive_upload(
        session,
        current_app.extensions["tracker_storage"],
        request,
        section,
        section.field(field_key),
        Upload(name, io.BytesIO(_sample_pdf())),
        principal=owner,
        held=0,
    )
    return [document.reference()]


def _scopes(use_case: str) -> dict[str, object]:
    """The use case's advice (N-1 and its data items), plus, on one request, a justified extra item."""
    recommendation = RECOMMENDATIONS[use_case]
    extra = EXTRA_SCOPES.get(use_case, {})
    return {
        "scopes": sorted({N_MOINS_1, *recommendation.scopes, *extra}),
        **({"scope_justifications": extra} if extra else {}),
    }


def _hosting(session: Session, request: HabilitationRequest, hebergeur: Principal) -> dict[str, object]:
    today = utcnow().date()
    data: dict[str, object] = {
        **HOSTING,
        "hebergeur_raison_sociale": hebergeur.organization.name,
        "hebergeur_siret": hebergeur.organization.siret,
    }
    for certification in HOSTING["certifications"]:  # type: ignore[union-attr]
        data[f"{certification}_date_delivrance"] = (today - timedelta(days=400)).isoformat()
        data[f"{certification}_date_expiration"] = (today + CERTIFICATE_VALIDITY[certification]).isoformat()
        data[f"{certification}_certificat"] = _documents(
            session, request, "hebergement", f"{certification}_certificat", f"certificat-{certification}.pdf", hebergeur
        )
    return data


def _production_sections(
    session: Session, request: HabilitationRequest, dpo: Principal, editeur: Principal
) -> list[tuple[Principal, str, dict[str, object]]]:
    today = utcnow().date()
    return [
        (
            editeur,
            "recette_fonctionnelle",
            {"recette_realisee": True, "recette_date": (today - timedelta(days=20)).isoformat()},
        ),
        (
            dpo,
            "homologation",
            {
                "autorite_homologation_nom": "Hélène Durand",
                "autorite_homologation_fonction": "Maire",
                "homologation_date_debut": (today - timedelta(days=30)).isoformat(),
                "homologation_date_fin": (today + timedelta(days=3 * 365)).isoformat(),
                "homologation_decision": _documents(
                    session, request, "homologation", "homologation_decision", "decision-homologation.pdf", dpo
                ),
            },
        ),
        (
            dpo,
            "volumetrie",
            {
                "volumetrie_appels_par_minute": "100",
                "volumetrie_justification": "Pic d'inscriptions à la rentrée de septembre.",
            },
        ),
    ]


def _sign(session: Session, request: HabilitationRequest, signers: list[Principal]) -> None:
    """Each party signs the attestations of the current form it owns, as its member would on the page."""
    for attestation in services.api_definition(request).attestations:
        signer = next((p for p in signers if services.can_sign(request, attestation, p)), None)
        if signer is not None:
            services.sign_attestation(
                session,
                request,
                attestation.key,
                principal=signer,
                signer_name=signer.user.full_name,
                signer_function=signer.user.job_title or "",
                statement_version=attestation.statement.version,
                expected_version=None,
            )


def _principal(session: Session, email: str) -> Principal:
    user = session.execute(select(User).where(User.email == email)).scalar_one()
    return Principal(user, user.memberships[0])


def _fill_sandbox(
    session: Session,
    request: HabilitationRequest,
    use_case: str,
    description: str,
    *,
    applicant: Principal,
    editeur: Principal,
    hebergeur: Principal,
) -> None:
    """Fill and attest every sandbox section, each by its party, and accept the CGU."""
    prefilled_basis = request.section(Stage.SANDBOX, "cadre_juridique").data["cadre_juridique_nature"]
    sandbox_sections = (
        (
            applicant,
            "projet",
            {
                **request.section(Stage.SANDBOX, "projet").data,
                "description": description,
                "volumetrie_approximative": 1200,
            },
        ),
        (
            applicant,
            "cadre_juridique",
            {
                "cadre_juridique_nature": prefilled_basis.split("délibération du conseil")[0] + DELIBERATION,
                **LEGAL_BASIS,
            },
        ),
        (applicant, "donnees", _scopes(use_case)),
        (
            applicant,
            "donnees_personnelles",
            {**request.section(Stage.SANDBOX, "donnees_personnelles").data, **PERSONAL_DATA},
        ),
        (applicant, "contacts", CONTACTS),
        (editeur, "modalites", MODALITIES),
        (hebergeur, "hebergement", _hosting(session, request, hebergeur)),
    )
    for owner, key, data in sandbox_sections:
        services.save_section(session, request, key, data, principal=owner, expected_version=None)
    _sign(session, request, [applicant, editeur, hebergeur])
    services.accept_cgu(session, request, principal=applicant, expected_version=None)


def _build_request(
    session: Session,
    parties: dict[str, Organization],
    use_case: str,
    description: str,
    events: list[Event | str],
) -> HabilitationRequest:
    dpo = _principal(session, "dpo@mairie-exemple.fr")
    instructeur = _principal(session, "instructeur@dgfip.exemple.fr")
    editeur = _principal(session, "editeur@logiciel-exemple.fr")
    request = services.create_request(session, principal=dpo, use_case=use_case)
    designate_parties(
        session,
        request,
        principal=dpo,
        editeur=PartyContact(parties["editeur"].siret),
        hosting=Hosting.THIRD_PARTY,
        hebergeur=PartyContact(parties["hebergeur"].siret),
        product_name=MODALITIES["logiciel_nom"],  # type: ignore[arg-type]
        product_version=MODALITIES["logiciel_version"],  # type: ignore[arg-type]
        expected_version=None,
    )
    _fill_sandbox(
        session,
        request,
        use_case,
        description,
        applicant=dpo,
        editeur=editeur,
        hebergeur=_principal(session, "hebergeur@hebergeur-exemple.fr"),
    )
    for event in events:
        if event == PREPARE_PRODUCTION:
            for owner, key, data in _production_sections(session, request, dpo, editeur):
                services.save_section(session, request, key, data, principal=owner, expected_version=None)
            _sign(session, request, [dpo, editeur])
            services.accept_cgu(session, request, principal=dpo, expected_version=None)
            continue
        assert isinstance(event, Event)
        actor = instructeur if event in (Event.APPROVE, Event.REFUSE, Event.REQUEST_CHANGES) else dpo
        services.apply_event(
            session,
            request,
            event,
            principal=actor,
            reason=REASONS.get(event),
            sections=["projet"] if event is Event.REQUEST_CHANGES else (),
        )
    return request


def _build_editeur_sandbox(session: Session) -> HabilitationRequest:
    """The éditeur's own sandbox habilitation for its software: what opens the « avec éditeur » path
    to other collectivités."""
    editeur = _principal(session, "editeur@logiciel-exemple.fr")
    instructeur = _principal(session, "instructeur@dgfip.exemple.fr")
    product = find_or_declare(
        session,
        editeur.organization,
        MODALITIES["logiciel_nom"],  # type: ignore[arg-type]
        MODALITIES["logiciel_version"],  # type: ignore[arg-type]
        declared_by=editeur,
    )
    request = services.create_request(session, principal=editeur, use_case="cantine_scolaire", product=product)
    _fill_sandbox(
        session,
        request,
        "cantine_scolaire",
        "Recette du module « Familles » avec le bac à sable de l'API, pour les communes clientes.",
        applicant=editeur,
        editeur=editeur,
        hebergeur=editeur,
    )
    services.apply_event(session, request, Event.SUBMIT, principal=editeur)
    services.apply_event(session, request, Event.APPROVE, principal=instructeur)
    return request


# Wordings the DGFiP instructors start their decisions from (kept by DGFiP administrators).
MESSAGE_TEMPLATES = (
    (
        Event.APPROVE,
        "Validation standard",
        "Bonjour,\n\nLa demande {numero} « {intitule} » est validée. Les accès à l'API Impôt particulier seront "
        "transmis au contact technique désigné.\n\nVous pouvez suivre la demande ici : {lien}",
    ),
    (
        Event.REQUEST_CHANGES,
        "Délibération manquante",
        "Bonjour,\n\nPour instruire la demande {numero}, merci de joindre la délibération ou l'acte réglementaire "
        "qui fonde le traitement, puis de soumettre de nouveau la demande : {lien}",
    ),
    (
        Event.REQUEST_CHANGES,
        "Données non justifiées",
        "Bonjour,\n\nCertaines données demandées pour {numero} ne sont pas nécessaires au cas d'usage déclaré. "
        "Merci de limiter la sélection aux données strictement utiles ou de justifier chacune d'elles.",
    ),
    (
        Event.REFUSE,
        "Absence de cadre juridique",
        "Bonjour,\n\nLa demande {numero} de {collectivite} est refusée : aucun texte ne permet à la collectivité "
        "d'accéder aux données fiscales demandées pour ce traitement.",
    ),
    (
        Event.REVOKE,
        "Manquement aux engagements de sécurité",
        "Bonjour,\n\nLes habilitations de la demande {numero} sont révoquées : les engagements de sécurité "
        "pris dans la demande ne sont plus respectés.",
    ),
)


def seed(session: Session, password: str) -> bool:
    """Create the demo data; False (and nothing written) when it is already there."""
    sirets = {siret for _name, _kind, siret, _dept in ORGANIZATIONS.values()}
    if session.execute(select(Organization.id).where(Organization.siret.in_(sirets))).first():
        return False
    parties = {}
    for key, (name, kind, siret, departement) in ORGANIZATIONS.items():
        parties[key] = Organization(name=name, kind=kind, siret=siret, departement_code=departement)
        session.add(parties[key])
    session.flush()
    for account in ACCOUNTS:
        create_user(
            session,
            email=account.email,
            full_name=account.full_name,
            password=password,
            organization=parties[account.organization],
            role=account.role,
            dgfip_function=account.dgfip_function,
            job_title=account.job_title,
        )
    for use_case, description, events in DEMO_REQUESTS:
        _build_request(session, parties, use_case, description, events)
    _build_editeur_sandbox(session)
    instructeur = _principal(session, "instructeur@dgfip.exemple.fr")
    for event, title, body in MESSAGE_TEMPLATES:
        messages.create_template(session, principal=instructeur, event=event, title=title, body=body)
    return True


@click.command("seed-demo", help="Crée les données de démonstration (développement uniquement ; idempotent).")
@with_appcontext
def seed_demo() -> None:
    config = current_app.config
    if config["ENV_NAME"] == "production":
        raise click.ClickException("Les données de démonstration sont refusées en production.")
    password = config["DEMO_PASSWORD"]
    created = seed(db.session, password)
    db.session.commit()
    click.echo("Données de démonstration créées." if created else "Données de démonstration déjà présentes.")
    click.echo(f"\nConnectez-vous sur {config['BASE_URL']}/connexion avec le mot de passe « {password} » :")
    for account in ACCOUNTS:
        organization = ORGANIZATIONS[account.organization][0]
        function = f", {account.dgfip_function.label.lower()}" if account.dgfip_function else ""
        click.echo(f"  {account.email:<34} {organization}{function}")
