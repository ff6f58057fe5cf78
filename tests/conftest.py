"""Test fixtures: the schema is built from the migrations once per run; each test then works inside a
transaction on one connection (the app's sessions join it through savepoints) that is rolled back.

The suite runs on SQLite always; ``TRACKER_TEST_DATABASE_URL`` points it at PostgreSQL instead.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from tracker import create_app
from tracker.config import TEST_ARGON2
from tracker.db import db, make_engine
from tracker.migrate import alembic_config

TEST_PASSWORD = "Un mot de passe de test assez long"


def _database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    configured = os.environ.get("TRACKER_TEST_DATABASE_URL")
    if configured:
        return configured
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


def reset_postgresql_schema(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def is_postgresql(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    from alembic import command

    engine = make_engine(database_url)
    if engine.dialect.name == "postgresql":
        reset_postgresql_schema(engine)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection=connection), "head")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def documents_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("documents")


@pytest.fixture(scope="session")
def dossiers_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dossiers")


@pytest.fixture(scope="session")
def signing_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dossier signing key of the test run: created on first use, never in the checkout."""
    return tmp_path_factory.mktemp("signing")


@pytest.fixture(scope="session")
def app(
    database_url: str,
    migrated_engine: Engine,
    documents_directory: Path,
    dossiers_directory: Path,
    signing_directory: Path,
) -> Flask:
    application = create_app(
        {
            "TESTING": True,
            "DOCUMENTS_DIRECTORY": str(documents_directory),
            "DOSSIERS_DIRECTORY": str(dossiers_directory),
            "DOSSIER_SIGNING_KEY": str(signing_directory / "dossier-signing-key.pem"),
            "DOSSIER_SIGNING_CERT": str(signing_directory / "dossier-signing-cert.pem"),
            "DOSSIER_SIGNING_GENERATE_MISSING": True,
            # The vault's test key: fixed, so no key file is ever created in the checkout.
            "VAULT_KEYS": "test2026:h0ob2eNbRShbxs-MdH7Zn8QX80zNj73ik1L_cCZ_JeM",
            "VAULT_DEVELOPMENT_KEY_FILE": None,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key-not-for-production",
            "ARGON2": TEST_ARGON2,
            "WTF_CSRF_ENABLED": False,
            "SERVER_NAME": "tracker.test",
            "BASE_URL": "http://tracker.test",
            "RATELIMIT_ENABLED": True,
        }
    )
    return application


@pytest.fixture
def connection(app: Flask, migrated_engine: Engine) -> Iterator[Connection]:
    """One connection in an outer transaction; every session of the test joins it with a savepoint."""
    from tracker.extensions import limiter

    limiter.reset()
    connection = migrated_engine.connect()
    transaction = connection.begin()
    db.session.remove()
    db.session_factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield connection
    finally:
        db.session.remove()
        db.session_factory.configure(bind=db.engine, join_transaction_mode="conservative_savepoint")
        transaction.rollback()
        connection.close()


@pytest.fixture
def session(app: Flask, connection: Connection) -> Iterator[Session]:
    """The test's own session, in an application context held for the whole test."""
    with app.app_context():
        yield db.session


class IsolatedClient(FlaskClient):
    """Runs each request in a fresh context, as a real server would.

    Otherwise Flask reuses the application context the test holds, and ``g`` (with Flask-Login's
    cached user) would leak from one request to the next. Afterwards the test's own session is
    expired, so it reads what the request committed.
    """

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.expire_all()
        return response


@pytest.fixture
def client(app: Flask, connection: Connection) -> FlaskClient:
    app.test_client_class = IsolatedClient
    return app.test_client()
