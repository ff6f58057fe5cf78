"""One request's whole life over HTTP, as the four people who live it (DOMAIN §3-5).

A commune's DPO creates a « Cantine scolaire » request and names an éditeur and a third-party hébergeur
that the tracker does not know yet; their contacts accept the emailed invitations, and every party fills
and attests its own sections through the real forms (multipart, real PDFs, the hidden ``version`` read
from the page). The DGFiP instructeur asks for one change, then approves the sandbox; the commune goes to
production, then updates its production habilitation. Nothing is written to the database by hand after
the four accounts exist: the test only reads it to check what the pages did.
"""

from __future__ import annotations

import html
import io
import re
from datetime import date, timedelta
from typing import Any

from factories import login, make_organization, make_user
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from tracker.accounts.models import DgfipFunction, Membership, OrganizationKind, User
from tracker.accounts.siret import with_luhn_key
from tracker.habilitations.models import Habilitation, HabilitationRequest, HabilitationState, TimelineEntry
from tracker.habilitations.workflow import Event, SectionStatus, Stage, State
from tracker.notify.models import OutboxMessage

TODAY = date.today()
EDITEUR_SIRET = with_luhn_key("4810000120001")
HEBERGEUR_SIRET = with_luhn_key("7530000340001")
EDITEUR_CONTACT = "marc.dupuis@logiciels-aquitaine.fr"
HEBERGEUR_CONTACT = "nadia.benali@datacentre-garonne.fr"
INVITATION_LINK = re.compile(r"http://tracker\.test/invitation/([A-Za-z0-9_-]+)")
CHANGE_REASON = "Indiquez la version exacte du logiciel qui sera homologuée."
SANDBOX_KEYS = ("projet", "cadre_juridique", "donnees", "donnees_personnelles", "contacts", "modalites", "hebergement")

# --- what each party types ----------------------------------------------------------------------------

PROJET = {
    "intitule": "Dites-le-nous une fois – Cantine scolaire",
    "description": "Le portail famille de Mérignac calcule le tarif de la restauration scolaire au quotient "
    "familial à partir du revenu fiscal de référence et du nombre de parts, sans demander l'avis "
    "d'imposition aux 4 800 familles inscrites.",
    "use_case": "cantine_scolaire",
    "date_prevue_mise_en_production": (TODAY + timedelta(days=120)).isoformat(),
    "volumetrie_approximative": "4800",
}
CADRE_JURIDIQUE = {
    "cadre_juridique_nature": "Règlement (UE) 2016/679 (RGPD), article 6-1-e ; CRPA, articles L.114-8 et "
    "suivants ; délibération du conseil municipal n° 2025-047 du 12 mars 2025 fixant les tarifs de la "
    "restauration scolaire selon le quotient familial.",
    "cadre_juridique_url": "https://www.merignac.fr/deliberations/2025-047.pdf",
}
# The use case's recommendation: one revenue year, the RFR and the number of parts; nothing to justify.
DONNEES = {"scopes": ["dgfip_annee_n_moins_1", "dgfip_rfr", "dgfip_nbpart"]}
DONNEES_PERSONNELLES = {
    "destinataires": "Agents instructeurs des demandes de restauration scolaire (direction de l'éducation).",
    "duree_conservation_mois": "24",
    "registre_reference": "Registre des traitements n° 2025-12 – Restauration scolaire",
    "aipd_realisee": "oui",
    "aipd_date": (TODAY - timedelta(days=60)).isoformat(),
}
CONTACTS = {
    "responsable_nom": "Bernard",
    "responsable_prenom": "Sophie",
    "responsable_fonction": "Maire",
    "responsable_email": "cabinet@merignac.fr",
    "responsable_telephone": "05 56 55 66 00",
    "dpo_nom": "Martin",
    "dpo_prenom": "Claire",
    "dpo_fonction": "Déléguée à la protection des données",
    "dpo_email": "dpo@merignac.fr",
    "dpo_telephone": "+33 5 56 55 66 10",
}
MODALITES = {
    "modalites_acces": ["with_spi"],
    "logiciel_nom": "Cantine+ Portail Famille",
    "logiciel_version": "4.2",
    "contact_technique_nom": "Dupuis",
    "contact_technique_prenom": "Marc",
    "contact_technique_fonction": "Chef de projet intégration",
    "contact_technique_email": EDITEUR_CONTACT,
    "contact_technique_telephone": "05 57 12 34 56",
    "email_technique_generique": "support@logiciels-aquitaine.fr",
}
HEBERGEMENT = {
    "hebergeur_raison_sociale": "Datacentre Garonne",
    "hebergeur_siret": HEBERGEUR_SIRET,
    "localisation_donnees": "france",
    "certifications": ["iso27001"],
    "iso27001_date_delivrance": (TODAY - timedelta(days=200)).isoformat(),
    "iso27001_date_expiration": (TODAY + timedelta(days=900)).isoformat(),
    "sous_traitants": "Aucun",
    "engagement_article_28": "y",
}
RECETTE = {
    "recette_realisee": "y",
    "recette_date": (TODAY - timedelta(days=10)).isoformat(),
    "recette_observations": "Calcul du quotient familial vérifié sur les 12 foyers fictifs du bac à sable.",
}
HOMOLOGATION = {
    "autorite_homologation_nom": "Sophie Bernard",
    "autorite_homologation_fonction": "Maire",
    "homologation_date_debut": (TODAY - timedelta(days=30)).isoformat(),
    "homologation_date_fin": (TODAY + timedelta(days=3 * 365)).isoformat(),
}
VOLUMETRIE = {
    "volumetrie_appels_par_minute": "100",
    "volumetrie_justification": "Pic des inscriptions à la rentrée : 4 800 familles en deux semaines.",
}


