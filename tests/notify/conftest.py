"""Outbox fixtures: a real SMTP server on loopback and outbox settings that point at it."""

from __future__ import annotations

import pytest
from flask import Flask
from smtp import SmtpSink, smtp_server  # noqa: F401 (re-exported as a fixture for this folder)

from tracker.notify.worker import OutboxSettings


@pytest.fixture
def outbox_settings(app: Flask, smtp_server: SmtpSink) -> OutboxSettings:  # noqa: F811
    return smtp_server.outbox_settings(app.config)
