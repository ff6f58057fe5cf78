"""SECURITY §F 28: once credentials are recorded (and revealed), neither a full dump of the database, nor
the logs (SQL statements and their parameters included), nor the credentials page holds the secret, in
any encoding someone might search for."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from factories import login
from flask.testing import FlaskClient
from habilitations.builders import Cast
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tracker.habilitations.models import Habilitation
from tracker.habilitations.workflow import Actor
from tracker.vault import services

from .conftest import CLIENT_ID, SECRET, RecordCredentials


def encodings(secret: str) -> dict[str, str]:
    raw = secret.encode("utf-8")
    return {
        "plain": secret,
        "base64": base64.b64encode(raw).decode(),
        "base64 without padding": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "URL-encoded": quote(secret, safe=""),
        "form-encoded": quote_plus(secret),
        "JSON-escaped": json.dumps(secret)[1:-1],
        "JSON-escaped ASCII": json.dumps(secret, ensure_ascii=True)[1:-1],
        "JSON-escaped UTF-8": json.dumps(secret, ensure_ascii=False)[1:-1],
    }


def leaks(text: str, secret: str = SECRET) -> list[str]:
    return [name for name, encoded in encodings(secret).items() if encoded in text]


def key_lines(pem: str) -> set[str]:
    """The base64 lines of a PEM private key (its armour lines are not secret)."""
    return {line for line in pem.splitlines() if line and not line.startswith("-----")}


def test_the_encodings_searched_for_are_all_different() -> None:
    """Otherwise a test below could pass while checking fewer encodings than it claims."""
    assert len({*encodings(SECRET).values()}) >= 9


def database_dump(connection: Connection) -> str:
    """Every row of every table, as the database itself exports it (in the test's own transaction)."""
    raw = connection.connection.driver_connection
    if connection.dialect.name == "sqlite":
        return "\n".join(raw.iterdump())  # type: ignore[union-attr]
    chunks: list[str] = []
    with raw.cursor() as cursor:  # type: ignore[union-attr]
        for table in inspect(connection).get_table_names():
            with cursor.copy(f'COPY "{table}" TO STDOUT') as copy:
                chunks.append(b"".join(bytes(block) for block in copy).decode("utf-8"))
    return "\n".join(chunks)


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record, SQL statements with their parameters included. Requested before ``session`` so
    that the test's connection is opened with SQL logging on (SQLAlchemy reads the level then)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    return caplog


def test_no_dump_and_no_log_holds_the_secret(
    captured_logs: pytest.LogCaptureFixture,
    session: Session,
    connection: Connection,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    certificate_pair: tuple[str, str],
) -> None:
    certificate, private_key = certificate_pair
    credential = record(habilitation, client_certificate_pem=certificate, private_key_pem=private_key)
    session.commit()
    revealed = services.reveal_secret(session, credential, principal=cast.principal(Actor.COLLECTIVITE))
    session.commit()
    assert revealed == SECRET

    dump = database_dump(connection)
    assert CLIENT_ID in dump, "the dump does not see the recorded row"
    assert leaks(dump) == []
    assert not any(line in dump for line in key_lines(private_key))
    assert certificate.splitlines()[1] in dump, "the dump does not see the PEM columns"

    logs = "\n".join(record.getMessage() for record in captured_logs.records)
    assert "api_credentials" in logs, "SQL statements were not captured"
    assert leaks(logs) == []
    assert not any(line in logs for line in key_lines(private_key))


def test_the_credentials_page_shows_a_placeholder_never_the_secret(
    client: FlaskClient,
    session: Session,
    cast: Cast,
    habilitation: Habilitation,
    record: RecordCredentials,
    certificate_pair: tuple[str, str],
) -> None:
    certificate, private_key = certificate_pair
    record(habilitation, client_certificate_pem=certificate, private_key_pem=private_key)
    session.commit()

    for actor in (Actor.COLLECTIVITE, Actor.EDITEUR, Actor.INSTRUCTEUR):
        login(client, session, cast.user(actor))
        response = client.get(f"/habilitations/{habilitation.id}/acces")

        assert response.status_code == 200, actor
        page = response.get_data(as_text=True)
        assert CLIENT_ID in page
        assert "TELESERVICE-42" in page
        assert "RessourceIR" in page
        assert "••••••••" in page
        assert leaks(page) == []
        assert not any(line in page for line in key_lines(private_key))
        assert "avec sa clé privée" in page
        assert response.headers["Cache-Control"] == "no-store"
