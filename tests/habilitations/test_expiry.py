"""Expiry (DOMAIN §9, issue « Attestations and documents », acceptance 4-5): `tracker remind` sends each
reminder once at 90, 30 and 7 days (through a real SMTP server on loopback), expires the production
habilitation once a date has passed, lists it for DGFiP and the parties, and a renewal brings it back.
Time is moved by passing the day, never by sleeping."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from factories import login
from flask import Flask
from flask.testing import FlaskClient
from smtp import SmtpSink, smtp_server  # noqa: F401 (the fixture, for this module)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from habilitations.builders import (
    Cast,
    Situation,
    audit_actions_since,
    audit_mark,
    build,
    complete_data,
    make_cast,
    make_submittable,
)
from tracker.catalogue import IMPOT_PARTICULIER
from tracker.cli import main as tracker_cli
from tracker.db import utcnow
from tracker.habilitations import expiry, services
from tracker.habilitations.models import ExpiryReminder, HabilitationRequest, HabilitationState, TimelineEntry
from tracker.habilitations.workflow import Actor, Event, SectionStatus, Stage, State
from tracker.notify.worker import deliver_due

TODAY = utcnow().date()
HOMOLOGATION_ENDS = TODAY + timedelta(days=80)


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


def _homologation(ends: date) -> dict:
    return {
        **complete_data(IMPOT_PARTICULIER.section("homologation")),
        "homologation_date_debut": (TODAY - timedelta(days=30)).isoformat(),
        "homologation_date_fin": ends.isoformat(),
    }


def _approved_production(session: Session, cast: Cast, homologation_ends: date) -> HabilitationRequest:
    request = build(session, cast, Situation.PRODUCTION_DRAFT)
    services.save_section(
        session,
        request,
        "homologation",
        _homologation(homologation_ends),
        principal=cast.principal(Actor.COLLECTIVITE),
        expected_version=None,
    )
    make_submittable(session, request, cast)
    services.apply_event(session, request, Event.SUBMIT, principal=cast.principal(Actor.COLLECTIVITE))
    services.apply_event(session, request, Event.APPROVE, principal=cast.principal(Actor.INSTRUCTEUR))
    session.commit()
    return request


@pytest.fixture
def production(session: Session, cast: Cast) -> HabilitationRequest:
    """A validated production habilitation whose homologation ends in 80 days (certifications later)."""
    return _approved_production(session, cast, HOMOLOGATION_ENDS)


def _production_habilitation(request: HabilitationRequest):  # type: ignore[no-untyped-def]
    return services.latest_habilitation(request, Stage.PRODUCTION)


def _deliver(app: Flask, session: Session, sink: SmtpSink) -> int:
    return deliver_due(session, sink.outbox_settings(app.config), worker_id="remind").sent


def test_the_soonest_date_is_kept_on_the_habilitation(production: HabilitationRequest) -> None:
    habilitation = _production_habilitation(production)
    assert habilitation.expires_on == HOMOLOGATION_ENDS
    dates = services.habilitation_dates(habilitation)
    assert next(expiry_date.key for expiry_date, _day in dates) == "homologation"
    assert {expiry_date.key for expiry_date, _day in dates} >= {"homologation", "certification_hds"}
    sandbox = services.latest_habilitation(production, Stage.SANDBOX)
    assert sandbox.expires_on is None, "the sandbox holds fictitious data and does not lapse"


@pytest.mark.parametrize(
    ("days_left", "threshold"),
    [(120, None), (91, None), (90, 90), (31, 90), (30, 30), (8, 30), (7, 7), (0, 7), (-1, None)],
)
def test_the_reminder_due_is_the_nearest_threshold(days_left: int, threshold: int | None) -> None:
    assert expiry.threshold_for(days_left) == threshold


def test_remind_sends_each_reminder_once_at_90_30_and_7_days_then_expires(
    app: Flask,
    session: Session,
    cast: Cast,
    production: HabilitationRequest,
    smtp_server: SmtpSink,  # noqa: F811
) -> None:
    collectivite, editeur = cast.collectivite.email, cast.editeur.email
    habilitation = _production_habilitation(production)
    _deliver(app, session, smtp_server)  # what building the request queued (invitations, invalidations)
    smtp_server.clear()

    # 120 days before: nothing yet.
    assert expiry.run(session, HOMOLOGATION_ENDS - timedelta(days=120)).reminders == 0
    for days_left in (90, 30, 7):
        day = HOMOLOGATION_ENDS - timedelta(days=days_left)
        assert expiry.run(session, day).reminders == 1, days_left  # the homologation is the collectivité's
        session.commit()
        assert expiry.run(session, day).reminders == 0, "a second run the same day sends nothing"
        session.commit()
        assert _deliver(app, session, smtp_server) == 1
        [mail] = smtp_server.to(collectivite)[-1:]
        assert f"dans {days_left} jours" in mail.message["Subject"]
        assert f"{HOMOLOGATION_ENDS:%d/%m/%Y}" in mail.text
    assert smtp_server.to(editeur) == []
    # Days in between send nothing more.
    assert expiry.run(session, HOMOLOGATION_ENDS - timedelta(days=3)).reminders == 0
    assert session.scalar(select(func.count()).select_from(ExpiryReminder)) == 3

    # The end date itself is still valid; the day after, the habilitation expires.
    assert expiry.run(session, HOMOLOGATION_ENDS).expired == []
    mark = audit_mark(session)
    report = expiry.run(session, HOMOLOGATION_ENDS + timedelta(days=1))
    session.commit()
    assert report.expired == [habilitation.number]
    session.refresh(habilitation)
    assert habilitation.state is HabilitationState.EXPIRED
    assert habilitation.end_reason == (
        f"Fin de l'homologation de sécurité : échéance du {HOMOLOGATION_ENDS:%d/%m/%Y} dépassée."
    )
    assert audit_actions_since(session, mark) == ["habilitation.expired"]
    notice = session.execute(
        select(TimelineEntry).where(TimelineEntry.request_id == production.id, TimelineEntry.notice.is_not(None))
    ).scalar_one()
    assert (notice.notice, notice.event, notice.reason) == ("habilitation_expired", None, habilitation.end_reason)
    # The collectivité and the DGFiP instructors are told; running again changes nothing.
    assert _deliver(app, session, smtp_server) == 2
    assert "Habilitation" in smtp_server.to(cast.instructeur.email)[0].message["Subject"]
    assert expiry.run(session, HOMOLOGATION_ENDS + timedelta(days=2)).expired == []


def test_a_certification_reminder_goes_to_the_hebergeur_and_the_collectivite(session: Session, cast: Cast) -> None:
    production = _approved_production(session, cast, TODAY + timedelta(days=5 * 365))
    habilitation = _production_habilitation(production)
    hds = next(
        day for expiry_date, day in services.habilitation_dates(habilitation) if expiry_date.key == "certification_hds"
    )
    assert expiry.run(session, hds - timedelta(days=30)).reminders == 2
    session.flush()
    rows = session.execute(select(ExpiryReminder).where(ExpiryReminder.date_key == "certification_hds")).scalars().all()
    assert [(r.due_on, r.days_before) for r in rows] == [(hds, 30)]


def test_the_remind_command_is_safe_to_run_twice(app: Flask, session: Session, production: HabilitationRequest) -> None:
    day = (HOMOLOGATION_ENDS - timedelta(days=30)).isoformat()
    runner = app.test_cli_runner()
    first = runner.invoke(tracker_cli, ["remind", "--date", day])
    assert first.exit_code == 0, first.output
    assert "1 rappel(s) mis en file d'envoi" in first.output
    second = runner.invoke(tracker_cli, ["remind", "--date", day])
    assert "0 habilitation(s) expirée(s), 0 rappel(s)" in second.output


def test_expiring_and_expired_habilitations_are_listed_for_dgfip_and_the_parties(
    client: FlaskClient, session: Session, cast: Cast, production: HabilitationRequest
) -> None:
    habilitation = _production_habilitation(production)
    cell = f"<td>{habilitation.number}</td>"  # not a bare « H12 », which a CSRF token may contain
    login(client, session, cast.instructeur)
    page = client.get("/echeances").get_data(as_text=True)
    assert cell in page.split('id="expire-bientot"')[1].split('id="expirees"')[0]
    login(client, session, cast.collectivite)
    dashboard = client.get("/").get_data(as_text=True)
    assert "Expire bientôt" in dashboard and f"{HOMOLOGATION_ENDS:%d/%m/%Y}" in dashboard

    expiry.run(session, HOMOLOGATION_ENDS + timedelta(days=1))
    session.commit()
    for user in (cast.instructeur, cast.collectivite, cast.hebergeur):
        login(client, session, user)
        page = client.get("/echeances").get_data(as_text=True)
        assert cell in page.split('id="expirees"')[1], user.email
    stranger_cast = make_cast(session)
    session.commit()
    login(client, session, stranger_cast.collectivite)
    assert cell not in client.get("/echeances").get_data(as_text=True)


def test_renewing_with_new_dates_brings_the_habilitation_back(
    session: Session, cast: Cast, production: HabilitationRequest
) -> None:
    expiry.run(session, HOMOLOGATION_ENDS + timedelta(days=1))
    expired = _production_habilitation(production)
    assert expired.state is HabilitationState.EXPIRED
    collectivite = cast.principal(Actor.COLLECTIVITE)

    services.apply_event(session, production, Event.REOPEN, principal=collectivite)
    assert (production.state, production.stage, production.is_reopening) == (State.DRAFT, Stage.PRODUCTION, True)
    services.save_section(
        session,
        production,
        "homologation",
        _homologation(TODAY + timedelta(days=3 * 365)),
        principal=collectivite,
        expected_version=None,
    )
    assert production.section(Stage.PRODUCTION, "homologation").status is SectionStatus.COMPLETE
    make_submittable(session, production, cast)
    services.apply_event(session, production, Event.SUBMIT, principal=collectivite)
    services.apply_event(session, production, Event.APPROVE, principal=cast.principal(Actor.INSTRUCTEUR))

    renewed = _production_habilitation(production)
    assert renewed.id != expired.id
    assert renewed.state is HabilitationState.ACTIVE
    assert (renewed.expires_on or TODAY) > TODAY + timedelta(days=90), "no longer expiring"
    assert expired.state is HabilitationState.EXPIRED, "the lapsed one stays in the history as it was"


def test_an_update_approved_with_the_same_date_does_not_send_the_reminder_again(
    session: Session, cast: Cast, production: HabilitationRequest
) -> None:
    day = HOMOLOGATION_ENDS - timedelta(days=30)
    assert expiry.run(session, day).reminders == 1
    collectivite = cast.principal(Actor.COLLECTIVITE)
    services.apply_event(session, production, Event.REOPEN, principal=collectivite)
    volumetrie = {"volumetrie_appels_par_minute": "200", "volumetrie_justification": "Rentrée scolaire."}
    services.save_section(session, production, "volumetrie", volumetrie, principal=collectivite, expected_version=None)
    make_submittable(session, production, cast)
    services.apply_event(session, production, Event.SUBMIT, principal=collectivite)
    services.apply_event(session, production, Event.APPROVE, principal=cast.principal(Actor.INSTRUCTEUR))
    assert _production_habilitation(production).expires_on == HOMOLOGATION_ENDS
    assert expiry.run(session, day).reminders == 0


def test_two_overlapping_runs_expire_once(session: Session, production: HabilitationRequest) -> None:
    day = HOMOLOGATION_ENDS + timedelta(days=1)
    first = expiry.run(session, day)
    second = expiry.run(session, day)
    assert (len(first.expired), len(second.expired)) == (1, 0)
    notices = session.scalar(
        select(func.count()).select_from(TimelineEntry).where(TimelineEntry.notice == expiry.EXPIRED_NOTICE)
    )
    assert notices == 1


def test_a_lapsed_certificate_is_renewed_by_the_hebergeur_in_a_production_update(session: Session, cast: Cast) -> None:
    production = _approved_production(session, cast, TODAY + timedelta(days=5 * 365))
    habilitation = _production_habilitation(production)
    hds = next(
        day for expiry_date, day in services.habilitation_dates(habilitation) if expiry_date.key == "certification_hds"
    )
    assert expiry.run(session, hds + timedelta(days=1)).expired == [habilitation.number]
    hebergement = IMPOT_PARTICULIER.section("hebergement")
    assert not services.section_is_editable(production, hebergement), "read-only in the production stage"

    services.apply_event(session, production, Event.REOPEN, principal=cast.principal(Actor.COLLECTIVITE))
    assert services.section_is_editable(production, hebergement), "open while the production is updated"
    hosting = dict(production.section(Stage.SANDBOX, "hebergement").data)  # type: ignore[union-attr]
    hosting["hds_date_expiration"] = (TODAY + timedelta(days=3 * 365)).isoformat()
    hebergeur = cast.principal(Actor.HEBERGEUR)
    services.save_section(session, production, "hebergement", hosting, principal=hebergeur, expected_version=None)
    assert services.can_sign(production, IMPOT_PARTICULIER.attestation("hebergement"), hebergeur)
    make_submittable(session, production, cast)
    services.apply_event(session, production, Event.SUBMIT, principal=cast.principal(Actor.COLLECTIVITE))
    services.apply_event(session, production, Event.APPROVE, principal=cast.principal(Actor.INSTRUCTEUR))
    renewed = _production_habilitation(production)
    assert renewed.state is HabilitationState.ACTIVE
    assert all(day > hds for _expiry, day in services.habilitation_dates(renewed))


def test_a_date_that_has_passed_since_the_section_was_saved_blocks_signing_and_submission(
    session: Session, cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = build(session, cast, Situation.PRODUCTION_DRAFT)
    services.save_section(
        session,
        request,
        "homologation",
        _homologation(TODAY + timedelta(days=10)),
        principal=cast.principal(Actor.COLLECTIVITE),
        expected_version=None,
    )
    later = utcnow() + timedelta(days=20)
    monkeypatch.setattr(services, "utcnow", lambda: later)  # time moves; the homologation has ended

    with pytest.raises(services.TransitionNotAllowed) as refused:
        make_submittable(session, request, cast)
    assert "L'homologation a pris fin" in " ".join(refused.value.problems)
    blockers = services.facts_for(request).submission_blockers
    assert any(b.startswith("La section « L'homologation de sécurité » n'est plus valide") for b in blockers)
