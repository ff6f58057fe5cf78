"""`alembic upgrade head` on an empty database yields exactly the models, from a single head."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from tracker.config import PROJECT_ROOT
from tracker.db import make_engine
from tracker.migrate import alembic_config
from tracker.models import Base


@pytest.fixture
def empty_database(database_url: str, tmp_path: Path) -> Iterator[Connection]:
    """A connection to a database holding nothing: a fresh SQLite file, or a scratch PostgreSQL schema."""
    if not database_url.startswith("postgresql"):
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        with engine.connect() as connection:
            yield connection
        engine.dispose()
        return
    schema = f"empty_{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url)
    with engine.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
        connection.execute(text(f"SET search_path TO {schema}"))
        connection.commit()
        try:
            yield connection
        finally:
            connection.rollback()
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            connection.commit()
    engine.dispose()


def _differences(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return compare_metadata(context, Base.metadata)


def test_migrations_have_a_single_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_upgrade_head_on_an_empty_database_gives_exactly_the_models(empty_database: Connection) -> None:
    command.upgrade(alembic_config(connection=empty_database), "head")
    assert _differences(empty_database) == []


def test_downgrade_to_base_then_upgrade_again(empty_database: Connection) -> None:
    config = alembic_config(connection=empty_database)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    remaining = set(Base.metadata.tables) & set(
        empty_database.dialect.get_table_names(empty_database)  # type: ignore[attr-defined]
    )
    assert remaining == set()
    command.upgrade(config, "head")
    assert _differences(empty_database) == []


def test_the_alembic_command_line_builds_the_same_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    environment = {**os.environ, "TRACKER_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=PROJECT_ROOT,
        env=environment,
        check=True,
        capture_output=True,
    )
    check = subprocess.run(
        [sys.executable, "-m", "alembic", "check"], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No new upgrade operations detected" in check.stdout + check.stderr
