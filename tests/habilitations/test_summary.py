"""The summary page shows the whole request, read-only, in French, to every party and the DGFiP."""

from __future__ import annotations

import html

from factories import login, make_organization, make_user, principal_for
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from habilitations.builders import fill_every_section, sign_ready_attestations
from tracker.accounts.models import OrganizationKind
from tracker.habilitations import services
from tracker.habilitations.parties import Hosting, PartyContact, designate_parties
from tracker.habilitations.workflow import Actor, Event


def test_every_party_and_the_dgfip_read_the_same_summary(client: FlaskClient, session: Session) -> None:
    commune = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Bègles")
    dpo = principal_for(make_user(session, commune))
    editeur = make_organization(session, OrganizationKind.EDITEUR, name="Éditeur Garonne")
    vendor = make_user(session, editeur)
    instructeur = make_user(session, make_organization(session, OrganizationKind.DGFIP))
    outsider = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE))
    request = services.create_request(session, principal=dpo, use_case="place_creche")
    designate_parties(
        session,
        request,
        principal=dpo,
        editeur=PartyContact(editeur.siret),
        hosting=Hosting.COLLECTIVITE,
        expected_version=None,
    )
    services.save_section(
        session,
        request,
        "projet",
        {
            "intitule": "Crèches <municipales>",
            "description": "Participation des familles.\nDeux lignes.",
            "use_case": "place_creche",
            "date_prevue_mise_en_production": "2027-01-04",
        },
        principal=dpo,
        expected_version=None,
    )
    sign_ready_attestations(session, request, [dpo])
    fill_every_section(
        session, request, {Actor.COLLECTIVITE: dpo, Actor.EDITEUR: principal_for(vendor)}, except_keys=("projet",)
    )
    services.accept_cgu(session, request, principal=dpo, expected_version=None)
    services.apply_event(session, request, Event.SUBMIT, principal=dpo)
    session.commit()

    url = f"/demandes/{request.id}/recapitulatif"
    pages = {}
    for user in (dpo.user, vendor, instructeur):
        login(client, session, user)
        response = client.get(url)
        assert response.status_code == 200
        pages[user.email] = html.unescape(response.get_data(as_text=True).split('id="contenu"')[1])
    page = pages[dpo.user.email]
    assert page == pages[vendor.email] == pages[instructeur.email]
    for text in (
        "Mon projet",
        "Nom du projet",
        "Crèches <municipales>",
        "Cas d'usage",
        "Place en crèche",
        "Date prévue de mise en production",
        "04/01/2027",
        "Éditeur Garonne",
        "la collectivité héberge elle-même (sur site)",
        "Version 2024-01 acceptée",
    ):
        assert text in page, text
    assert "Crèches &lt;municipales&gt;" in client.get(url).get_data(as_text=True)  # escaped, never markup

    login(client, session, outsider)
    assert client.get(url).status_code == 404
