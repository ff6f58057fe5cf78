"""Each submission records what changed since the previous one (or since the habilitation being
updated), shown in the timeline field by field."""

from __future__ import annotations

import html

from factories import login, make_organization, make_user, principal_for
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from habilitations.builders import fill_every_section, sign_ready_attestations
from tracker.accounts.models import OrganizationKind
from tracker.audit.models import AuditEntry
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.habilitations import services
from tracker.habilitations.changelog import changes_between, describe, display_value
from tracker.habilitations.models import TimelineEntry
from tracker.habilitations.workflow import Actor, Event

PROJET = {"intitule": "Cantine", "description": "Tarifs selon le quotient familial.", "use_case": "cantine_scolaire"}


def test_changes_name_the_field_and_show_both_values_in_words() -> None:
    before = {"sandbox/projet": PROJET}
    after = {
        "sandbox/projet": {
            **PROJET,
            "intitule": "Cantine et goûter",
            "use_case": "place_creche",
            "date_prevue_mise_en_production": "2027-09-01",
        }
    }
    changes = changes_between(IMPOT_PARTICULIER, before, after)
    assert [describe(c) for c in changes] == [
        "Le champ « Nom du projet » a changé de « Cantine » en « Cantine et goûter ».",
        "Le champ « Cas d'usage » a changé de « Cantine scolaire » en « Place en crèche ».",
        "Le champ « Date prévue de mise en production » a changé de « (vide) » en « 01/09/2027 ».",
    ]
    assert {c["section"] for c in changes} == {"Mon projet"}
    assert changes_between(IMPOT_PARTICULIER, before, before) == []


def test_display_of_empty_and_unknown_values() -> None:
    field = IMPOT_PARTICULIER.section("projet").field("use_case")
    assert display_value(field, None) == "(vide)"
    assert display_value(field, "ancienne_valeur") == "ancienne_valeur"


def _submits(session: Session, request_id: int) -> list[TimelineEntry]:
    return list(
        session.execute(
            select(TimelineEntry)
            .where(TimelineEntry.request_id == request_id, TimelineEntry.event == Event.SUBMIT)
            .order_by(TimelineEntry.id)
        ).scalars()
    )


def test_resubmission_and_update_changelogs_reach_the_timeline(client: FlaskClient, session: Session) -> None:
    dpo = principal_for(make_user(session, make_organization(session, OrganizationKind.COLLECTIVITE)))
    instructeur = principal_for(make_user(session, make_organization(session, OrganizationKind.DGFIP)))
    vendor = principal_for(make_user(session, make_organization(session, OrganizationKind.EDITEUR)))
    request = services.create_request(session, principal=dpo, use_case="cantine_scolaire")
    request.editeur = request.hebergeur = vendor.organization
    fill_every_section(session, request, {Actor.COLLECTIVITE: dpo, Actor.EDITEUR: vendor}, except_keys=("projet",))

    def fill_and_submit(data: dict) -> None:
        services.save_section(session, request, "projet", data, principal=dpo, expected_version=None)
        sign_ready_attestations(session, request, [dpo])
        services.accept_cgu(session, request, principal=dpo, expected_version=None)
        services.apply_event(session, request, Event.SUBMIT, principal=dpo)

    fill_and_submit(PROJET)
    services.apply_event(
        session, request, Event.REQUEST_CHANGES, principal=instructeur, reason="Précisez.", sections=["projet"]
    )
    fill_and_submit({**PROJET, "description": "Tarifs selon le quotient familial, pour 1 200 familles."})
    services.apply_event(session, request, Event.APPROVE, principal=instructeur)
    services.apply_event(session, request, Event.REOPEN, principal=dpo)
    fill_and_submit(
        {
            **PROJET,
            "description": "Tarifs selon le quotient familial, pour 1 200 familles.",
            "intitule": "Cantine et accueil du soir",
        }
    )
    session.commit()

    first, second, update = _submits(session, request.id)
    assert first.details["first_submission"] is True and "changes" not in first.details
    assert second.details["compared_with"] == "la soumission précédente"
    assert [c["field"] for c in second.details["changes"]] == ["Description du projet"]
    habilitation = request.habilitations[0]
    assert update.details["compared_with"] == f"l'habilitation {habilitation.number}"
    assert [(c["before"], c["after"]) for c in update.details["changes"]] == [("Cantine", "Cantine et accueil du soir")]
    # The content lives on the timeline, not in the audit log.
    audited = session.execute(select(AuditEntry.details).where(AuditEntry.action == "request.submit")).scalars().all()
    assert audited and all("content" not in d and "changes" not in d for d in audited)

    login(client, session, dpo.user)
    page = html.unescape(client.get(f"/demandes/{request.id}").get_data(as_text=True))
    assert f"Changements depuis l'habilitation {habilitation.number} :" in page
    assert "Le champ « Nom du projet » a changé de « Cantine » en « Cantine et accueil du soir »." in page
    assert "Le champ « Description du projet » a changé de « Tarifs selon le quotient familial. »" in page
