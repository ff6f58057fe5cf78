"""A real SMTP server on loopback that keeps what it receives, for tests that send email.

Use the ``smtp_server`` fixture (from ``tests/notify/conftest.py``, or import it into another folder's
conftest with ``from smtp import smtp_server``), or ``with SmtpSink() as sink: …`` directly.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from email.message import EmailMessage
from types import TracebackType
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tracker.notify.worker import OutboxSettings

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else part.get_content()  # type: ignore[attr-defined]

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return "" if part is None else part.get_content()  # type: ignore[attr-defined]


def free_port() -> int:
    """A port nobody listens on right now (for the server, or for a "server is down" address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    """aiosmtpd handler + controller; ``refused`` recipients get a permanent 550."""

    def __init__(self) -> None:
        self.messages: list[ReceivedMail] = []
        self.refused: set[str] = set()
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.port = 0

    # aiosmtpd handler hooks (called on the server's event loop thread)
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refused:
            return "550 5.1.1 Destinataire inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        received = ReceivedMail(envelope.mail_from, tuple(envelope.rcpt_tos), parsed)  # type: ignore[arg-type]
        with self._lock:
            self.messages.append(received)
        return "250 Message accepted for delivery"

    def start(self) -> SmtpSink:
        self.port = free_port()
        self._controller = Controller(self, hostname=HOST, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return HOST

    def outbox_settings(self, config: Mapping[str, Any]) -> OutboxSettings:
        """The app's outbox settings, pointed at this server (the shared app config stays untouched)."""
        settings = OutboxSettings.from_config(config)
        smtp = replace(settings.smtp, host=HOST, port=self.port, username=None, password=None, starttls=False)
        return replace(settings, smtp=smtp)

    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self.messages)

    def to(self, address: str) -> list[ReceivedMail]:
        return [mail for mail in self.received() if address in mail.rcpt_tos]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink
