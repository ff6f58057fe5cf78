"""``tracker seed-demo``: four parties, their users and a few requests in different states (development).

Requests are built through the same services as the web pages, so their timelines and the audit log
are genuine. Running it again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.models import DgfipFunction, MembershipRole, Organization, OrganizationKind, User
from tracker.accounts.principal import Principal
from tracker.accounts.services import create_user
from tracker.accounts.siret import with_luhn_key
from tracker.db import db
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.parties import Hosting, PartyContact, designate_parties
from tracker.habilitations.workflow import Event


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


def _principal(session: Session, email: str) -> Principal:
    user = session.execute(select(User).where(User.email == email)).scalar_one()
    return Principal(user, user.memberships[0])


def _build_request(
    session: Session,
    parties: dict[str, Organization],
    use_case: str,
    description: str,
    events: list[Event | str],
) -> HabilitationRequest:
    dpo = _principal(session, "dpo@mairie-exemple.fr")
    instructeur = _principal(session, "instructeur@dgfip.exemple.fr")
    request = services.create_request(session, principal=dpo, use_case=use_case)
    designate_parties(
        session,
        request,
        principal=dpo,
        editeur=PartyContact(parties["editeur"].siret),
        hosting=Hosting.THIRD_PARTY,
        hebergeur=PartyContact(parties["hebergeur"].siret),
        expected_version=None,
    )
    editeur = _principal(session, "editeur@logiciel-exemple.fr")
    sandbox_sections = (
        (
            dpo,
            "projet",
            {
                **request.section(request.stage, "projet").data,
                "description": description,
                "volumetrie_approximative": 1200,
            },
        ),
        (dpo, "donnees_personnelles", {**request.section(request.stage, "donnees_personnelles").data, **PERSONAL_DATA}),
        (dpo, "contacts", CONTACTS),
        (editeur, "modalites", MODALITIES),
    )
    for owner, key, data in sandbox_sections:
        services.save_section(session, request, key, data, principal=owner, expected_version=None)
        services.attest_section(session, request, key, principal=owner, expected_version=None)
    services.accept_cgu(session, request, principal=dpo, expected_version=None)
    for event in events:
        if event == PREPARE_PRODUCTION:
            volumetrie = {
                "volumetrie_appels_par_minute": "100",
                "volumetrie_justification": "Pic d'inscriptions à la rentrée de septembre.",
            }
            services.save_section(session, request, "volumetrie", volumetrie, principal=dpo, expected_version=None)
            services.attest_section(session, request, "volumetrie", principal=dpo, expected_version=None)
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
