"""The transition table over HTTP: every (situation, event, actor) triple, then guards and effects.

The expected table is written here by hand from DOMAIN §3.2, *not* derived from ``workflow.RULES``:
deriving it would only check the code against itself.

How the expectation is read (``expected``):

* DGFiP never sees a request that was never submitted (DOMAIN §4), so on the fresh draft the instructeur
  and the rapporteur get 404, whatever the event (the same answer as a missing request).
* An actor that the « who » column never names for the event gets 403 (éditeur and hébergeur never take
  an event; the rapporteur is read-only), whatever the state: the actor is checked before the state.
* An allowed actor gets the target of ``ALLOWED`` when the situation is one the event starts from, else
  409. « Collectivité (not once submitted) » for the two cancellations is a state restriction: 409.

Speed: 15 situations × 10 events × 5 actors = 750 attempts. Building a situation through the services
costs more than the attempt itself (≈ 35 ms on SQLite, ≈ 100 ms on PostgreSQL), so one test per
(situation, event) builds it once and tries the five actors, each inside a savepoint rolled back after
it (see ``test_transition_matrix``): 150 builds instead of 750, with every mismatch still named by its
triple in the failure message.
"""

from __future__ import annotations

import html
from typing import Any

import pytest
from factories import login
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from habilitations.builders import (
    REASON,
    WHERE,
    Cast,
    Situation,
    audit_actions_since,
    audit_mark,
    build,
    complete_data,
    event_form,
    event_url,
    fill_and_attest,
    fingerprint,
    make_cast,
    make_submittable,
    new_request,
    sections_of_current_stage,
    take,
    where,
)
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.habilitations import services
from tracker.habilitations.models import Habilitation, HabilitationRequest, HabilitationState, TimelineEntry
from tracker.habilitations.workflow import Actor, Event, SectionStatus, Stage, State

C, E, H, INS, R = (Actor.COLLECTIVITE, Actor.EDITEUR, Actor.HEBERGEUR, Actor.INSTRUCTEUR, Actor.RAPPORTEUR)
SANDBOX, PRODUCTION = Stage.SANDBOX, Stage.PRODUCTION
EVENTS = [event for event in Event if event is not Event.CREATE]  # creation has its own route

# DOMAIN §3.2, column « who ».
WHO: dict[Event, set[Actor]] = {
    Event.SUBMIT: {C},
    Event.REQUEST_CHANGES: {INS},
    Event.APPROVE: {INS},
    Event.REFUSE: {INS},
    Event.ARCHIVE: {C, INS},
    Event.REOPEN: {C},
    Event.CANCEL_REOPENING: {C, INS},
    Event.START_PRODUCTION: {C},
    Event.CANCEL_PRODUCTION: {C, INS},
    Event.REVOKE: {INS},
}

Target = tuple[State, Stage, bool]  # (state, stage, is_reopening) after the event

