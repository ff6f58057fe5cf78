"""Migrations are how the schema changes (ARCHITECTURE §11): `alembic upgrade head` on an empty database
gives exactly the models, there is a single head, and the way down and up again works.

Each check runs on a fresh empty database: a temporary SQLite file, and on PostgreSQL (when
TRACKER_TEST_DATABASE_URL points to one) a schema created for the test inside a transaction that is
rolled back at the end, so nothing is left behind even when the test fails.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable

from tracker.config import PROJECT_ROOT
from tracker.db import make_engine
from tracker.migrate import alembic_config
from tracker.models import Base

PG_SCHEMA = "mig_check"


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, Base.metadata)


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection=connection), revision)


@pytest.fixture
def sqlite_connection(tmp_path: Path) -> Iterator[Connection]:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


@pytest.fixture
def postgresql_connection(database_url: str, is_postgresql: bool) -> Iterator[Connection]:
    if not is_postgresql:
        pytest.skip("set TRACKER_TEST_DATABASE_URL to a PostgreSQL database to check its migrations")
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()  # PostgreSQL DDL is transactional: all of it rolls back
            try:
                connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
                connection.execute(text(f"SET LOCAL search_path TO {PG_SCHEMA}"))
                yield connection
            finally:
                transaction.rollback()
    finally:
        engine.dispose()


def test_there_is_a_single_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, heads


def test_every_revision_file_is_dated() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():
        name = Path(revision.path).name
        assert re.match(rf"^\d{{8}}_{revision.revision}_\w+\.py$", name), name


def test_upgrade_head_on_sqlite_gives_exactly_the_models(sqlite_connection: Connection) -> None:
    _upgrade(sqlite_connection)
    sqlite_connection.commit()

    assert _differences(sqlite_connection) == []
    assert _tables(sqlite_connection) == {*Base.metadata.tables, "alembic_version"}


def test_downgrade_to_base_then_upgrade_again_on_sqlite(sqlite_connection: Connection) -> None:
    _upgrade(sqlite_connection)
    sqlite_connection.commit()

    command.downgrade(alembic_config(connection=sqlite_connection), "base")
    sqlite_connection.commit()
    assert _tables(sqlite_connection) <= {"alembic_version"}

    _upgrade(sqlite_connection)
    sqlite_connection.commit()
    assert _differences(sqlite_connection) == []


@pytest.mark.postgresql_only
def test_upgrade_head_on_postgresql_gives_exactly_the_models(postgresql_connection: Connection) -> None:
    _upgrade(postgresql_connection)

    assert _differences(postgresql_connection) == []
    assert _tables(postgresql_connection) == {*Base.metadata.tables, "alembic_version"}

    command.downgrade(alembic_config(connection=postgresql_connection), "base")
    assert _tables(postgresql_connection) <= {"alembic_version"}
    _upgrade(postgresql_connection)
    assert _differences(postgresql_connection) == []


def test_the_alembic_command_line_upgrades_an_empty_database(tmp_path: Path) -> None:
    database = tmp_path / "cli.sqlite3"
    url = f"sqlite:///{database}"
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "TRACKER_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert _differences(connection) == []
            head = ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert connection.scalar(text("SELECT version_num FROM alembic_version")) == head
    finally:
        engine.dispose()


# --- names PostgreSQL insists on (SQLite accepts duplicates silently, so the checks above miss them) ---


def _constraint_names(ddl: str) -> list[str]:
    return re.findall(r"CONSTRAINT (\w+)", ddl)


def test_model_constraint_names_are_unique_within_each_table() -> None:
    dialect = postgresql.dialect()
    duplicates = {
        table.name: sorted(name for name, count in Counter(names).items() if count > 1)
        for table in Base.metadata.sorted_tables
        if (names := _constraint_names(str(CreateTable(table).compile(dialect=dialect))))
    }
    assert {table: names for table, names in duplicates.items() if names} == {}


def test_index_names_are_unique_in_the_schema() -> None:
    dialect = postgresql.dialect()
    names = [
        str(CreateIndex(index).compile(dialect=dialect)).split(" ON ")[0].split()[-1]
        for table in Base.metadata.sorted_tables
        for index in table.indexes
    ]
    assert [name for name, count in Counter(names).items() if count > 1] == []


def test_migration_sql_for_postgresql_has_unique_constraint_names() -> None:
    """The migrations rendered for PostgreSQL offline (no server needed): each CREATE TABLE is valid."""
    buffer = io.StringIO()
    config = alembic_config(database_url="postgresql+psycopg://offline@localhost/offline")
    config.output_buffer = buffer
    command.upgrade(config, "head", sql=True)

    statements = [s for s in buffer.getvalue().split(";") if "CREATE TABLE" in s]
    assert statements
    duplicates = {
        statement.split("CREATE TABLE", 1)[1].split("(", 1)[0].strip(): [
            name for name, count in Counter(_constraint_names(statement)).items() if count > 1
        ]
        for statement in statements
    }
    assert {table: names for table, names in duplicates.items() if names} == {}
