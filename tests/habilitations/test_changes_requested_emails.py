"""A request for changes reopens the named sections and tells their owners, and the collectivité, by
e-mail through the outbox (checked at a real SMTP server on loopback)."""

from __future__ import annotations

from factories import make_organization, make_user, principal_for
from flask import Flask
from smtp import SmtpSink, smtp_server  # noqa: F401 (the fixture, for this module)
from sqlalchemy.orm import Session

from habilitations.builders import fill_every_section
from tracker.accounts.models import OrganizationKind
from tracker.habilitations import services
from tracker.habilitations.parties import Hosting, PartyContact, designate_parties
from tracker.habilitations.workflow import Actor, Event, SectionStatus
from tracker.notify.worker import deliver_due


def test_owners_of_the_named_sections_and_the_collectivite_are_told(
    app: Flask,
    session: Session,
    smtp_server: SmtpSink,  # noqa: F811
) -> None:
    commune = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Mérignac")
    dpo = principal_for(make_user(session, commune, email="dpo@merignac.fr"))
    editeur = make_organization(session, OrganizationKind.EDITEUR, name="Éditeur Atlantique")
    vendor = principal_for(make_user(session, editeur, email="projet@editeur-atlantique.fr"))
    bystander = make_organization(session, OrganizationKind.EDITEUR, name="Autre Éditeur")
    make_user(session, bystander, email="personne@autre-editeur.fr")
    instructeur = principal_for(make_user(session, make_organization(session, OrganizationKind.DGFIP)))

    request = services.create_request(session, principal=dpo, use_case="cantine_scolaire")
    designate_parties(
        session,
        request,
        principal=dpo,
        editeur=PartyContact(editeur.siret),
        hosting=Hosting.SAME_AS_EDITEUR,
        expected_version=None,
    )
    fill_every_section(session, request, {Actor.COLLECTIVITE: dpo, Actor.EDITEUR: vendor})
    services.accept_cgu(session, request, principal=dpo, expected_version=None)
    services.apply_event(session, request, Event.SUBMIT, principal=dpo)
    session.commit()
    # The submission's own emails (acknowledgement, notice to the instructor) leave first.
    assert deliver_due(session, smtp_server.outbox_settings(app.config), worker_id="submit").sent == 2
    smtp_server.clear()
    services.apply_event(
        session,
        request,
        Event.REQUEST_CHANGES,
        principal=instructeur,
        reason="Indiquez la version exacte homologuée.",
        sections=["modalites"],
    )
    session.commit()

    statuses = {s.key: s.status for s in request.sections}
    assert statuses.pop("modalites") is SectionStatus.COMPLETE
    assert set(statuses.values()) == {SectionStatus.ATTESTED}
    assert deliver_due(session, smtp_server.outbox_settings(app.config), worker_id="changes").sent == 2

    def text(mail) -> str:  # type: ignore[no-untyped-def]
        return mail.text.replace("\r\n", "\n")

    [to_vendor] = smtp_server.to("projet@editeur-atlantique.fr")
    assert to_vendor.message["Subject"] == f"Demande D{request.id} : la DGFiP demande des modifications"
    assert "Sections à modifier par votre organisation :\n- Les modalités d'accès" in text(to_vendor)
    assert "Indiquez la version exacte homologuée." in text(to_vendor)
    [to_dpo] = smtp_server.to("dpo@merignac.fr")
    assert "Sections à modifier par votre organisation" not in text(to_dpo)
    assert "Sections rouvertes sur l'ensemble de la demande :\n- Les modalités d'accès" in text(to_dpo)
    assert smtp_server.to("personne@autre-editeur.fr") == []
