"""Engine, per-request session, declarative base and shared column types.

Plain SQLAlchemy rather than Flask-SQLAlchemy: the test suite binds ``db.session_factory`` to one
connection inside a transaction (savepoint-joined), which a session-level bind makes simple.
"""

from __future__ import annotations

import enum
import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

from flask import Flask
from sqlalchemy import DateTime, Enum, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(enum_class: type[enum.Enum], name: str) -> Enum:
    """A portable enum stored as its values (VARCHAR + CHECK), never as a native PostgreSQL type."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, and SQLAlchemy's recipe for real transactions (and SAVEPOINTs) on pysqlite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # pysqlite's own implicit BEGIN gets in the way
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
        # SQLite's own lower() folds ASCII only: « École » would not match « école » in searches.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE: a transaction takes the write lock when it starts, so two processes or threads that
        # both read then write wait for each other (busy_timeout) instead of failing with « database is
        # locked » when the other commits between their read and their write (WAL snapshot conflict).
        # SQLite is the embedded default; PostgreSQL is the one for concurrent load.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# JSON columns keep accented letters as they are (not « \u00e9 »), so that text searches match them.
_json_serializer = partial(json.dumps, ensure_ascii=False)


def make_engine(url: str, *, echo: bool = False, **options: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, json_serializer=_json_serializer, **options)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, json_serializer=_json_serializer, **options)


def _application_context_scope() -> int:
    """One session per application context (each request, CLI command or worker thread has its own)."""
    from flask.globals import _cv_app

    return id(_cv_app.get(None))


class Database:
    """Holds the engine and a session scoped to the Flask application context."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory = sessionmaker(expire_on_commit=False)
        self.session: scoped_session[Session] = scoped_session(
            self.session_factory, scopefunc=_application_context_scope
        )

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(url, echo=app.config["DATABASE_ECHO"])
        if not app.config.get("TESTING_KEEP_SESSION_BIND"):
            self.session_factory.configure(bind=self.engine)
        app.extensions["tracker_db"] = self

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.session.remove()


db = Database()
