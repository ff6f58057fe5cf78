"""``tracker worker``: delivers the outbox, once or in a loop until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from tracker.db import db
from tracker.documents.storage import Storage
from tracker.dossiers.render import start_engine
from tracker.dossiers.snapshots import generate_pending
from tracker.notify.worker import DeliveryReport, OutboxSettings, deliver_due

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def documents_storage() -> Storage:
    """Where the annexes of the dossiers to render are read from."""
    return current_app.extensions["tracker_storage"]


def new_worker_id() -> str:
    """Unique per process run, readable in the lease column when diagnosing a stuck message."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn SIGTERM/SIGINT into ``stop.set()`` so the current message is finished, not cut off."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install handlers; callers elsewhere set ``stop`` themselves
        return

    def _request_stop(_signum: int, _frame: Any) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, _request_stop) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_loop(
    settings: OutboxSettings, *, worker_id: str, batch_size: int, interval: float, stop: threading.Event
) -> DeliveryReport:
    """Deliver until ``stop`` is set; a full batch is followed at once by the next one."""
    total = DeliveryReport()
    while not stop.is_set():
        try:
            report = deliver_due(db.session, settings, worker_id=worker_id, batch_size=batch_size)
            rendered = generate_pending(db.session, documents_storage())
        except SQLAlchemyError:
            # The database may be restarting: keep the worker alive and try again after the interval.
            logger.exception("outbox worker %s: database error", worker_id)
            db.session.rollback()
            stop.wait(interval)
            continue
        total.sent += report.sent
        total.retried += report.retried
        total.failed += report.failed
        total.dossiers += rendered
        if report.claimed < batch_size and not rendered:
            stop.wait(interval)
    return total


@click.command(
    "worker",
    help="Envoie les courriels de la boîte d'envoi et génère les dossiers PDF (en boucle, ou une fois avec --once).",
)
@click.option("--once", is_flag=True, help="Un seul passage, puis arrêt.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Secondes d'attente entre deux passages.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=500),
    default=20,
    show_default=True,
    help="Nombre maximal de messages par passage.",
)
@with_appcontext
def worker(once: bool, interval: float, batch_size: int) -> None:
    settings = OutboxSettings.from_config(current_app.config)
    worker_id = new_worker_id()
    if once:
        report = deliver_due(db.session, settings, worker_id=worker_id, batch_size=batch_size)
        report.dossiers = generate_pending(db.session, documents_storage())
        click.echo(report.summary())
        return
    start_engine()  # the PDF renderer's cold start is paid now, not by the first dossier
    click.echo(f"Worker démarré ({worker_id}) : courriels et dossiers PDF (Ctrl+C ou SIGTERM pour l'arrêter).")
    stop = threading.Event()
    with stop_on_signals(stop):
        total = run_loop(settings, worker_id=worker_id, batch_size=batch_size, interval=interval, stop=stop)
    click.echo(f"Worker arrêté. {total.summary()}")