# --- the browser's side -------------------------------------------------------------------------------


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def hidden(body: str, name: str) -> str:
    """The value of the hidden input ``name`` of a page, as a browser would post it back."""
    tag = re.search(rf'<input[^>]*\bname="{re.escape(name)}"[^>]*>', body)
    assert tag is not None, f"no field {name} on the page"
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    assert value is not None, tag.group(0)
    return value.group(1)


def errors_of(response: TestResponse) -> str:
    """The error messages of a refused page, for assertion messages."""
    body = text(response)
    return " | ".join(re.findall(r"fr-(?:message--error|alert__title)[^>]*>([^<]+)<", body)) or body[:1500]


def pdf(name: str) -> tuple[io.BytesIO, str]:
    """A real one-page A4 PDF, as a file field of a multipart form."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return io.BytesIO(buffer.getvalue()), name


def post_section(
    client: FlaskClient, request_id: int, key: str, data: dict[str, Any], files: dict[str, Any] | None = None
) -> TestResponse:
    """Open the section page, then post its form with « Suivant » and the version the page carried."""
    url = f"/demandes/{request_id}/sections/{key}"
    page = client.get(url)
    assert page.status_code == 200, errors_of(page)
    form = {"version": hidden(text(page), "version"), "action": "next", **data, **(files or {})}
    return client.post(url, data=form, content_type="multipart/form-data")


def fill(
    client: FlaskClient, request_id: int, key: str, data: dict[str, Any], files: dict[str, Any] | None = None
) -> str:
    """Fill a section with « Suivant »; returns where the browser is sent next."""
    response = post_section(client, request_id, key, data, files)
    assert response.status_code == 302, f"{key}: {response.status_code} {errors_of(response)}"
    return response.headers["Location"]


def sign(client: FlaskClient, request_id: int, kind: str) -> None:
    """Open the attestation from the request page, read the statement, sign with name and function."""
    assert f"/demandes/{request_id}/attestations/{kind}" in text(client.get(f"/demandes/{request_id}"))
    page = text(client.get(f"/demandes/{request_id}/attestations/{kind}"))
    assert "Signer l'attestation" in page, f"{kind}: not signable"
    response = client.post(
        f"/demandes/{request_id}/attestations/{kind}",
        data={
            "version": hidden(page, "version"),
            "statement_version": hidden(page, "statement_version"),
            "signer_name": "Signataire du parcours",
            "signer_function": "Fonction du signataire",
            "confirm": "y",
        },
    )
    assert response.status_code == 302, f"{kind}: {response.status_code} {errors_of(response)}"


def accept_cgu(client: FlaskClient, request_id: int) -> None:
    page = text(client.get(f"/demandes/{request_id}"))
    assert 'name="accept_cgu"' in page
    response = client.post(
        f"/demandes/{request_id}/cgu",
        data={"version": hidden(page, "version"), "accept_cgu": "y", "dpo_informed": "y", "commitment": "y"},
    )
    assert response.status_code == 302, errors_of(response)


def take(
    client: FlaskClient, request_id: int, event: Event, *, reason: str = "", sections: tuple[str, ...] = ()
) -> TestResponse:
    """Post the detail page's form for ``event`` (fields prefixed by the event's name)."""
    page = text(client.get(f"/demandes/{request_id}"))
    prefix = event.value
    form: dict[str, Any] = {
        f"{prefix}-version": hidden(page, f"{prefix}-version"),
        f"{prefix}-request_id": hidden(page, f"{prefix}-request_id"),
        f"{prefix}-reason": reason,
        f"{prefix}-sections": list(sections),
    }
    return client.post(f"/demandes/{request_id}/evenements/{prefix}", data=form)


def took(client: FlaskClient, request_id: int, event: Event, **kwargs: Any) -> None:
    response = take(client, request_id, event, **kwargs)
    assert response.status_code == 302, f"{event.value}: {response.status_code} {errors_of(response)}"


def accept_invitation(app: Flask, session: Session, email: str, full_name: str) -> User:
    """The invited contact opens the emailed link in a browser of their own and creates the account."""
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "invitation", OutboxMessage.recipient == email)
    ).one()
    link = INVITATION_LINK.search(message.body_text)
    assert link is not None, message.body_text
    browser = app.test_client()
    assert browser.get(f"/invitation/{link.group(1)}").status_code == 200
    password = "le héron guette la Garonne au petit matin"
    response = browser.post(
        f"/invitation/{link.group(1)}",
        data={"full_name": full_name, "password": password, "password_confirmation": password},
    )
    assert response.status_code == 302, errors_of(response)
    return session.scalars(select(User).where(User.email == email)).one()


# --- reading back what the pages did -------------------------------------------------------------------


def reload(session: Session, request_id: int) -> HabilitationRequest:
    session.expire_all()
    request = session.get(HabilitationRequest, request_id)
    assert request is not None
    return request


def statuses(session: Session, request_id: int) -> dict[str, SectionStatus]:
    return {s.key: s.status for s in reload(session, request_id).sections}


def habilitations(session: Session, request_id: int) -> list[tuple[Stage, HabilitationState]]:
    session.expire_all()
    rows = session.scalars(select(Habilitation).where(Habilitation.request_id == request_id).order_by(Habilitation.id))
    return [(h.stage, h.state) for h in rows]


def section_url(request_id: int, key: str) -> str:
    return f"/demandes/{request_id}/sections/{key}"


def detail_url(request_id: int) -> str:
    return f"/demandes/{request_id}#soumission"


def is_open_to(client: FlaskClient, request_id: int, key: str) -> bool:
    """The section page offers « Suivant » and no read-only notice."""
    body = text(client.get(section_url(request_id, key)))
    return 'value="next"' in body and "n'est pas modifiable par vous en ce moment" not in body


def test_a_cantine_request_from_creation_to_an_updated_production_habilitation(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    commune = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Mérignac")
    dpo = make_user(session, commune, email="dpo@merignac.fr", full_name="Claire Martin")
    dgfip = make_organization(session, OrganizationKind.DGFIP, name="DGFiP – Bureau SI-2A")
    instructeur = make_user(
        session,
        dgfip,
        email="paul.girard@dgfip.finances.gouv.fr",
        full_name="Paul Girard",
        dgfip_function=DgfipFunction.INSTRUCTEUR,
    )
    session.commit()

    # 1. The commune's DPO creates the request from the « Cantine scolaire » use case.
    login(client, session, dpo)
    created = client.post("/demandes/nouvelle", data={"use_case": "cantine_scolaire", "path": "bac_a_sable"})
    assert created.status_code == 302, errors_of(created)
    match = re.fullmatch(r"/demandes/(\d+)/sections/projet", created.headers["Location"])
    assert match is not None, created.headers["Location"]
    rid = int(match.group(1))
    request = reload(session, rid)
    assert (request.state, request.stage, request.use_case) == (State.DRAFT, Stage.SANDBOX, "cantine_scolaire")

    # 2. It names an éditeur and a third-party hébergeur, both new to the tracker: each contact is invited.
    page = text(client.get(f"/demandes/{rid}/parties"))
    response = client.post(
        f"/demandes/{rid}/parties",
        data={
            "version": hidden(page, "version"),
            "editeur_siret": EDITEUR_SIRET,
            "editeur_name": "Logiciels Scolaires d'Aquitaine",
            "editeur_email": EDITEUR_CONTACT,
            "product_name": MODALITES["logiciel_nom"],
            "product_version": MODALITES["logiciel_version"],
            "hosting": "tiers",
            "hebergeur_siret": f"{HEBERGEUR_SIRET[:9]} {HEBERGEUR_SIRET[9:]}",  # as typed, with a space
            "hebergeur_name": "Datacentre Garonne",
            "hebergeur_email": HEBERGEUR_CONTACT,
        },
    )
    assert response.status_code == 302, errors_of(response)
    request = reload(session, rid)
    assert (request.editeur.siret, request.hebergeur.siret) == (EDITEUR_SIRET, HEBERGEUR_SIRET)  # type: ignore[union-attr]
    assert request.software_product.label == "Cantine+ Portail Famille 4.2"  # type: ignore[union-attr]
    invited = session.scalars(
        select(OutboxMessage.recipient)
        .where(OutboxMessage.template == "invitation", OutboxMessage.habilitation_request_id == rid)
        .order_by(OutboxMessage.recipient)
    ).all()
    assert invited == sorted([EDITEUR_CONTACT, HEBERGEUR_CONTACT])
    editeur = accept_invitation(app, session, EDITEUR_CONTACT, "Marc Dupuis")
    hebergeur = accept_invitation(app, session, HEBERGEUR_CONTACT, "Nadia Benali")
    assert editeur.memberships[0].organization_id == request.editeur_id
    assert hebergeur.memberships[0].organization_id == request.hebergeur_id

    # 3. Each party fills its own sections; « Suivant » leads to the party's next step, then each attests.
    # The commune: five sections, the legal basis with the signed délibération as a PDF.
    assert fill(client, rid, "projet", PROJET) == section_url(rid, "cadre_juridique")
    assert fill(
        client, rid, "cadre_juridique", CADRE_JURIDIQUE, {"cadre_juridique_documents": pdf("deliberation-2025-047.pdf")}
    ) == section_url(rid, "donnees")
    assert fill(client, rid, "donnees", DONNEES) == section_url(rid, "donnees_personnelles")
    assert fill(client, rid, "donnees_personnelles", DONNEES_PERSONNELLES) == section_url(rid, "contacts")
    assert fill(client, rid, "contacts", CONTACTS) == detail_url(rid)
    for kind in ("cadre_juridique", "rgpd"):
        sign(client, rid, kind)
    request = reload(session, rid)
    [deliberation] = request.section(Stage.SANDBOX, "cadre_juridique").data["cadre_juridique_documents"]  # type: ignore[union-attr]
    assert deliberation["name"] == "deliberation-2025-047.pdf"
    assert request.section(Stage.SANDBOX, "donnees").data == {"scopes": DONNEES["scopes"]}  # type: ignore[union-attr]

    # The éditeur: its access modalities; the hébergeur: its hosting, with its ISO 27001 certificate.
    login(client, session, editeur)
    assert fill(client, rid, "modalites", MODALITES) == detail_url(rid)
    sign(client, rid, "modalites")
    login(client, session, hebergeur)
    assert fill(
        client, rid, "hebergement", HEBERGEMENT, {"iso27001_certificat": pdf("certificat-iso27001.pdf")}
    ) == detail_url(rid)
    sign(client, rid, "hebergement")
    assert statuses(session, rid) == dict.fromkeys(SANDBOX_KEYS, SectionStatus.ATTESTED)

    # 4. The commune accepts the sandbox CGU and submits.
    login(client, session, dpo)
    accept_cgu(client, rid)
    took(client, rid, Event.SUBMIT)
    assert reload(session, rid).state is State.SUBMITTED

    # 5. The instructeur asks for a change of the éditeur's « modalités d'accès » only.
    login(client, session, instructeur)
    took(client, rid, Event.REQUEST_CHANGES, reason=CHANGE_REASON, sections=("modalites",))
    request = reload(session, rid)
    assert request.state is State.CHANGES_REQUESTED
    modalites = request.section(Stage.SANDBOX, "modalites")
    assert modalites is not None
    assert (modalites.is_change_requested, modalites.status) == (True, SectionStatus.COMPLETE)
    assert statuses(session, rid) == {
        **dict.fromkeys(SANDBOX_KEYS, SectionStatus.ATTESTED),
        "modalites": SectionStatus.COMPLETE,
    }
    # Every member of the éditeur hears which of its sections to change, and why.
    editeur_emails = session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == request.editeur_id)
    ).all()
    assert editeur_emails == [EDITEUR_CONTACT]
    for email in editeur_emails:
        [mail] = session.scalars(
            select(OutboxMessage).where(OutboxMessage.template == "changes_requested", OutboxMessage.recipient == email)
        ).all()
        assert "Sections à modifier par votre organisation :\n- Les modalités d'accès" in mail.body_text
        assert CHANGE_REASON in mail.body_text
    # Only « modalités » is open, and only to the éditeur.
    login(client, session, dpo)
    assert post_section(client, rid, "projet", PROJET).status_code == 409
    assert post_section(client, rid, "modalites", {**MODALITES, "logiciel_version": "5.0"}).status_code == 403
    login(client, session, editeur)
    assert is_open_to(client, rid, "modalites")

    # 6. The éditeur fixes the version and attests again; the commune resubmits; the instructeur approves.
    assert fill(client, rid, "modalites", {**MODALITES, "logiciel_version": "4.2.1"}) == detail_url(rid)
    sign(client, rid, "modalites")
    login(client, session, dpo)
    took(client, rid, Event.SUBMIT)
    login(client, session, instructeur)
    took(client, rid, Event.APPROVE, reason="Bac à sable accordé.")
    request = reload(session, rid)
    assert (request.state, request.stage) == (State.VALIDATED, Stage.SANDBOX)
    [sandbox] = request.habilitations
    assert sandbox.number == f"H{sandbox.id}"
    assert (sandbox.stage, sandbox.state) == (Stage.SANDBOX, HabilitationState.ACTIVE)
    assert sandbox.number in text(client.get(f"/demandes/{rid}"))

    # 7. The commune starts production: the sandbox sections are read-only, the production ones open.
    login(client, session, dpo)
    took(client, rid, Event.START_PRODUCTION)
    request = reload(session, rid)
    assert (request.state, request.stage, request.cgu_accepted_at) == (State.DRAFT, Stage.PRODUCTION, None)
    assert post_section(client, rid, "projet", PROJET).status_code == 409
    assert is_open_to(client, rid, "homologation") and is_open_to(client, rid, "volumetrie")
    login(client, session, editeur)
    assert post_section(client, rid, "modalites", {**MODALITES, "logiciel_version": "4.3"}).status_code == 409
    assert is_open_to(client, rid, "recette_fonctionnelle")
    assert fill(client, rid, "recette_fonctionnelle", RECETTE, {"recette_rapport": pdf("pv-recette.pdf")}) == (
        detail_url(rid)
    )
    sign(client, rid, "recette")
    login(client, session, dpo)
    assert fill(
        client, rid, "homologation", HOMOLOGATION, {"homologation_decision": pdf("decision-homologation.pdf")}
    ) == section_url(rid, "volumetrie")
    assert fill(client, rid, "volumetrie", VOLUMETRIE) == detail_url(rid)
    sign(client, rid, "homologation")
    accept_cgu(client, rid)
    took(client, rid, Event.SUBMIT)
    login(client, session, instructeur)
    took(client, rid, Event.APPROVE)
    assert habilitations(session, rid) == [
        (Stage.SANDBOX, HabilitationState.ACTIVE),
        (Stage.PRODUCTION, HabilitationState.ACTIVE),
    ]
    assert reload(session, rid).state is State.VALIDATED

    # 8. The commune reopens to update: without a change the submission is refused, then it raises
    # its volumetry, attests, and the instructeur approves the update.
    login(client, session, dpo)
    took(client, rid, Event.REOPEN)
    request = reload(session, rid)
    assert (request.state, request.stage, request.is_reopening) == (State.DRAFT, Stage.PRODUCTION, True)
    unchanged = take(client, rid, Event.SUBMIT)
    assert unchanged.status_code == 409
    assert "Aucune modification n'a été apportée depuis la dernière habilitation." in text(unchanged)
    assert reload(session, rid).state is State.DRAFT
    raised = {
        "volumetrie_appels_par_minute": "200",
        "volumetrie_justification": "Ouverture du service aux accueils périscolaires : 9 000 familles à la rentrée.",
    }
    assert fill(client, rid, "volumetrie", raised) == detail_url(rid)
    sign(client, rid, "homologation")
    if reload(session, rid).cgu_accepted_at is None:  # the production CGU may have to be accepted again
        accept_cgu(client, rid)
    took(client, rid, Event.SUBMIT)
    login(client, session, instructeur)
    took(client, rid, Event.APPROVE)
    assert habilitations(session, rid) == [
        (Stage.SANDBOX, HabilitationState.ACTIVE),
        (Stage.PRODUCTION, HabilitationState.OBSOLETE),
        (Stage.PRODUCTION, HabilitationState.ACTIVE),
    ]
    request = reload(session, rid)
    assert (request.state, request.stage, request.is_reopening) == (State.VALIDATED, Stage.PRODUCTION, False)
    first_production = request.habilitations[1]

    # 9. The timeline tells, field by field, what changed at the resubmission and at the update.
    submissions = session.scalars(
        select(TimelineEntry)
        .where(TimelineEntry.request_id == rid, TimelineEntry.event == Event.SUBMIT)
        .order_by(TimelineEntry.id)
    ).all()
    assert [entry.stage for entry in submissions] == [Stage.SANDBOX, Stage.SANDBOX, Stage.PRODUCTION, Stage.PRODUCTION]
    assert [c["field"] for c in submissions[1].details["changes"]] == ["Version du logiciel"]
    assert [c["field"] for c in submissions[3].details["changes"]] == [
        "Nombre d'appels par minute",
        "Justification de la volumétrie",
    ]
    login(client, session, dpo)
    timeline = text(client.get(f"/demandes/{rid}"))
    assert "Changements depuis la soumission précédente :" in timeline
    assert "Le champ « Version du logiciel » a changé de « 4.2 » en « 4.2.1 »." in timeline
    assert f"Changements depuis l'habilitation {first_production.number} :" in timeline
    assert (
        "Le champ « Nombre d'appels par minute » a changé de « 100 appels par minute » en « 200 appels par minute »."
        in timeline
    )
    assert CHANGE_REASON in timeline

    # Every party, and the DGFiP, reads the whole request on its summary page.
    for user in (dpo, editeur, hebergeur, instructeur):
        login(client, session, user)
        summary = client.get(f"/demandes/{rid}/recapitulatif")
        assert summary.status_code == 200, user.email
        body = text(summary)
        for label, value in (
            ("Mon projet", PROJET["intitule"]),
            ("Le cadre juridique", "deliberation-2025-047.pdf"),
            ("Les données", "Revenu fiscal de référence"),
            ("Les personnes impliquées", "cabinet@merignac.fr"),
            ("Les modalités d'accès", "Cantine+ Portail Famille"),
            ("Version du logiciel", "4.2.1"),
            ("L'hébergement", "En France"),
            ("La recette fonctionnelle", RECETTE["recette_observations"]),
            ("L'homologation de sécurité", "decision-homologation.pdf"),
            ("La volumétrie", "200 appels par minute"),
        ):
            assert label in body and value in body, (user.email, label, value)
