"""Attestations (DOMAIN §8, issue « Attestations and documents », acceptance 1): signing over HTTP, the
stored hashes recomputed from the stored content, invalidation by any change of a covered field or
document (visible, with the parties told), and submission refused while one is invalid."""

from __future__ import annotations

import hashlib
import html
import io
from typing import Any

import pytest
from factories import login
from flask.testing import FlaskClient
from habilitations.builders import (
    Cast,
    audit_actions_since,
    audit_mark,
    complete_data,
    event_form,
    event_url,
    fingerprint,
    make_cast,
    make_submittable,
    new_request,
)
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.attestations.models import Attestation
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.catalogue.rules import canonical_json, content_sha256
from tracker.habilitations import services
from tracker.habilitations.models import HabilitationRequest
from tracker.habilitations.workflow import Actor, Event, SectionStatus, Stage, State
from tracker.notify.models import OutboxMessage

LEGAL = IMPOT_PARTICULIER.attestation("cadre_juridique")


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def draft(session: Session, cast: Cast) -> HabilitationRequest:
    request = new_request(session, cast)
    for key in LEGAL.sections:
        services.save_section(
            session,
            request,
            key,
            complete_data(IMPOT_PARTICULIER.section(key)),
            principal=cast.principal(Actor.COLLECTIVITE),
            expected_version=None,
        )
    session.commit()
    return request


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _sign(client: FlaskClient, session: Session, request_id: int, kind: str = "cadre_juridique", **fields: Any) -> Any:
    request = session.get(HabilitationRequest, request_id)
    data = {
        "version": str(request.version),  # type: ignore[union-attr]
        "statement_version": IMPOT_PARTICULIER.attestation(kind).statement.version,
        "signer_name": "Claire Martin",
        "signer_function": "Déléguée à la protection des données",
        "confirm": "y",
        **fields,
    }
    return client.post(f"/demandes/{request_id}/attestations/{kind}", data=data)


def _pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def test_the_signature_page_shows_the_statement_what_it_covers_and_prefills_the_signer(
    client: FlaskClient, session: Session, cast: Cast, draft: HabilitationRequest
) -> None:
    cast.collectivite.job_title = "Déléguée à la protection des données"
    session.commit()
    login(client, session, cast.collectivite)
    page = _text(client.get(f"/demandes/{draft.id}/attestations/cadre_juridique"))
    assert LEGAL.statement.text in page
    assert f"déclaration version {LEGAL.statement.version}" in page
    for key in LEGAL.sections:
        assert IMPOT_PARTICULIER.section(key).label in page
        assert content_sha256(draft.section(Stage.SANDBOX, key).data) in page  # type: ignore[union-attr]
    assert f'value="{cast.collectivite.full_name}"' in page
    assert 'value="Déléguée à la protection des données"' in page
    assert client.get(f"/demandes/{draft.id}/attestations/inconnue").status_code == 404


def test_signing_stores_hashes_that_recompute_identically_from_the_stored_content(
    client: FlaskClient, session: Session, cast: Cast, draft: HabilitationRequest
) -> None:
    # A document in the covered sections: its version's SHA-256 is bound too.
    login(client, session, cast.collectivite)
    content = _pdf()
    data = {
        "version": str(draft.version),
        "cadre_juridique_nature": complete_data(IMPOT_PARTICULIER.section("cadre_juridique"))["cadre_juridique_nature"],
        "cadre_juridique_documents": [(io.BytesIO(content), "deliberation.pdf")],
        "action": "save",
    }
    assert (
        client.post(f"/demandes/{draft.id}/sections/cadre_juridique", data=data, content_type="multipart/form-data")
    ).status_code == 302
    mark = audit_mark(session)

    assert _sign(client, session, draft.id).status_code == 302

    attestation = session.execute(select(Attestation)).scalar_one()
    request = session.get(HabilitationRequest, draft.id)
    stored = {key: request.section(Stage.SANDBOX, key).data for key in LEGAL.sections}  # type: ignore[union-attr]
    assert attestation.content_sha256 == hashlib.sha256(canonical_json(stored)).hexdigest()
    assert attestation.sections == {
        key: hashlib.sha256(canonical_json(data)).hexdigest() for key, data in stored.items()
    }
    [document] = [d for d in attestation.documents if d["name"] == "deliberation.pdf"]
    assert len(attestation.documents) == len(stored["cadre_juridique"]["cadre_juridique_documents"])
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    assert (document["section"], document["name"]) == ("cadre_juridique", "deliberation.pdf")
    assert (attestation.statement_version, attestation.statement_sha256) == (
        LEGAL.statement.version,
        hashlib.sha256(LEGAL.statement.text.encode()).hexdigest(),
    )
    assert (attestation.signer_id, attestation.signer_name, attestation.signer_function) == (
        cast.collectivite.id,
        "Claire Martin",
        "Déléguée à la protection des données",
    )
    assert attestation.organization_id == cast.collectivite.memberships[0].organization_id
    assert attestation.is_valid and attestation.signed_at is not None
    for key in LEGAL.sections:
        section = request.section(Stage.SANDBOX, key)  # type: ignore[union-attr]
        assert (section.status, section.attested_sha256) == (SectionStatus.ATTESTED, attestation.sections[key])
    assert audit_actions_since(session, mark) == ["attestation.signed"]