# DOMAIN §3.2, columns « from → to » and « guard »: who may take the event from the situation, and where
# it leads. Every pair not listed answers 409 to the actors of WHO.
S = Situation
ALLOWED: dict[tuple[Situation, Event], tuple[set[Actor], Target]] = {
    (S.FRESH_DRAFT, Event.SUBMIT): ({C}, (State.SUBMITTED, SANDBOX, False)),
    (S.FRESH_DRAFT, Event.ARCHIVE): ({C}, (State.ARCHIVED, SANDBOX, False)),  # DGFiP: 404
    (S.SUBMITTED, Event.REQUEST_CHANGES): ({INS}, (State.CHANGES_REQUESTED, SANDBOX, False)),
    (S.SUBMITTED, Event.APPROVE): ({INS}, (State.VALIDATED, SANDBOX, False)),
    (S.SUBMITTED, Event.REFUSE): ({INS}, (State.REFUSED, SANDBOX, False)),
    (S.CHANGES_REQUESTED, Event.SUBMIT): ({C}, (State.SUBMITTED, SANDBOX, False)),
    (S.VALIDATED, Event.REOPEN): ({C}, (State.DRAFT, SANDBOX, True)),
    (S.VALIDATED, Event.START_PRODUCTION): ({C}, (State.DRAFT, PRODUCTION, False)),
    (S.VALIDATED, Event.REVOKE): ({INS}, (State.REVOKED, SANDBOX, False)),
    (S.REFUSED, Event.ARCHIVE): ({C, INS}, (State.ARCHIVED, SANDBOX, False)),
    (S.REVOKED, Event.ARCHIVE): ({C, INS}, (State.ARCHIVED, SANDBOX, False)),
    # A reopening draft is a draft, but its habilitation is active: archiving it is refused (guard).
    (S.REOPENING_DRAFT, Event.SUBMIT): ({C}, (State.SUBMITTED, SANDBOX, True)),
    (S.REOPENING_DRAFT, Event.CANCEL_REOPENING): ({C, INS}, (State.VALIDATED, SANDBOX, False)),
    (S.REOPENING_CHANGES_REQUESTED, Event.SUBMIT): ({C}, (State.SUBMITTED, SANDBOX, True)),
    (S.REOPENING_CHANGES_REQUESTED, Event.CANCEL_REOPENING): ({C, INS}, (State.VALIDATED, SANDBOX, False)),
    (S.REOPENING_SUBMITTED, Event.REQUEST_CHANGES): ({INS}, (State.CHANGES_REQUESTED, SANDBOX, True)),
    (S.REOPENING_SUBMITTED, Event.APPROVE): ({INS}, (State.VALIDATED, SANDBOX, False)),
    # Refusing an update puts the request back where the last habilitation left it.
    (S.REOPENING_SUBMITTED, Event.REFUSE): ({INS}, (State.VALIDATED, SANDBOX, False)),
    (S.REOPENING_SUBMITTED, Event.CANCEL_REOPENING): ({INS}, (State.VALIDATED, SANDBOX, False)),
    # Production drafts are drafts, but the sandbox habilitation is active: no archiving either.
    (S.PRODUCTION_DRAFT, Event.SUBMIT): ({C}, (State.SUBMITTED, PRODUCTION, False)),
    (S.PRODUCTION_DRAFT, Event.CANCEL_PRODUCTION): ({C, INS}, (State.VALIDATED, SANDBOX, False)),
    (S.PRODUCTION_CHANGES_REQUESTED, Event.SUBMIT): ({C}, (State.SUBMITTED, PRODUCTION, False)),
    (S.PRODUCTION_CHANGES_REQUESTED, Event.CANCEL_PRODUCTION): ({C, INS}, (State.VALIDATED, SANDBOX, False)),
    (S.PRODUCTION_SUBMITTED, Event.REQUEST_CHANGES): ({INS}, (State.CHANGES_REQUESTED, PRODUCTION, False)),
    (S.PRODUCTION_SUBMITTED, Event.APPROVE): ({INS}, (State.VALIDATED, PRODUCTION, False)),
    (S.PRODUCTION_SUBMITTED, Event.REFUSE): ({INS}, (State.REFUSED, PRODUCTION, False)),
    (S.PRODUCTION_SUBMITTED, Event.CANCEL_PRODUCTION): ({INS}, (State.VALIDATED, SANDBOX, False)),
    # « DataPass gets stuck there; we don't »: a refused first production attempt may start again.
    (S.REFUSED_PRODUCTION, Event.START_PRODUCTION): ({C}, (State.DRAFT, PRODUCTION, False)),
    (S.VALIDATED_PRODUCTION, Event.REOPEN): ({C}, (State.DRAFT, PRODUCTION, True)),
    (S.VALIDATED_PRODUCTION, Event.REVOKE): ({INS}, (State.REVOKED, PRODUCTION, False)),
}


def expected(situation: Situation, event: Event, actor: Actor) -> Target | int:
    if situation is S.FRESH_DRAFT and actor in (INS, R):
        return 404
    if actor not in WHO[event]:
        return 403
    actors, target = ALLOWED.get((situation, event), (set(), None))
    return target if actor in actors and target is not None else 409


def _cases() -> list[Any]:
    """One case per (situation, event), trying every actor."""
    return [
        pytest.param(situation, event, tuple(Actor), id=f"{situation.value}-{event.value}")
        for situation in Situation
        for event in EVENTS
    ]


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


