"""Configuration: production refuses to start with unsafe settings; Flask's risky defaults are replaced.

``load_config`` is called directly with a patched environment: building a second app would rebind the
``tracker.db.db`` global that the test app uses.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

import pytest
from flask import Flask

from tracker.config import (
    DEVELOPMENT_SECRET_KEY,
    PRODUCTION_ARGON2,
    UNSAFE_SECRET_KEYS,
    UnsafeConfigurationError,
    load_config,
)

STRONG_KEY = secrets.token_urlsafe(48)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variables a test sets count, whatever the shell running the suite exports."""
    for name in list(os.environ):
        if name.startswith("TRACKER_") and name != "TRACKER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("TRACKER_ENV", "production")
    return monkeypatch


# --- production refuses unsafe settings ---------------------------------------------------------------


def test_production_starts_with_a_strong_key(production: pytest.MonkeyPatch) -> None:
    production.setenv("TRACKER_SECRET_KEY", STRONG_KEY)
    config = load_config()
    assert config["ENV_NAME"] == "production"
    assert config["SECRET_KEY"] == STRONG_KEY
    assert config["DEBUG"] is False
    assert config["SESSION_COOKIE_SECURE"] is True
    assert config["ARGON2"] == PRODUCTION_ARGON2


def test_production_refuses_a_missing_secret_key(production: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnsafeConfigurationError, match="TRACKER_SECRET_KEY"):
        load_config()


@pytest.mark.parametrize("key", ["", "dev", "changeme", "change-me", "secret", DEVELOPMENT_SECRET_KEY])
def test_production_refuses_a_default_secret_key(production: pytest.MonkeyPatch, key: str) -> None:
    assert key in UNSAFE_SECRET_KEYS
    production.setenv("TRACKER_SECRET_KEY", key)
    with pytest.raises(UnsafeConfigurationError, match="TRACKER_SECRET_KEY"):
        load_config()


def test_production_refuses_a_short_secret_key(production: pytest.MonkeyPatch) -> None:
    production.setenv("TRACKER_SECRET_KEY", STRONG_KEY[:31])
    with pytest.raises(UnsafeConfigurationError, match="trop courte"):
        load_config()
    production.setenv("TRACKER_SECRET_KEY", STRONG_KEY[:32])
    assert load_config()["SECRET_KEY"] == STRONG_KEY[:32]


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "TRUE"])
def test_production_refuses_debug(production: pytest.MonkeyPatch, value: str) -> None:
    production.setenv("TRACKER_SECRET_KEY", STRONG_KEY)
    production.setenv("TRACKER_DEBUG", value)
    with pytest.raises(UnsafeConfigurationError, match="debug"):
        load_config()


def test_production_refuses_debug_given_as_an_override(production: pytest.MonkeyPatch) -> None:
    production.setenv("TRACKER_SECRET_KEY", STRONG_KEY)
    with pytest.raises(UnsafeConfigurationError, match="debug"):
        load_config({"DEBUG": True})


def test_production_refuses_an_insecure_cookie(production: pytest.MonkeyPatch) -> None:
    production.setenv("TRACKER_SECRET_KEY", STRONG_KEY)
    production.setenv("TRACKER_SESSION_COOKIE_SECURE", "0")
    with pytest.raises(UnsafeConfigurationError, match="Secure"):
        load_config()


def test_every_problem_is_named_at_once(production: pytest.MonkeyPatch) -> None:
    production.setenv("TRACKER_SECRET_KEY", "dev")
    production.setenv("TRACKER_DEBUG", "1")
    with pytest.raises(UnsafeConfigurationError) as refused:
        load_config()
    message = str(refused.value)
    assert message.startswith("Démarrage refusé en production")
    assert "TRACKER_SECRET_KEY" in message and "debug" in message


def test_the_refusal_never_echoes_the_secret(production: pytest.MonkeyPatch) -> None:
    short_but_secret = "s3cr3t-0f-31-characters-exactly"[:31]
    production.setenv("TRACKER_SECRET_KEY", short_but_secret)
    with pytest.raises(UnsafeConfigurationError) as refused:
        load_config()
    assert short_but_secret not in str(refused.value)


# --- development ----------------------------------------------------------------------------------------


def test_development_starts_without_any_variable() -> None:
    config = load_config()
    assert config["ENV_NAME"] == "development"
    assert config["SECRET_KEY"] == DEVELOPMENT_SECRET_KEY
    assert config["SESSION_COOKIE_SECURE"] is False  # plain http on a developer's machine
    assert config["DATABASE_URL"].startswith("sqlite:///")


def test_development_accepts_the_default_key_but_production_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SECRET_KEY", "dev")
    assert load_config()["SECRET_KEY"] == "dev"
    monkeypatch.setenv("TRACKER_ENV", "production")
    with pytest.raises(UnsafeConfigurationError):
        load_config()


# --- Flask's risky defaults replaced ----------------------------------------------------------------------


def test_upload_size_is_limited() -> None:
    config = load_config()
    assert config["MAX_CONTENT_LENGTH"] == 64 * 1024 * 1024


def test_upload_limit_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_MAX_UPLOAD_BYTES", "1048576")
    assert load_config()["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_session_lifetime_is_hours_not_flasks_31_days() -> None:
    config = load_config()
    assert config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)
    assert config["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=30)
    assert config["REMEMBER_COOKIE_DURATION"] == timedelta(0)


def test_session_timeouts_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SESSION_ABSOLUTE_HOURS", "8")
    monkeypatch.setenv("TRACKER_SESSION_IDLE_MINUTES", "15")
    config = load_config()
    assert config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)
    assert config["SESSION_IDLE_TIMEOUT"] == timedelta(minutes=15)


def test_cookie_flags() -> None:
    config = load_config()
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_running_app_uses_these_settings(app: Flask) -> None:
    """The test app went through ``load_config`` too (only its own overrides differ)."""
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024 * 1024
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["WTF_CSRF_TIME_LIMIT"] == 8 * 3600


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_BASE_URL", "https://habilitations.exemple.fr")
    assert load_config()["BASE_URL"] == "https://habilitations.exemple.fr"
    assert load_config({"BASE_URL": "http://tracker.test"})["BASE_URL"] == "http://tracker.test"


@pytest.mark.parametrize("value", ["prod", "Production", "PRODUCTION", "production ", "staging", ""])
def test_an_unknown_environment_name_is_refused_rather_than_run_as_development(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A typo must not start production with the development key and non-Secure cookies."""
    monkeypatch.setenv("TRACKER_ENV", value)
    monkeypatch.setenv("TRACKER_SECRET_KEY", STRONG_KEY)
    with pytest.raises(UnsafeConfigurationError, match="TRACKER_ENV"):
        load_config()