def test_only_a_member_of_the_owning_party_signs_and_only_complete_content(
    client: FlaskClient, session: Session, cast: Cast, draft: HabilitationRequest
) -> None:
    for other in (cast.editeur, cast.hebergeur):
        login(client, session, other)
        assert _sign(client, session, draft.id).status_code == 403
    login(client, session, cast.collectivite)
    assert _sign(client, session, draft.id, kind="modalites").status_code == 403
    incomplete = _sign(client, session, draft.id, kind="rgpd")
    assert incomplete.status_code == 409
    assert "Complétez d'abord : « Les données »" in _text(incomplete)
    missing = _sign(client, session, draft.id, signer_function="  ", confirm="")
    assert missing.status_code == 422
    assert "Indiquez votre fonction." in _text(missing) and "Cochez la case pour signer." in _text(missing)
    stale = _sign(client, session, draft.id, statement_version="2020-01")
    assert stale.status_code == 409
    assert session.execute(select(Attestation)).first() is None


def test_a_change_of_a_covered_field_invalidates_visibly_and_tells_the_parties(
    client: FlaskClient, session: Session, cast: Cast, draft: HabilitationRequest
) -> None:
    login(client, session, cast.collectivite)
    _sign(client, session, draft.id)
    mark = audit_mark(session)
    contacts = {**complete_data(IMPOT_PARTICULIER.section("contacts")), "dpo_nom": "Nouveau DPO"}
    response = client.post(
        f"/demandes/{draft.id}/sections/contacts",
        data={"version": str(session.get(HabilitationRequest, draft.id).version), "action": "save", **contacts},  # type: ignore[union-attr]
    )
    assert response.status_code == 302

    attestation = session.execute(select(Attestation)).scalar_one()
    assert not attestation.is_valid
    assert attestation.invalidation_reason == "La section « Les personnes impliquées » a été modifiée."
    request = session.get(HabilitationRequest, draft.id)
    # Every section it covered is back to « complete », to be attested again.
    assert {request.section(Stage.SANDBOX, k).status for k in LEGAL.sections} == {SectionStatus.COMPLETE}  # type: ignore[union-attr]
    assert audit_actions_since(session, mark) == ["section.saved"]
    page = _text(client.get(f"/demandes/{draft.id}"))
    assert "Invalidée" in page and "La section « Les personnes impliquées » a été modifiée." in page
    messages = (
        session.execute(select(OutboxMessage).where(OutboxMessage.template == "attestation_invalidated"))
        .scalars()
        .all()
    )
    assert {m.recipient for m in messages} == {cast.collectivite.email}  # the collectivité owns it
    assert "« Attestation du projet et de son cadre juridique » est à signer de nouveau" in messages[0].subject

    # Signing again binds the new content.
    assert _sign(client, session, draft.id).status_code == 302
    latest = session.execute(select(Attestation).order_by(Attestation.id.desc())).scalars().first()
    assert latest.is_valid and latest.sections["contacts"] == content_sha256(contacts | {})  # type: ignore[union-attr]


