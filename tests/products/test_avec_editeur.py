"""The « avec éditeur » path (DOMAIN §3): an éditeur declares its products and obtains a sandbox
habilitation for one; collectivités then ask for production directly for that product."""

from __future__ import annotations

import re

import pytest
from factories import login, make_organization, make_user, principal_for
from flask.testing import FlaskClient
from habilitations.builders import fill_every_section
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind, User
from tracker.accounts.principal import Principal
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest, HabilitationState
from tracker.habilitations.workflow import Actor, Event, GuardFailed, SectionStatus, Stage, State, available_events
from tracker.products.models import SoftwareProduct


@pytest.fixture
def editeur_user(session: Session) -> User:
    return make_user(session, make_organization(session, OrganizationKind.EDITEUR, name="Logiciels du Sud"))


@pytest.fixture
def dpo(session: Session) -> User:
    return make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Lacanau"))


@pytest.fixture
def instructeur(session: Session) -> Principal:
    return principal_for(make_user(session, make_organization(session, OrganizationKind.DGFIP)))


def _body(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def _declare(client: FlaskClient, name: str = "Cantine+", version: str = "4.2"):  # type: ignore[no-untyped-def]
    return client.post("/logiciels", data={"name": name, "version": version})


def _sandbox_for(
    session: Session, editeur: Principal, product: SoftwareProduct, instructeur: Principal
) -> HabilitationRequest:
    """The éditeur's own sandbox request for ``product``, filled by itself and approved."""
    request = services.create_request(session, principal=editeur, use_case="cantine_scolaire", product=product)
    fill_every_section(session, request, {Actor.EDITEUR: editeur})
    services.accept_cgu(session, request, principal=editeur, expected_version=None)
    services.apply_event(session, request, Event.SUBMIT, principal=editeur)
    services.apply_event(session, request, Event.APPROVE, principal=instructeur)
    session.commit()
    return request


def test_an_editeur_declares_its_products_once(
    client: FlaskClient, session: Session, editeur_user: User, dpo: User
) -> None:
    login(client, session, editeur_user)
    assert _declare(client).status_code == 302
    duplicate = _declare(client, name=" cantine+ ", version="4.2")
    assert duplicate.status_code == 422
    assert "Le logiciel Cantine+ 4.2 est déjà déclaré." in _body(duplicate)
    missing = _declare(client, version="")
    assert missing.status_code == 422
    assert "Indiquez la version du logiciel." in _body(missing)
    page = client.get("/logiciels")
    assert "Cantine+ 4.2" in _body(page)
    assert "Pas encore d'habilitation" in _body(page)

    login(client, session, dpo)
    assert client.get("/logiciels").status_code == 403
    assert _declare(client).status_code == 403


def test_the_editeur_runs_the_sandbox_request_of_its_product_playing_every_party(
    client: FlaskClient, session: Session, editeur_user: User, instructeur: Principal
) -> None:
    login(client, session, editeur_user)
    _declare(client)
    product = session.execute(select(SoftwareProduct)).scalar_one()
    response = client.post("/demandes/nouvelle", data={"use_case": "cantine_scolaire", "product_id": str(product.id)})
    assert response.status_code == 302
    request_id = int(re.search(r"/demandes/(\d+)/", response.headers["Location"]).group(1))  # type: ignore[union-attr]
    request = session.get(HabilitationRequest, request_id)
    assert request is not None
    organization = editeur_user.memberships[0].organization
    assert (request.organization_id, request.editeur_id, request.hebergeur_id) == (organization.id,) * 3
    assert request.software_product_id == product.id and request.stage is Stage.SANDBOX
    # The software's name and version are already in the modalities.
    modalites = request.section(Stage.SANDBOX, "modalites")
    assert modalites is not None and modalites.data == {"logiciel_nom": "Cantine+", "logiciel_version": "4.2"}
    # It owns every section of its request, hosting included.
    editeur = principal_for(editeur_user)
    assert [s.key for s in services.steps_for(request, editeur)] == [
        s.key for s in services.definitions_in_form(request)
    ]
    fill_every_section(session, request, {Actor.EDITEUR: editeur})
    services.accept_cgu(session, request, principal=editeur, expected_version=None)
    services.apply_event(session, request, Event.SUBMIT, principal=editeur)
    services.apply_event(session, request, Event.APPROVE, principal=instructeur)
    session.commit()
    assert "H" in _body(client.get("/logiciels")) and "Active" in _body(client.get("/logiciels"))


def test_an_editeur_may_only_start_requests_for_its_own_products(
    client: FlaskClient, session: Session, editeur_user: User
) -> None:
    other = make_organization(session, OrganizationKind.EDITEUR)
    foreign = SoftwareProduct(editeur_id=other.id, name="Autre", version="1")
    session.add(foreign)
    session.commit()
    login(client, session, editeur_user)
    response = client.post("/demandes/nouvelle", data={"use_case": "cantine_scolaire", "product_id": str(foreign.id)})
    assert response.status_code == 422
    assert "Choisissez l&#39;un de vos logiciels." in _body(response)
    assert session.execute(select(HabilitationRequest)).first() is None


def test_production_avec_editeur_refuses_a_product_whose_sandbox_is_not_active(
    client: FlaskClient, session: Session, editeur_user: User, dpo: User, instructeur: Principal
) -> None:
    editeur = principal_for(editeur_user)
    product = SoftwareProduct(editeur_id=editeur.organization.id, name="Cantine+", version="4.2")
    session.add(product)
    session.commit()
    login(client, session, dpo)
    form = {"use_case": "cantine_scolaire", "path": "avec_editeur", "product_id": str(product.id)}

    # No sandbox habilitation at all.
    response = client.post("/demandes/nouvelle", data=form)
    assert response.status_code == 422
    assert "Ce logiciel n&#39;a pas encore d&#39;habilitation bac à sable." in _body(response)

    # A sandbox request still being instructed.
    own = services.create_request(session, principal=editeur, use_case="cantine_scolaire", product=product)
    fill_every_section(session, own, {Actor.EDITEUR: editeur})
    services.accept_cgu(session, own, principal=editeur, expected_version=None)
    services.apply_event(session, own, Event.SUBMIT, principal=editeur)
    session.commit()
    assert client.post("/demandes/nouvelle", data=form).status_code == 422
    assert "Cantine+ 4.2" not in _body(client.get("/demandes/nouvelle"))

    # Approved, then revoked: refused again, with the workflow's reason.
    services.apply_event(session, own, Event.APPROVE, principal=instructeur)
    services.apply_event(session, own, Event.REVOKE, principal=instructeur, reason="Faille de sécurité du logiciel.")
    session.commit()
    revoked = client.post("/demandes/nouvelle", data=form)
    assert revoked.status_code == 409
    assert "L&#39;habilitation bac à sable de l&#39;éditeur pour ce logiciel n&#39;est pas active." in _body(revoked)
    assert (
        session.execute(
            select(HabilitationRequest).where(HabilitationRequest.organization_id == dpo.memberships[0].organization_id)
        ).first()
        is None
    )


def test_production_avec_editeur_records_the_product_and_its_sandbox_habilitation(
    client: FlaskClient, session: Session, editeur_user: User, dpo: User, instructeur: Principal
) -> None:
    editeur = principal_for(editeur_user)
    product = SoftwareProduct(editeur_id=editeur.organization.id, name="Cantine+", version="4.2")
    session.add(product)
    sandbox = _sandbox_for(session, editeur, product, instructeur)
    sandbox_habilitation = sandbox.habilitations[0]

    login(client, session, dpo)
    assert f"Cantine+ 4.2 – Logiciels du Sud (bac à sable {sandbox_habilitation.number})" in _body(
        client.get("/demandes/nouvelle")
    )
    response = client.post(
        "/demandes/nouvelle",
        data={"use_case": "cantine_scolaire", "path": "avec_editeur", "product_id": str(product.id)},
    )
    assert response.status_code == 302
    request = session.execute(
        select(HabilitationRequest).where(HabilitationRequest.organization_id == dpo.memberships[0].organization_id)
    ).scalar_one()
    assert (request.state, request.stage) == (State.DRAFT, Stage.PRODUCTION)
    assert request.software_product_id == product.id
    assert request.editeur_sandbox_habilitation_id == sandbox_habilitation.id
    assert request.editeur_id == editeur.organization.id
    # The éditeur's modalities come from its approved sandbox, to be checked and attested again.
    modalites = request.section(Stage.SANDBOX, "modalites")
    assert modalites is not None
    assert modalites.data == sandbox_habilitation.snapshot["sections"]["sandbox/modalites"]["data"]
    assert modalites.status is SectionStatus.COMPLETE

    # Every section is open in this one stage: the collectivité's own sandbox sections too.
    collectivite = principal_for(dpo)
    keys = [s.key for s in services.definitions_in_form(request)]
    assert keys[:2] == ["projet", "cadre_juridique"] and keys[-1] == "volumetrie"
    assert client.get(f"/demandes/{request.id}/sections/projet").status_code == 200
    facts = services.facts_for(request)
    assert Event.CANCEL_PRODUCTION not in available_events(facts, Actor.COLLECTIVITE)

    # The collectivité names its hébergeur; the éditeur cannot be changed.
    other_editeur = make_organization(session, OrganizationKind.EDITEUR)
    session.commit()
    swap = client.post(
        f"/demandes/{request.id}/parties",
        data={"version": str(request.version), "editeur_siret": other_editeur.siret, "hosting": "editeur"},
    )
    assert swap.status_code == 422
    assert "l&#39;éditeur ne peut pas changer" in _body(swap)
    keep = client.post(
        f"/demandes/{request.id}/parties",
        data={"version": str(request.version), "editeur_siret": editeur.organization.siret, "hosting": "editeur"},
    )
    assert keep.status_code == 302

    session.refresh(request)
    fill_every_section(session, request, {Actor.COLLECTIVITE: collectivite, Actor.EDITEUR: editeur})
    services.accept_cgu(session, request, principal=collectivite, expected_version=None)
    services.apply_event(session, request, Event.SUBMIT, principal=collectivite)
    services.apply_event(session, request, Event.APPROVE, principal=instructeur)
    session.commit()
    [production] = request.habilitations
    assert (production.stage, production.state) == (Stage.PRODUCTION, HabilitationState.ACTIVE)
    assert sandbox_habilitation.state is HabilitationState.ACTIVE, "the éditeur's habilitation is its own"
    assert "sandbox/projet" in production.snapshot["sections"]


def test_the_editeur_sandbox_never_moves_to_production_itself(
    session: Session, editeur_user: User, instructeur: Principal
) -> None:
    editeur = principal_for(editeur_user)
    product = SoftwareProduct(editeur_id=editeur.organization.id, name="Cantine+", version="4.2")
    session.add(product)
    request = _sandbox_for(session, editeur, product, instructeur)
    assert request.is_editeur_sandbox
    facts = services.facts_for(request)
    assert Event.START_PRODUCTION not in available_events(facts, Actor.COLLECTIVITE)
    with pytest.raises(services.WorkflowError):
        services.apply_event(session, request, Event.START_PRODUCTION, principal=editeur)
    assert Event.REOPEN in available_events(facts, Actor.COLLECTIVITE), "it may still update its habilitation"


@pytest.mark.parametrize("product_id", [None, "", "²", "abc", "99999999999999999999"])
def test_a_missing_or_odd_product_is_said_next_to_the_field(
    client: FlaskClient, session: Session, dpo: User, product_id: str | None
) -> None:
    login(client, session, dpo)
    data = {"use_case": "cantine_scolaire", "path": "avec_editeur"}
    if product_id is not None:
        data["product_id"] = product_id
    response = client.post("/demandes/nouvelle", data=data)
    assert response.status_code == 422
    assert "Choisissez un logiciel de la liste." in _body(response)


def test_the_editeur_of_its_own_sandbox_cannot_hand_it_to_another_editeur(
    client: FlaskClient, session: Session, editeur_user: User
) -> None:
    editeur = principal_for(editeur_user)
    product = SoftwareProduct(editeur_id=editeur.organization.id, name="Cantine+", version="4.2")
    session.add(product)
    request = services.create_request(session, principal=editeur, use_case="cantine_scolaire", product=product)
    other = make_organization(session, OrganizationKind.EDITEUR)
    make_user(session, other)
    session.commit()
    login(client, session, editeur_user)
    response = client.post(
        f"/demandes/{request.id}/parties",
        data={"version": str(request.version), "editeur_siret": other.siret, "hosting": "editeur"},
    )
    assert response.status_code == 422
    assert "l&#39;éditeur ne peut pas changer" in _body(response)


def test_the_products_current_sandbox_habilitation_is_what_counts(
    session: Session, editeur_user: User, dpo: User, instructeur: Principal
) -> None:
    """The éditeur updates its sandbox after the request was created: the new habilitation counts. Once
    revoked, no « avec éditeur » production request can be submitted nor approved."""
    editeur = principal_for(editeur_user)
    product = SoftwareProduct(editeur_id=editeur.organization.id, name="Cantine+", version="4.2")
    session.add(product)
    sandbox = _sandbox_for(session, editeur, product, instructeur)
    collectivite = principal_for(dpo)
    request = services.create_request(
        session, principal=collectivite, use_case="cantine_scolaire", product=product, direct_production=True
    )
    request.hebergeur = editeur.organization  # the éditeur hosts
    # The éditeur updates its own sandbox habilitation: H1 obsolete, H2 active.
    services.apply_event(session, sandbox, Event.REOPEN, principal=editeur)
    projet = {**sandbox.section(Stage.SANDBOX, "projet").data, "description": "Nouvelle version du module."}  # type: ignore[union-attr]
    services.save_section(session, sandbox, "projet", projet, principal=editeur, expected_version=None)
    from habilitations.builders import sign_ready_attestations

    sign_ready_attestations(session, sandbox, [editeur])
    services.apply_event(session, sandbox, Event.SUBMIT, principal=editeur)
    services.apply_event(session, sandbox, Event.APPROVE, principal=instructeur)
    assert services.facts_for(request).has_active_editeur_sandbox_habilitation

    fill_every_section(session, request, {Actor.COLLECTIVITE: collectivite, Actor.EDITEUR: editeur})
    services.accept_cgu(session, request, principal=collectivite, expected_version=None)
    services.apply_event(session, sandbox, Event.REVOKE, principal=instructeur, reason="Faille du logiciel.")
    with pytest.raises(GuardFailed) as refused:
        services.apply_event(session, request, Event.SUBMIT, principal=collectivite)
    assert "L'habilitation bac à sable de l'éditeur pour ce logiciel n'est pas active." in refused.value.problems