def _situation(session: Session, cast: Cast, situation: Situation) -> HabilitationRequest:
    request = build(session, cast, situation)
    session.commit()
    return request


def _body(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("situation", list(Situation), ids=lambda s: s.value)
def test_builders_reach_the_situation_they_name(session: Session, cast: Cast, situation: Situation) -> None:
    request = _situation(session, cast, situation)
    assert where(request) == WHERE[situation]


def _check_attempt(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    request: HabilitationRequest,
    situation: Situation,
    event: Event,
    actor: Actor,
) -> None:
    login(client, session, cast.user(actor))
    before, mark = fingerprint(session, request.id), audit_mark(session)

    response = client.post(event_url(request.id, event), data=event_form(request, event))

    outcome = expected(situation, event, actor)
    after, actions = fingerprint(session, request.id), audit_actions_since(session, mark)
    if isinstance(outcome, tuple):
        assert response.status_code == 302, _body(response)
        assert response.headers["Location"].endswith(f"/demandes/{request.id}")
        assert (after["request"]["state"], after["request"]["stage"], after["request"]["is_reopening"]) == outcome
        assert after["timeline"] == before["timeline"] + 1
        assert actions == [f"request.{event.value}"]
        entry = session.scalars(
            select(TimelineEntry).where(TimelineEntry.request_id == request.id).order_by(TimelineEntry.id.desc())
        ).first()
        assert entry is not None
        assert (entry.event, entry.from_state, entry.to_state) == (event, before["request"]["state"], outcome[0])
        assert (entry.actor_id, entry.actor_party) == (cast.user(actor).id, actor.value)
        assert entry.reason == REASON
    else:
        assert response.status_code == outcome, _body(response)[:2000]
        assert after == before
        assert actions == ([] if outcome == 409 else ["access_refused"])
        if outcome == 409:  # the page says where the request stands
            assert before["request"]["state"].label in _body(response)


@pytest.mark.parametrize(("situation", "event", "actors"), _cases())
def test_transition_matrix(
    client: FlaskClient,
    connection: Connection,
    session: Session,
    cast: Cast,
    situation: Situation,
    event: Event,
    actors: tuple[Actor, ...],
) -> None:
    """The situation is built once; each actor's attempt runs inside a savepoint rolled back after it,
    so every actor meets the same request. Every actor is tried and all mismatches are reported."""
    request = _situation(session, cast, situation)
    failures = []
    for actor in actors:
        savepoint = connection.begin_nested()
        try:
            _check_attempt(client, session, cast, request, situation, event, actor)
        except AssertionError as error:
            failures.append(f"--- {actor.value} (expected {expected(situation, event, actor)}):\n{error}")
        finally:
            session.rollback()  # the test session's own savepoint sits inside ours: end it first
            savepoint.rollback()
    assert not failures, "\n".join(failures)


# --- guards -----------------------------------------------------------------------------------------


@pytest.fixture
def collectivite_client(client: FlaskClient, session: Session, cast: Cast) -> FlaskClient:
    login(client, session, cast.collectivite)
    return client


def _refused_without_change(
    client: FlaskClient, session: Session, request: HabilitationRequest, event: Event, status: int, **form: Any
) -> str:
    before, mark = fingerprint(session, request.id), audit_mark(session)
    response = client.post(event_url(request.id, event), data=event_form(request, event, **form))
    assert response.status_code == status, _body(response)
    assert fingerprint(session, request.id) == before
    assert not [action for action in audit_actions_since(session, mark) if action.startswith("request.")]
    return _body(response)


def test_reopening_draft_without_any_change_cannot_be_submitted(
    collectivite_client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = build(session, cast, S.VALIDATED)
    take(session, request, cast, Event.REOPEN, C)
    session.commit()

    body = _refused_without_change(collectivite_client, session, request, Event.SUBMIT, 409)

    assert "Aucune modification n'a été apportée depuis la dernière habilitation." in body


@pytest.mark.parametrize(
    "situation", [S.REOPENING_DRAFT, S.PRODUCTION_DRAFT, S.REFUSED_PRODUCTION], ids=lambda s: s.value
)
@pytest.mark.parametrize("actor", [C, INS], ids=lambda a: a.value)
def test_archive_is_refused_while_an_habilitation_is_active(
    client: FlaskClient, session: Session, cast: Cast, situation: Situation, actor: Actor
) -> None:
    request = _situation(session, cast, situation)
    assert any(h.state is HabilitationState.ACTIVE for h in request.habilitations)
    login(client, session, cast.user(actor))

    body = _refused_without_change(client, session, request, Event.ARCHIVE, 409)

    assert "La demande a encore une habilitation active." in body


def test_submit_lists_every_missing_attestation_and_the_cgu(
    collectivite_client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = new_request(session, cast)
    session.commit()

    body = _refused_without_change(collectivite_client, session, request, Event.SUBMIT, 409)

    for definition in IMPOT_PARTICULIER.required_sections(SANDBOX):
        assert f"La section « {definition.label} » n'est pas" in body
    assert "Les conditions générales d'utilisation n'ont pas été acceptées." in body


def test_submit_names_an_attestation_invalidated_by_an_edit(
    collectivite_client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = new_request(session, cast)
    make_submittable(session, request, cast)
    projet = IMPOT_PARTICULIER.section("projet")
    services.save_section(
        session,
        request,
        "projet",
        complete_data(projet, variant="(modifiée après attestation)"),
        principal=cast.principal(C),
        expected_version=None,
    )
    session.commit()
    assert request.section(SANDBOX, "projet").status is SectionStatus.COMPLETE

    body = _refused_without_change(collectivite_client, session, request, Event.SUBMIT, 409)

    assert "L'attestation « Attestation du projet et de son cadre juridique » n'est pas signée." in body
    assert "conditions générales d'utilisation n'ont pas été acceptées" not in body


def test_submit_without_cgu_names_only_the_cgu(collectivite_client: FlaskClient, session: Session, cast: Cast) -> None:
    request = new_request(session, cast)
    for definition in sections_of_current_stage(request):
        fill_and_attest(session, request, cast, definition)
    session.commit()

    body = _refused_without_change(collectivite_client, session, request, Event.SUBMIT, 409)

    assert "Les conditions générales d'utilisation n'ont pas été acceptées." in body
    assert "n'est pas attestée" not in body
    assert "n'est pas complète" not in body


def test_stale_version_is_refused_and_nothing_changes(
    collectivite_client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = _situation(session, cast, S.FRESH_DRAFT)

    body = _refused_without_change(
        collectivite_client, session, request, Event.SUBMIT, 409, version=request.version - 1
    )

    assert "Quelqu'un a modifié cette demande entre-temps" in body


@pytest.mark.parametrize(
    ("situation", "event"),
    [
        (S.SUBMITTED, Event.REQUEST_CHANGES),
        (S.SUBMITTED, Event.REFUSE),
        (S.VALIDATED, Event.REVOKE),
        (S.REOPENING_DRAFT, Event.CANCEL_REOPENING),
        (S.REOPENING_SUBMITTED, Event.CANCEL_REOPENING),
    ],
    ids=lambda value: value.value,
)
@pytest.mark.parametrize("reason", [None, "", "   \n\t "], ids=["absent", "empty", "whitespace"])
def test_dgfip_must_give_a_reason(
    client: FlaskClient, session: Session, cast: Cast, situation: Situation, event: Event, reason: str | None
) -> None:
    request = _situation(session, cast, situation)
    login(client, session, cast.instructeur)

    body = _refused_without_change(client, session, request, event, 422, reason=reason)

    # The message sits in the reason field's own message group, tied to it by aria-describedby.
    field_id = f"{event.value}-reason"
    assert f'aria-describedby="{field_id}-messages"' in body
    messages = body.split(f'id="{field_id}-messages"', 1)[1].split("</div>", 1)[0]
    assert "Un motif est obligatoire." in messages


def test_collectivite_may_cancel_its_reopening_without_a_reason(
    collectivite_client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = _situation(session, cast, S.REOPENING_DRAFT)

    response = collectivite_client.post(
        event_url(request.id, Event.CANCEL_REOPENING), data=event_form(request, Event.CANCEL_REOPENING, reason="")
    )

    assert response.status_code == 302
    assert where(session.get(HabilitationRequest, request.id)) == (State.VALIDATED, SANDBOX, False)


def test_create_is_not_an_event_of_an_existing_request(
    collectivite_client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = _situation(session, cast, S.FRESH_DRAFT)

    _refused_without_change(collectivite_client, session, request, Event.CREATE, 409)


def test_unknown_event_is_a_404(collectivite_client: FlaskClient, session: Session, cast: Cast) -> None:
    request = _situation(session, cast, S.FRESH_DRAFT)
    before = fingerprint(session, request.id)

    response = collectivite_client.post(
        f"/demandes/{request.id}/evenements/publish", data={"publish-version": str(request.version)}
    )

    assert response.status_code == 404
    assert fingerprint(session, request.id) == before


# --- effects ----------------------------------------------------------------------------------------


def _post(client: FlaskClient, request: HabilitationRequest, event: Event, **form: Any) -> None:
    response = client.post(event_url(request.id, event), data=event_form(request, event, **form))
    assert response.status_code == 302, _body(response)


def _habilitations(session: Session, request_id: int) -> list[Habilitation]:
    session.expire_all()
    return list(
        session.scalars(select(Habilitation).where(Habilitation.request_id == request_id).order_by(Habilitation.id))
    )


def test_approve_creates_an_active_habilitation(client: FlaskClient, session: Session, cast: Cast) -> None:
    request = _situation(session, cast, S.SUBMITTED)
    login(client, session, cast.instructeur)

    _post(client, request, Event.APPROVE)

    [habilitation] = _habilitations(session, request.id)
    assert (habilitation.stage, habilitation.state) == (SANDBOX, HabilitationState.ACTIVE)
    assert habilitation.approved_by_id == cast.instructeur.id
    projet = session.get(HabilitationRequest, request.id).section(SANDBOX, "projet")
    assert habilitation.snapshot["sections"]["sandbox/projet"]["data"] == projet.data
    entry = session.scalars(
        select(TimelineEntry).where(TimelineEntry.request_id == request.id).order_by(TimelineEntry.id.desc())
    ).first()
    assert entry.habilitation_id == habilitation.id


def test_approving_an_update_makes_the_previous_habilitation_obsolete(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = _situation(session, cast, S.REOPENING_SUBMITTED)
    [previous] = _habilitations(session, request.id)
    assert previous.state is HabilitationState.ACTIVE  # it stays active while the update is instructed
    login(client, session, cast.instructeur)

    _post(client, request, Event.APPROVE)

    old, new = _habilitations(session, request.id)
    assert old.id == previous.id
    assert (old.state, new.state) == (HabilitationState.OBSOLETE, HabilitationState.ACTIVE)
    assert old.ended_at is not None
    assert new.stage is old.stage is SANDBOX


def test_approving_production_keeps_the_sandbox_habilitation_active(
    client: FlaskClient, session: Session, cast: Cast
) -> None:
    request = _situation(session, cast, S.PRODUCTION_SUBMITTED)
    login(client, session, cast.instructeur)

    _post(client, request, Event.APPROVE)

    sandbox, production = _habilitations(session, request.id)
    assert (sandbox.stage, sandbox.state) == (SANDBOX, HabilitationState.ACTIVE)
    assert (production.stage, production.state) == (PRODUCTION, HabilitationState.ACTIVE)


def test_revoke_revokes_every_active_habilitation(client: FlaskClient, session: Session, cast: Cast) -> None:
    request = _situation(session, cast, S.VALIDATED_PRODUCTION)
    assert [h.state for h in _habilitations(session, request.id)] == [HabilitationState.ACTIVE] * 2
    login(client, session, cast.instructeur)

    _post(client, request, Event.REVOKE, reason="Manquement aux obligations de sécurité")

    habilitations = _habilitations(session, request.id)
    assert [h.state for h in habilitations] == [HabilitationState.REVOKED] * 2
    assert {h.end_reason for h in habilitations} == {"Manquement aux obligations de sécurité"}


@pytest.mark.parametrize(
    ("situation", "event", "actor"),
    [
        (S.REOPENING_SUBMITTED, Event.REFUSE, INS),
        (S.REOPENING_SUBMITTED, Event.CANCEL_REOPENING, INS),
        (S.REOPENING_DRAFT, Event.CANCEL_REOPENING, C),
        (S.REOPENING_CHANGES_REQUESTED, Event.CANCEL_REOPENING, C),
    ],
    ids=lambda value: value.value,
)
def test_ending_an_update_restores_the_last_habilitation(
    client: FlaskClient, session: Session, cast: Cast, situation: Situation, event: Event, actor: Actor
) -> None:
    request = _situation(session, cast, situation)
    [habilitation] = _habilitations(session, request.id)
    approved = habilitation.snapshot["sections"]["sandbox/projet"]
    assert request.section(SANDBOX, "projet").data != approved["data"]  # the update changed it
    login(client, session, cast.user(actor))

    _post(client, request, event)

    session.expire_all()
    restored = session.get(HabilitationRequest, request.id)
    projet = restored.section(SANDBOX, "projet")
    assert projet.data == approved["data"]
    assert (projet.status.value, projet.attested_sha256) == (approved["status"], approved["attested_sha256"])
    assert restored.intitule == habilitation.snapshot["request"]["intitule"]
    assert [h.state for h in _habilitations(session, request.id)] == [HabilitationState.ACTIVE]


def test_request_changes_reopens_only_the_named_sections(client: FlaskClient, session: Session, cast: Cast) -> None:
    """The named section reopens; the others of its attestation wait for it to be signed again, closed;
    every other section stays attested."""
    request = new_request(session, cast)
    make_submittable(session, request, cast)
    take(session, request, cast, Event.SUBMIT, C)
    session.commit()
    keys = [s.key for s in request.sections if s.stage is SANDBOX]
    assert len(keys) >= 2
    named, others = keys[0], keys[1:]
    login(client, session, cast.instructeur)

    _post(client, request, Event.REQUEST_CHANGES, sections=[named], reason="Précisez la description")

    session.expire_all()
    changed = session.get(HabilitationRequest, request.id)
    assert changed.state is State.CHANGES_REQUESTED
    assert changed.deadline_started_at is None  # the clock stops (DOMAIN §9)
    section = changed.section(SANDBOX, named)
    assert (section.status, section.is_change_requested, section.attested_sha256) == (
        SectionStatus.COMPLETE,
        True,
        None,
    )
    same_attestation = IMPOT_PARTICULIER.attestation_covering(named).sections
    for key in others:
        other = changed.section(SANDBOX, key)
        expected = SectionStatus.COMPLETE if key in same_attestation else SectionStatus.ATTESTED
        assert (other.status, other.is_change_requested) == (expected, False), key
        assert services.section_is_editable(changed, IMPOT_PARTICULIER.section(key)) is False
    entry = session.scalars(
        select(TimelineEntry).where(TimelineEntry.request_id == request.id).order_by(TimelineEntry.id.desc())
    ).first()
    assert (entry.reason, entry.details["sections"]) == ("Précisez la description", [named])


@pytest.mark.parametrize("sections", [[], ["inconnue"]], ids=["none", "unknown"])
def test_request_changes_must_name_known_sections(
    client: FlaskClient, session: Session, cast: Cast, sections: list[str]
) -> None:
    request = _situation(session, cast, S.SUBMITTED)
    login(client, session, cast.instructeur)

    body = _refused_without_change(client, session, request, Event.REQUEST_CHANGES, 422, sections=sections)

    messages = body.split('id="request_changes-sections-messages"', 1)[1].split("</div>", 1)[0]
    assert "section" in messages.lower()


def test_start_production_resets_the_cgu(client: FlaskClient, session: Session, cast: Cast) -> None:
    request = _situation(session, cast, S.VALIDATED)
    assert request.cgu_accepted_at is not None
    login(client, session, cast.collectivite)

    _post(client, request, Event.START_PRODUCTION)

    session.expire_all()
    production = session.get(HabilitationRequest, request.id)
    assert (production.cgu_version, production.cgu_accepted_at) == (None, None)
    # The sandbox sections stay attested: read-only in this stage, still required.
    assert production.section(SANDBOX, "projet").status is SectionStatus.ATTESTED
