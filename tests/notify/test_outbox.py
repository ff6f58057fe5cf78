"""The outbox worker against a real SMTP server on loopback; time moves through ``now``, never sleep."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import make_organization, make_user
from flask import Flask
from smtp import SmtpSink, free_port
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tracker.accounts.models import OrganizationKind
from tracker.db import make_engine, utcnow
from tracker.notify.cli import run_loop, stop_on_signals, worker
from tracker.notify.models import OutboxMessage, OutboxStatus
from tracker.notify.services import queue_email
from tracker.notify.worker import (
    MAX_BACKOFF,
    OUTBOX_ID_HEADER,
    DeliveryReport,
    OutboxSettings,
    _record_failure,
    claim_due,
    deliver_due,
)


def add_message(session: Session, recipient: str = "destinataire@exemple.fr", **values: Any) -> OutboxMessage:
    values.setdefault("next_attempt_at", utcnow())
    message = OutboxMessage(
        kind="email",
        template="test",
        recipient=recipient,
        subject=values.pop("subject", "Objet du message"),
        body_text=values.pop("body_text", "Corps du message."),
        body_html=values.pop("body_html", "<p>Corps du message.</p>"),
        status=OutboxStatus.PENDING,
        **values,
    )
    session.add(message)
    session.flush()
    return message


def reloaded(session: Session, message: OutboxMessage) -> OutboxMessage:
    session.refresh(message)
    return message


def test_queued_invitation_is_delivered_and_marked_sent(
    session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    organization = make_organization(session, OrganizationKind.EDITEUR, name="Logiciels <Ouest> & Cie")
    inviter = make_user(session, organization, full_name="Élise Dupré-O'Neil")
    expires_at = datetime(2026, 12, 8, 16, 30, tzinfo=UTC)
    message = queue_email(
        session,
        "invitation",
        "nouvelle.personne@exemple.fr",
        organization=organization,
        invited_by=inviter,
        token="jeton-de-test",
        expires_at=expires_at,
    )
    session.commit()
    now = utcnow()

    report = deliver_due(session, outbox_settings, worker_id="worker-1", now=now)

    assert report == DeliveryReport(sent=1)
    [mail] = smtp_server.received()
    assert mail.rcpt_tos == ("nouvelle.personne@exemple.fr",)
    assert mail.message["To"] == "nouvelle.personne@exemple.fr"
    assert mail.message["Subject"] == "Invitation à rejoindre Logiciels <Ouest> & Cie sur Habilitations DGFiP"
    assert mail.message[OUTBOX_ID_HEADER] == str(message.id)
    assert mail.message["Message-ID"].endswith("@habilitations.exemple.fr>")
    link = "http://tracker.test/invitation/jeton-de-test"
    assert "Élise Dupré-O'Neil vous invite à rejoindre l'organisation « Logiciels <Ouest> & Cie »" in mail.text
    assert "(Éditeur)" in mail.text
    assert link in mail.text
    assert "08/12/2026 à 17:30 (heure de Paris)" in mail.text  # 16:30 UTC is 17:30 in Paris in winter
    assert f'href="{link}"' in mail.html
    assert "Logiciels &lt;Ouest&gt; &amp; Cie" in mail.html  # autoescaped in HTML only
    assert "<Ouest>" not in mail.html
    sent = reloaded(session, message)
    assert (sent.status, sent.sent_at, sent.attempts) == (OutboxStatus.SENT, now, 1)
    assert sent.lease_owner is None and sent.lease_until is None


def test_invitation_without_inviter_reads_naturally(session: Session) -> None:
    organization = make_organization(session, OrganizationKind.COLLECTIVITE, name="Commune de Sète")
    message = queue_email(
        session,
        "invitation",
        "agent@exemple.fr",
        organization=organization,
        invited_by=None,
        token="abc",
        expires_at=datetime(2026, 7, 1, 8, 0, tzinfo=UTC),
    )
    assert message.subject == "Invitation à rejoindre Commune de Sète sur Habilitations DGFiP"
    assert message.body_text.startswith("Bonjour,\n\nVous êtes invité à rejoindre l'organisation")
    assert "01/07/2026 à 10:00" in message.body_text  # summer time
    assert "Vous êtes invité" in (message.body_html or "")


def test_message_of_a_rolled_back_transaction_is_never_sent(
    session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    kept = add_message(session, "garde@exemple.fr")
    session.commit()
    add_message(session, "annule@exemple.fr")
    session.rollback()

    report = deliver_due(session, outbox_settings, worker_id="worker-1")

    assert report == DeliveryReport(sent=1)
    assert [mail.rcpt_tos for mail in smtp_server.received()] == [("garde@exemple.fr",)]
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    assert reloaded(session, kept).status is OutboxStatus.SENT


def test_unreachable_server_is_retried_with_backoff_then_given_up(
    session: Session, outbox_settings: OutboxSettings
) -> None:
    closed_port = free_port()
    settings = replace(
        outbox_settings, smtp=replace(outbox_settings.smtp, port=closed_port), max_attempts=3, backoff_seconds=30
    )
    start = utcnow()
    message = add_message(session, next_attempt_at=start)
    session.commit()

    assert deliver_due(session, settings, worker_id="worker-1", now=start) == DeliveryReport(retried=1)
    first = reloaded(session, message)
    assert (first.status, first.attempts) == (OutboxStatus.PENDING, 1)
    assert first.next_attempt_at == start + timedelta(seconds=30)
    assert first.last_error is not None and first.last_error.startswith("ConnectionRefusedError")
    assert first.lease_owner is None and first.lease_until is None

    not_yet = start + timedelta(seconds=29)
    assert deliver_due(session, settings, worker_id="worker-1", now=not_yet) == DeliveryReport()

    second_try = start + timedelta(seconds=30)
    assert deliver_due(session, settings, worker_id="worker-1", now=second_try) == DeliveryReport(retried=1)
    assert reloaded(session, message).next_attempt_at == second_try + timedelta(seconds=60)

    third_try = second_try + timedelta(seconds=60)
    assert deliver_due(session, settings, worker_id="worker-1", now=third_try) == DeliveryReport(failed=1)
    given_up = reloaded(session, message)
    assert (given_up.status, given_up.attempts, given_up.sent_at) == (OutboxStatus.FAILED, 3, None)

    much_later = third_try + timedelta(days=1)
    assert deliver_due(session, settings, worker_id="worker-1", now=much_later) == DeliveryReport()


def test_message_is_delivered_once_the_server_is_back(
    session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    down = replace(outbox_settings, smtp=replace(outbox_settings.smtp, port=free_port()))
    start = utcnow()
    message = add_message(session, next_attempt_at=start)
    session.commit()

    deliver_due(session, down, worker_id="worker-1", now=start)
    later = start + timedelta(seconds=outbox_settings.backoff_seconds)
    report = deliver_due(session, outbox_settings, worker_id="worker-1", now=later)

    assert report == DeliveryReport(sent=1)
    assert len(smtp_server.received()) == 1
    delivered = reloaded(session, message)
    assert (delivered.status, delivered.attempts, delivered.last_error) == (OutboxStatus.SENT, 2, None)


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(1, timedelta(seconds=30)), (2, timedelta(seconds=60)), (4, timedelta(seconds=240)), (12, MAX_BACKOFF)],
)
def test_backoff_doubles_and_is_capped(outbox_settings: OutboxSettings, attempts: int, expected: timedelta) -> None:
    assert replace(outbox_settings, backoff_seconds=30).backoff(attempts) == expected


def test_refused_recipient_fails_at_once_without_blocking_the_batch(
    session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    smtp_server.refused.add("inconnu@exemple.fr")
    refused = add_message(session, "inconnu@exemple.fr")
    accepted = add_message(session, "connu@exemple.fr")
    session.commit()

    report = deliver_due(session, outbox_settings, worker_id="worker-1")

    assert report == DeliveryReport(sent=1, failed=1)
    assert [mail.rcpt_tos for mail in smtp_server.received()] == [("connu@exemple.fr",)]
    given_up = reloaded(session, refused)
    assert (given_up.status, given_up.attempts) == (OutboxStatus.FAILED, 1)
    assert given_up.last_error is not None and "550" in given_up.last_error
    assert reloaded(session, accepted).status is OutboxStatus.SENT


def test_expired_lease_lets_another_worker_take_over(
    session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    start = utcnow()
    message = add_message(session, next_attempt_at=start)
    session.commit()
    # A worker claims the message, then crashes before sending it.
    assert claim_due(session, outbox_settings, worker_id="crashed", batch_size=10, now=start) == [message.id]
    session.commit()

    assert claim_due(session, outbox_settings, worker_id="other", batch_size=10, now=start) == []
    during_lease = start + timedelta(seconds=outbox_settings.lease_seconds - 1)
    assert deliver_due(session, outbox_settings, worker_id="other", now=during_lease) == DeliveryReport()
    assert smtp_server.received() == []

    after_lease = start + timedelta(seconds=outbox_settings.lease_seconds + 1)
    assert deliver_due(session, outbox_settings, worker_id="other", now=after_lease) == DeliveryReport(sent=1)
    assert [mail.message[OUTBOX_ID_HEADER] for mail in smtp_server.received()] == [str(message.id)]

    # The crashed worker waking up cannot overwrite the outcome recorded by the one that took over.
    _record_failure(session, outbox_settings, message, TimeoutError("late"), worker_id="crashed", now=after_lease)
    delivered = reloaded(session, message)
    assert (delivered.status, delivered.last_error) == (OutboxStatus.SENT, None)


def test_each_message_is_sent_once_across_passes(
    session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    messages = [add_message(session, f"personne{number}@exemple.fr") for number in range(5)]
    session.commit()

    reports = [deliver_due(session, outbox_settings, worker_id="worker-1", batch_size=2) for _ in range(4)]

    assert [report.sent for report in reports] == [2, 2, 1, 0]
    received_ids = [mail.message[OUTBOX_ID_HEADER] for mail in smtp_server.received()]
    assert received_ids == [str(message.id) for message in messages]  # oldest first, each once


def test_worker_command_once_prints_a_summary(
    app: Flask, session: Session, smtp_server: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    add_message(session)
    session.commit()

    result = app.test_cli_runner().invoke(worker, ["--once"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Boîte d'envoi : 1 envoyé(s), 0 à réessayer, 0 en échec définitif. Dossiers PDF générés : 0."
    )
    assert len(smtp_server.received()) == 1


def test_stop_on_signals_turns_sigterm_into_a_stop_request() -> None:
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM)
    with stop_on_signals(stop):
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set()
    assert signal.getsignal(signal.SIGTERM) is previous


def test_worker_loop_delivers_until_stopped(
    session: Session, smtp_server: SmtpSink, outbox_settings: OutboxSettings
) -> None:
    add_message(session)
    session.commit()
    stop = threading.Event()
    stopper = threading.Thread(target=_stop_after_delivery, args=(smtp_server, stop))
    stopper.start()

    total = run_loop(outbox_settings, worker_id="loop", batch_size=5, interval=0.05, stop=stop)

    stopper.join()
    assert total == DeliveryReport(sent=1)


def _stop_after_delivery(smtp_server: SmtpSink, stop: threading.Event) -> None:
    deadline = time.monotonic() + 10
    while not smtp_server.received() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()


def test_worker_command_loop_stops_cleanly_on_sigterm(
    app: Flask, session: Session, smtp_server: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "SMTP_HOST", smtp_server.host)
    monkeypatch.setitem(app.config, "SMTP_PORT", smtp_server.port)
    add_message(session)
    session.commit()
    done = threading.Event()
    sender = threading.Thread(
        target=_sigterm_once_delivered, args=(signal.getsignal(signal.SIGTERM), smtp_server, done)
    )
    sender.start()
    try:
        result = app.test_cli_runner().invoke(worker, ["--interval", "0.1"])
    finally:
        done.set()
        sender.join()

    assert result.exit_code == 0, result.output
    assert "Worker arrêté. Boîte d'envoi : 1 envoyé(s)" in result.output
    assert len(smtp_server.received()) == 1


def _sigterm_once_delivered(default_handler: Any, smtp_server: SmtpSink, done: threading.Event) -> None:
    """SIGTERM once the worker has sent the mail, and only if its handler is armed (else pytest dies)."""
    deadline = time.monotonic() + 10
    while not done.is_set() and time.monotonic() < deadline:
        if smtp_server.received() and signal.getsignal(signal.SIGTERM) is not default_handler:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        time.sleep(0.01)
    if not done.is_set():
        os.kill(os.getpid(), signal.SIGINT)  # the loop never armed its handler: interrupt, do not hang


@pytest.mark.postgresql_only
def test_concurrent_workers_deliver_each_message_exactly_once(
    app: Flask, database_url: str, is_postgresql: bool, smtp_server: SmtpSink
) -> None:
    if not is_postgresql:
        pytest.skip("row locks (FOR UPDATE SKIP LOCKED) need PostgreSQL")
    settings = smtp_server.outbox_settings(app.config)
    engine = make_engine(database_url)
    subject = f"concurrence {uuid.uuid4().hex}"
    with Session(engine) as setup:
        rows = [add_message(setup, f"personne{number}@exemple.fr", subject=subject) for number in range(60)]
        setup.commit()
        ids = [row.id for row in rows]
    errors: list[BaseException] = []
    claims: list[int] = []
    barrier = threading.Barrier(3)

    def work(name: str) -> None:
        try:
            with Session(engine, expire_on_commit=False) as own_session:
                barrier.wait()
                while claimed := deliver_due(own_session, settings, worker_id=name, batch_size=4).claimed:
                    claims.append(claimed)
        except BaseException as error:  # reported below: an exception in a thread would vanish
            errors.append(error)

    try:
        workers = [threading.Thread(target=work, args=(f"worker-{number}",)) for number in range(3)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()

        assert errors == []
        assert max(claims) <= 4
        counts = Counter(mail.message[OUTBOX_ID_HEADER] for mail in smtp_server.received())
        assert counts == Counter({str(message_id): 1 for message_id in ids})
        with Session(engine) as check:
            statuses = check.scalars(select(OutboxMessage.status).where(OutboxMessage.id.in_(ids))).all()
        assert statuses == [OutboxStatus.SENT] * 60
    finally:
        with engine.begin() as cleanup:
            cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
        engine.dispose()


@pytest.mark.postgresql_only
def test_concurrent_claims_skip_locked_rows_and_respect_the_batch_size(
    app: Flask, database_url: str, is_postgresql: bool
) -> None:
    if not is_postgresql:
        pytest.skip("row locks (FOR UPDATE SKIP LOCKED) need PostgreSQL")
    settings = OutboxSettings.from_config(app.config)
    engine = make_engine(database_url)
    now = utcnow()
    with Session(engine) as setup:
        rows = [add_message(setup, f"personne{number}@exemple.fr", next_attempt_at=now) for number in range(6)]
        setup.commit()
        ids = [row.id for row in rows]
    first, second = Session(engine), Session(engine)
    try:
        # The first claim is not committed yet: its rows are locked, the second worker skips them.
        claimed_first = claim_due(first, settings, worker_id="first", batch_size=4, now=now)
        claimed_second = claim_due(second, settings, worker_id="second", batch_size=4, now=now)
        first.commit()
        second.commit()

        assert claimed_first == ids[:4]
        assert claimed_second == ids[4:]
    finally:
        first.close()
        second.close()
        with engine.begin() as cleanup:
            cleanup.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))
        engine.dispose()