def test_a_new_document_version_invalidates_the_attestation_and_tells_the_owning_party_and_the_collectivite(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = new_request(session, cast)
    make_submittable(session, request, cast)
    session.commit()
    login(client, session, cast.hebergeur)
    hosting = request.section(Stage.SANDBOX, "hebergement")
    assert hosting is not None and hosting.status is SectionStatus.ATTESTED
    form = {k: v for k, v in hosting.data.items() if not isinstance(v, list | dict | bool)}
    form.update(certifications=hosting.data["certifications"], engagement_article_28="y", action="save")
    form["version"] = str(request.version)
    form["hds_certificat"] = [(io.BytesIO(_pdf()), "hds-2027.pdf")]
    response = client.post(
        f"/demandes/{request.id}/sections/hebergement", data=form, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    hosting_attestations = [
        a for a in session.get(HabilitationRequest, request.id).attestations if a.kind == "hebergement"
    ]  # type: ignore[union-attr]
    [attestation] = hosting_attestations
    assert not attestation.is_valid
    recipients = {
        m.recipient
        for m in session.execute(
            select(OutboxMessage).where(OutboxMessage.template == "attestation_invalidated")
        ).scalars()
    }
    assert recipients == {cast.hebergeur.email, cast.collectivite.email}


def test_submission_is_refused_while_an_attestation_is_invalid(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = new_request(session, cast)
    make_submittable(session, request, cast)
    services.save_section(
        session,
        request,
        "modalites",
        {**complete_data(IMPOT_PARTICULIER.section("modalites")), "logiciel_version": "5.0"},
        principal=cast.principal(Actor.EDITEUR),
        expected_version=None,
    )
    session.commit()
    login(client, session, cast.collectivite)
    before = fingerprint(session, request.id)
    response = client.post(event_url(request.id, Event.SUBMIT), data=event_form(request, Event.SUBMIT, reason=None))
    assert response.status_code == 409
    assert "L'attestation « Attestation des modalités d'accès » n'est pas signée." in _text(response)
    assert fingerprint(session, request.id) == before

    login(client, session, cast.editeur)
    assert _sign(client, session, request.id, kind="modalites").status_code == 302
    login(client, session, cast.collectivite)
    request = session.get(HabilitationRequest, request.id)
    response = client.post(event_url(request.id, Event.SUBMIT), data=event_form(request, Event.SUBMIT, reason=None))
    assert response.status_code == 302
    assert session.get(HabilitationRequest, request.id).state is State.SUBMITTED  # type: ignore[union-attr]


def test_a_request_for_changes_invalidates_the_attestations_of_the_named_sections_only(
    session: Session, cast: Cast
) -> None:
    request = new_request(session, cast)
    make_submittable(session, request, cast)
    services.apply_event(session, request, Event.SUBMIT, principal=cast.principal(Actor.COLLECTIVITE))
    services.apply_event(
        session,
        request,
        Event.REQUEST_CHANGES,
        principal=cast.principal(Actor.INSTRUCTEUR),
        reason="Précisez le logiciel.",
        sections=["modalites"],
    )
    valid = {a.kind: a.is_valid for a in request.attestations}
    assert valid == {"cadre_juridique": True, "rgpd": True, "modalites": False, "hebergement": True}
    [modalites] = [a for a in request.attestations if a.kind == "modalites"]
    assert (
        modalites.invalidation_reason == "La DGFiP demande des modifications de la section « Les modalités d'accès »."
    )


def test_cancelling_an_update_restores_the_attestations_of_the_habilitation(session: Session, cast: Cast) -> None:
    collectivite = cast.principal(Actor.COLLECTIVITE)
    request = new_request(session, cast)
    make_submittable(session, request, cast)
    services.apply_event(session, request, Event.SUBMIT, principal=collectivite)
    services.apply_event(session, request, Event.APPROVE, principal=cast.principal(Actor.INSTRUCTEUR))
    approved = {a.id for a in request.attestations if a.is_valid}
    services.apply_event(session, request, Event.REOPEN, principal=collectivite)
    services.save_section(
        session,
        request,
        "projet",
        complete_data(IMPOT_PARTICULIER.section("projet"), variant="(mise à jour)"),
        principal=collectivite,
        expected_version=None,
    )
    assert {a.id for a in request.attestations if a.is_valid} == approved - {
        a.id for a in request.attestations if a.kind == "cadre_juridique"
    }
    services.apply_event(session, request, Event.CANCEL_REOPENING, principal=collectivite)
    assert {a.id for a in request.attestations if a.is_valid} == approved
    assert all(s.status is SectionStatus.ATTESTED for s in request.sections)


def test_the_cgu_acceptance_records_the_version_and_the_document_hash(session: Session, cast: Cast) -> None:
    request = new_request(session, cast)
    services.accept_cgu(session, request, principal=cast.principal(Actor.COLLECTIVITE), expected_version=None)
    cgu = IMPOT_PARTICULIER.current_cgu[Stage.SANDBOX]
    assert (request.cgu_version, request.cgu_sha256) == (cgu.version, hashlib.sha256(cgu.path.read_bytes()).hexdigest())


def test_saving_the_same_content_keeps_the_attestation(
    client: FlaskClient, session: Session, cast: Cast, draft: HabilitationRequest
) -> None:
    login(client, session, cast.collectivite)
    _sign(client, session, draft.id)
    contacts = draft.section(Stage.SANDBOX, "contacts").data  # type: ignore[union-attr]
    response = client.post(
        f"/demandes/{draft.id}/sections/contacts",
        data={"version": str(session.get(HabilitationRequest, draft.id).version), "action": "save", **contacts},  # type: ignore[union-attr]
    )
    assert response.status_code == 302
    assert session.execute(select(Attestation)).scalar_one().is_valid


def test_replacing_a_party_invalidates_what_it_signed(client: FlaskClient, session: Session, cast: Cast) -> None:
    from factories import make_organization, make_user

    from tracker.accounts.models import OrganizationKind
    from tracker.habilitations.parties import Hosting, PartyContact, designate_parties

    request = new_request(session, cast)
    make_submittable(session, request, cast)
    other = make_organization(session, OrganizationKind.EDITEUR)
    make_user(session, other)
    designate_parties(
        session,
        request,
        principal=cast.principal(Actor.COLLECTIVITE),
        editeur=PartyContact(other.siret),
        hosting=Hosting.THIRD_PARTY,
        hebergeur=PartyContact(request.hebergeur.siret),  # type: ignore[union-attr]
        expected_version=None,
    )
    valid = {a.kind: a.is_valid for a in request.attestations}
    assert valid == {"cadre_juridique": True, "rgpd": True, "modalites": False, "hebergement": True}
    assert "n'est pas signée" in " ".join(services.facts_for(request).submission_blockers)


def test_after_a_cancelled_update_the_restored_attestation_is_the_current_one(session: Session, cast: Cast) -> None:
    from tracker.attestations.services import current_attestation

    collectivite = cast.principal(Actor.COLLECTIVITE)
    request = new_request(session, cast)
    make_submittable(session, request, cast)
    services.apply_event(session, request, Event.SUBMIT, principal=collectivite)
    services.apply_event(session, request, Event.APPROVE, principal=cast.principal(Actor.INSTRUCTEUR))
    approved = current_attestation(request, "cadre_juridique")
    services.apply_event(session, request, Event.REOPEN, principal=collectivite)
    projet = complete_data(IMPOT_PARTICULIER.section("projet"), variant="(mise à jour)")
    services.save_section(session, request, "projet", projet, principal=collectivite, expected_version=None)
    make_submittable(session, request, cast)  # signs a second attestation over the new content
    services.apply_event(session, request, Event.CANCEL_REOPENING, principal=collectivite)
    assert current_attestation(request, "cadre_juridique") is approved and approved.is_valid  # type: ignore[union-attr]
    # The next edit invalidates it (and only valid ones are ever current).
    services.apply_event(session, request, Event.REOPEN, principal=collectivite)
    services.save_section(session, request, "projet", projet, principal=collectivite, expected_version=None)
    assert not any(a.is_valid for a in request.attestations if a.kind == "cadre_juridique")
