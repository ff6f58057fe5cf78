"""The collectivité names its éditeur and hébergeur by SIRET; unknown organizations are created and
their first user invited (DOMAIN §4)."""

from __future__ import annotations

import html
import re

import pytest
from factories import login, make_organization, make_user, principal_for
from flask.testing import FlaskClient
from smtp import SmtpSink, smtp_server  # noqa: F401 (the fixture, for this module)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from habilitations.builders import fill_every_section
from tracker.accounts.models import Invitation, Organization, OrganizationKind, User
from tracker.accounts.siret import with_luhn_key
from tracker.audit.models import AuditEntry
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.parties import Hosting, hosting_of
from tracker.habilitations.workflow import Actor, Event
from tracker.notify.models import OutboxMessage
from tracker.notify.worker import deliver_due

NEW_EDITEUR = with_luhn_key("5120000070001")
NEW_HEBERGEUR = with_luhn_key("6920000080001")


@pytest.fixture
def dpo(session: Session) -> User:
    user = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Pessac"))
    session.commit()
    return user


@pytest.fixture
def draft(session: Session, dpo: User) -> HabilitationRequest:
    request = services.create_request(session, principal=principal_for(dpo), use_case="cantine_scolaire")
    session.commit()
    return request


def _post(client: FlaskClient, session: Session, request: HabilitationRequest, **fields: str):  # type: ignore[no-untyped-def]
    version = session.get(HabilitationRequest, request.id).version  # type: ignore[union-attr]
    product = {"product_name": "Cantine+", "product_version": "4.2"}
    return client.post(f"/demandes/{request.id}/parties", data={"version": str(version), **product, **fields})


