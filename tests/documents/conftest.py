"""Fixtures of the upload tests: a draft request whose collectivité is logged in, the document storage,
and a private temporary directory (the tests check no spooled file is left in it: another test run on
the same machine must not look like a leak)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from factories import login
from flask import Flask
from flask.testing import FlaskClient
from habilitations.builders import Cast, make_cast, new_request
from sqlalchemy.orm import Session

from tracker.documents.storage import LocalStorage
from tracker.habilitations.models import HabilitationRequest


@pytest.fixture(autouse=True)
def private_temporary_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "temporaire"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def cast(session: Session) -> Cast:
    return make_cast(session)


@pytest.fixture
def draft(client: FlaskClient, session: Session, cast: Cast) -> HabilitationRequest:
    request = new_request(session, cast)
    session.commit()
    login(client, session, cast.collectivite)
    return request


@pytest.fixture
def storage(app: Flask) -> LocalStorage:
    return app.extensions["tracker_storage"]