def _body(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def test_a_new_editeur_is_created_and_its_contact_invited_by_email(
    app,
    client: FlaskClient,
    session: Session,
    dpo: User,
    draft: HabilitationRequest,
    smtp_server: SmtpSink,  # noqa: F811
) -> None:
    login(client, session, dpo)
    assert "Désigner l'éditeur et l'hébergeur" in _body(client.get(f"/demandes/{draft.id}"))
    response = _post(
        client,
        session,
        draft,
        editeur_siret=f"{NEW_EDITEUR[:9]} {NEW_EDITEUR[9:]}",
        editeur_name="Logiciels du Sud-Ouest",
        editeur_email="Contact@Logiciels-SO.fr",
        hosting=Hosting.SAME_AS_EDITEUR.value,
    )
    assert response.status_code == 302 and response.headers["Location"] == f"/demandes/{draft.id}"

    request = session.get(HabilitationRequest, draft.id)
    editeur = session.execute(select(Organization).where(Organization.siret == NEW_EDITEUR)).scalar_one()
    assert (editeur.kind, editeur.name) == (OrganizationKind.EDITEUR, "Logiciels du Sud-Ouest")
    assert request.editeur_id == request.hebergeur_id == editeur.id  # type: ignore[union-attr]
    assert hosting_of(request) is Hosting.SAME_AS_EDITEUR  # type: ignore[arg-type]
    invitation = session.execute(select(Invitation)).scalar_one()
    assert (invitation.email, invitation.organization_id, invitation.habilitation_request_id) == (
        "contact@logiciels-so.fr",
        editeur.id,
        draft.id,
    )
    assert session.execute(select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one() == (
        "request.parties_designated"
    )

    assert deliver_due(session, smtp_server.outbox_settings(app.config), worker_id="parties").sent == 1
    [mail] = smtp_server.to("contact@logiciels-so.fr")
    assert f"Commune de Pessac a désigné votre organisation comme éditeur de sa demande d'habilitation D{draft.id}" in (
        mail.text.replace("\n", " ")
    )


def test_a_known_editeur_with_users_is_linked_without_invitation_and_then_sees_the_request(
    client: FlaskClient, session: Session, dpo: User, draft: HabilitationRequest
) -> None:
    editeur = make_organization(session, OrganizationKind.EDITEUR, name="Éditeur Connu")
    editeur_user = make_user(session, editeur)
    hebergeur = make_organization(session, OrganizationKind.HEBERGEUR, name="Hébergeur Connu")
    make_user(session, hebergeur)
    session.commit()
    login(client, session, dpo)
    response = _post(
        client,
        session,
        draft,
        editeur_siret=editeur.siret,
        hosting=Hosting.THIRD_PARTY.value,
        hebergeur_siret=hebergeur.siret,
    )
    assert response.status_code == 302
    request = session.get(HabilitationRequest, draft.id)
    assert (request.editeur_id, request.hebergeur_id) == (editeur.id, hebergeur.id)  # type: ignore[union-attr]
    assert session.execute(select(func.count()).select_from(Invitation)).scalar_one() == 0
    assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 0

    login(client, session, editeur_user)
    assert f"D{draft.id}" in _body(client.get("/"))
    assert client.get(f"/demandes/{draft.id}").status_code == 200


def test_the_collectivite_may_host_itself(
    client: FlaskClient, session: Session, dpo: User, draft: HabilitationRequest
) -> None:
    editeur = make_organization(session, OrganizationKind.EDITEUR)
    make_user(session, editeur)
    session.commit()
    login(client, session, dpo)
    assert (
        _post(client, session, draft, editeur_siret=editeur.siret, hosting=Hosting.COLLECTIVITE.value).status_code
        == 302
    )
    request = session.get(HabilitationRequest, draft.id)
    assert request.hebergeur_id == request.organization_id  # type: ignore[union-attr]
    assert hosting_of(request) is Hosting.COLLECTIVITE  # type: ignore[arg-type]
    # The form shows the current choice when it is opened again.
    assert re.search(r'<input checked[^>]* value="collectivite"', _body(client.get(f"/demandes/{draft.id}/parties")))


@pytest.mark.parametrize(
    ("fields", "field_id", "message"),
    [
        ({"editeur_siret": "12345678901234"}, "editeur_siret", "clé de contrôle incorrecte"),
        ({"editeur_siret": NEW_EDITEUR}, "editeur_name", "indiquez sa raison sociale"),
        (
            {"editeur_siret": NEW_EDITEUR, "editeur_name": "Nouvel Éditeur"},
            "editeur_email",
            "indiquez l'adresse électronique de la personne à inviter",
        ),
        ({"editeur_siret": ""}, "editeur_siret", "Indiquez le SIRET de l'éditeur."),
        (
            {"editeur_siret": NEW_EDITEUR, "editeur_name": "X", "editeur_email": "pas-une-adresse"},
            "editeur_email",
            "Cette adresse électronique n'est pas valide.",
        ),
    ],
)
def test_errors_are_shown_next_to_the_field_and_nothing_changes(
    client: FlaskClient,
    session: Session,
    dpo: User,
    draft: HabilitationRequest,
    fields: dict,
    field_id: str,
    message: str,
) -> None:
    login(client, session, dpo)
    response = _post(client, session, draft, hosting=Hosting.SAME_AS_EDITEUR.value, **fields)
    assert response.status_code == 422
    body = _body(response)
    assert message in body.split(f'id="{field_id}-messages"', 1)[1].split("</div>", 1)[0]
    request = session.get(HabilitationRequest, draft.id)
    assert request.editeur_id is None and request.hebergeur_id is None  # type: ignore[union-attr]
    assert session.execute(select(Organization).where(Organization.siret == NEW_EDITEUR)).scalar_one_or_none() is None
    if fields.get("editeur_name"):
        assert f'value="{fields["editeur_name"]}"' in body  # what was typed comes back


def test_an_organization_of_the_wrong_kind_is_refused(
    client: FlaskClient, session: Session, dpo: User, draft: HabilitationRequest
) -> None:
    other_commune = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune Voisine")
    session.commit()
    login(client, session, dpo)
    response = _post(client, session, draft, editeur_siret=other_commune.siret, hosting=Hosting.SAME_AS_EDITEUR.value)
    assert response.status_code == 422
    assert "enregistrée comme collectivité, pas comme éditeur" in _body(response)


def test_only_the_collectivite_of_an_editable_request_designates(
    client: FlaskClient, session: Session, dpo: User, draft: HabilitationRequest
) -> None:
    editeur = make_organization(session, OrganizationKind.EDITEUR)
    editeur_user = make_user(session, editeur)
    outsider = make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE))
    draft.editeur = draft.hebergeur = editeur
    session.commit()
    fields = {"editeur_siret": editeur.siret, "hosting": Hosting.SAME_AS_EDITEUR.value}

    login(client, session, editeur_user)
    assert client.get(f"/demandes/{draft.id}/parties").status_code == 403
    assert _post(client, session, draft, **fields).status_code == 403
    login(client, session, outsider)
    assert _post(client, session, draft, **fields).status_code == 404

    login(client, session, dpo)
    product = {"product_name": "Cantine+", "product_version": "4.2"}
    stale = client.post(f"/demandes/{draft.id}/parties", data={"version": str(draft.version - 1), **product, **fields})
    assert stale.status_code == 409
    assert "rechargez la page" in _body(stale)

    fill_every_section(
        session, draft, {Actor.COLLECTIVITE: principal_for(dpo), Actor.EDITEUR: principal_for(editeur_user)}
    )
    services.accept_cgu(session, draft, principal=principal_for(dpo), expected_version=None)
    services.apply_event(session, draft, Event.SUBMIT, principal=principal_for(dpo))
    session.commit()
    locked = _post(client, session, draft, **fields)
    assert locked.status_code == 409
    assert "la demande n'est pas modifiable" in _body(locked)


def test_the_organization_playing_a_party_owns_its_sections(
    session: Session, dpo: User, draft: HabilitationRequest
) -> None:
    """The hébergement section goes to whoever hosts: the collectivité itself, or the éditeur."""
    from tracker.catalogue.definitions import SectionDefinition
    from tracker.habilitations.parties import PartyContact, designate_parties
    from tracker.habilitations.services import owns_section
    from tracker.habilitations.workflow import Actor, Stage

    editeur = make_organization(session, OrganizationKind.EDITEUR)
    editeur_member = principal_for(make_user(session, editeur))
    collectivite_member = principal_for(dpo)
    hebergement = SectionDefinition("hebergement", "L'hébergement", Actor.HEBERGEUR, Stage.SANDBOX, ())
    modalites = SectionDefinition("modalites", "Les modalités d'accès", Actor.EDITEUR, Stage.SANDBOX, ())

    def designate(hosting: Hosting) -> None:
        designate_parties(
            session,
            draft,
            principal=collectivite_member,
            editeur=PartyContact(editeur.siret),
            hosting=hosting,
            expected_version=None,
        )

    designate(Hosting.COLLECTIVITE)
    assert owns_section(draft, hebergement, collectivite_member)
    assert not owns_section(draft, hebergement, editeur_member)
    assert owns_section(draft, modalites, editeur_member) and not owns_section(draft, modalites, collectivite_member)
    designate(Hosting.SAME_AS_EDITEUR)
    assert owns_section(draft, hebergement, editeur_member)
    assert not owns_section(draft, hebergement, collectivite_member)


def test_saving_the_same_designation_again_does_not_invite_twice(
    client: FlaskClient, session: Session, dpo: User, draft: HabilitationRequest
) -> None:
    login(client, session, dpo)
    fields = {
        "editeur_siret": NEW_EDITEUR,
        "editeur_name": "Logiciels du Sud-Ouest",
        "editeur_email": "contact@logiciels-so.fr",
        "hosting": Hosting.SAME_AS_EDITEUR.value,
    }
    assert _post(client, session, draft, **fields).status_code == 302
    assert _post(client, session, draft, **fields).status_code == 302
    assert session.execute(select(func.count()).select_from(Invitation)).scalar_one() == 1
    assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1
    # Another contact at the same, still account-less, éditeur is invited in turn.
    assert _post(client, session, draft, **{**fields, "editeur_email": "dsi@logiciels-so.fr"}).status_code == 302
    assert session.execute(select(func.count()).select_from(Invitation)).scalar_one() == 2


def test_the_collectivite_names_the_editeur_software_which_the_editeur_then_lists(
    client: FlaskClient, session: Session, dpo: User, draft: HabilitationRequest
) -> None:
    editeur = make_organization(session, OrganizationKind.EDITEUR)
    editeur_user = make_user(session, editeur)
    session.commit()
    login(client, session, dpo)
    fields = {"editeur_siret": editeur.siret, "hosting": Hosting.SAME_AS_EDITEUR.value}
    missing = client.post(f"/demandes/{draft.id}/parties", data={"version": str(draft.version), **fields})
    assert missing.status_code == 422
    assert "Indiquez le nom du logiciel." in _body(missing)
    assert "Indiquez la version du logiciel." in _body(missing)

    assert _post(client, session, draft, **fields).status_code == 302
    session.refresh(draft)
    assert draft.software_product is not None and draft.software_product.label == "Cantine+ 4.2"
    assert draft.software_product.editeur_id == editeur.id
    # The same software named again is the same product.
    assert _post(client, session, draft, **fields, product_name="cantine+").status_code == 302
    session.refresh(draft)
    assert draft.software_product.name == "Cantine+"

    login(client, session, editeur_user)
    assert "Cantine+ 4.2" in _body(client.get("/logiciels"))
